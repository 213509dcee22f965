"""Key validation, URL dispatch, and the promise that `import bams3.io` stays cheap."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bams3.errors import UsageError
from bams3.io import open_store, open_url, url_scheme
from bams3.io.keys import check_key, check_prefix, join_key


@pytest.mark.parametrize("key", ["a", "a/b.c", "sample.bams3/chunks/chr1/0.zst", "with space", "ünï"])
def test_good_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "/a", "a/../b", "..", "a/.", "a//b", "a\\..\\b", "a\x00", "a/"])
def test_bad_keys(key: str) -> None:
    with pytest.raises(UsageError):
        check_key(key)


def test_prefixes_and_joins() -> None:
    assert check_prefix("") == ""
    assert check_prefix("a/") == "a/"
    with pytest.raises(UsageError):
        check_prefix("../")
    assert join_key("a/", "/b/", "c") == "a/b/c"
    with pytest.raises(UsageError):
        join_key("a", "..", "b")


def test_dispatch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert type(open_store(str(tmp_path))).__name__ == "LocalStore"
    assert type(open_store(tmp_path.as_uri())).__name__ == "LocalStore"
    assert type(open_store("s3://bucket/prefix")).__name__ == "S3Store"
    assert type(open_store("https://example.org/data/")).__name__ == "HttpStore"
    assert type(open_store("memory://x/y")).__name__ == "MemoryStore"
    assert [url_scheme(u) for u in ("/p", "file:///p", "S3://b", "https://h")] == ["file", "file", "s3", "https"]
    for bad in ("ftp://host/x", "s3:///nobucket", "s3://b/k?versionId=1", "file://otherhost/x"):
        with pytest.raises(UsageError):
            open_store(bad)
    with pytest.raises(UsageError, match="no options"):
        open_store(str(tmp_path), endpoint_url="http://x")
    with pytest.raises(UsageError):
        open_store("s3://bucket", no_such_option=1)


def test_open_url_of_a_directory_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for url in (str(tmp_path) + "/", "s3://bucket/dir/", "https://host/dir/"):
        with pytest.raises(UsageError, match="directory"):
            open_url(url)


def test_store_identity_and_str() -> None:
    assert open_store("s3://b/p") == open_store("s3://b/p/")
    assert open_store("s3://b/p") != open_store("s3://b/q")
    signed = open_store("https://u:pw@host/dir/?Signature=secret")
    assert str(signed) == "https://host/dir/" and "secret" not in repr(signed)


def test_importing_bams3_io_is_cheap() -> None:
    code = (
        "import sys, bams3.io, bams3.io.redact, bams3.io.metrics\n"
        "heavy = [m for m in ('boto3', 'botocore', 'urllib3', 'numpy', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
