"""The CLI's logging set-up: library noise only at DEBUG, and no secret on stderr even then."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.config
import pytest

from bams3.cli._common import NOISY_LOGGERS, configure_logging
from tests.helpers.httpserver import SignedFileServer
from tests.helpers.s3server import TEST_CREDENTIALS, S3Server

#: distinctive credentials for the child process, so that finding them on stderr means a leak
SECRET_KEY = "bams3SecretKey/MustNotBeLogged+42"
SESSION_TOKEN = "bams3SessionTokenMustNotBeLogged0123456789"

#: what the child runs: the CLI's logging set-up, then reads through every kind of URL
CHILD = textwrap.dedent(
    """
    import sys
    from bams3.cli._common import configure_logging
    from bams3.io import open_store, open_url

    configure_logging("DEBUG")
    bucket, presigned, signed = sys.argv[1:4]
    assert open_store(f"s3://{bucket}").get("obj.bin") == b"0123456789"
    for url in (presigned, signed):
        store, key = open_url(url)
        assert store.get(key, (2, 5)) == b"234", url
    """
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {name: logging.getLogger(name).level for name in NOISY_LOGGERS})
    try:
        yield
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize(
    ("level", "library_level"),
    [("DEBUG", logging.DEBUG), ("INFO", logging.WARNING), ("WARNING", logging.WARNING), ("ERROR", logging.ERROR)],
)
def test_library_loggers_are_quiet_unless_debugging(restore_logging: None, level: str, library_level: int) -> None:
    configure_logging(level)
    for name in NOISY_LOGGERS:
        assert logging.getLogger(name).level == library_level, name


def test_debug_log_holds_no_secret(s3_server: S3Server, s3_bucket: str, http_server: SignedFileServer) -> None:
    """At DEBUG botocore prints headers and urllib3 request lines; the secrets in them are masked."""
    signer = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=SESSION_TOKEN,
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    signer.put_object(Bucket=s3_bucket, Key="obj.bin", Body=b"0123456789")
    presigned = signer.generate_presigned_url("get_object", Params={"Bucket": s3_bucket, "Key": "obj.bin"})
    http_server.write("page.bin", b"0123456789")
    signed = http_server.signed_url("page.bin")
    secrets = {
        "secret key": SECRET_KEY,
        "session token": SESSION_TOKEN,
        "presigned signature": parse_qs(urlsplit(presigned).query)["X-Amz-Signature"][0],
        "signed URL signature": parse_qs(urlsplit(signed).query)["Signature"][0],
    }
    env = {**os.environ, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_SESSION_TOKEN": SESSION_TOKEN}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, s3_bucket, presigned, signed],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    log = child.stderr
    # the libraries' DEBUG output did reach the log (else this test would prove nothing)...
    assert "DEBUG botocore.auth" in log and "DEBUG botocore.endpoint" in log
    assert "DEBUG urllib3.connectionpool" in log and "page.bin?" in log
    assert "<redacted>" in log
    # ...without any secret in it
    for what, secret in secrets.items():
        assert secret not in log, f"the {what} reached the log"
