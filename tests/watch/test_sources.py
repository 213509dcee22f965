"""Listing sources: folders and S3 prefixes with patterns, URL lists, indexes, sample names."""
from __future__ import annotations

import os
from pathlib import Path

from bams3.watch.settings import Source, UrlEntry
from bams3.watch.sources import list_source, sample_name
from tests.helpers.httpserver import SignedFileServer
from tests.helpers.s3server import S3Server


def _found(listing) -> dict[str, str | None]:
    assert listing.error is None, listing.error
    return {c.sample: c.index_url for c in listing.candidates}


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x" * len(name))


def test_a_local_folder_with_every_index_form_and_patterns(tmp_path: Path) -> None:
    _touch(tmp_path, "a.bam", "a.bam.bai", "b.bam", "b.bai", "c.bam", "c.bam.csi", "d.bam", "d.csi", "e.bam",
           ".hidden.bam", "notes.txt", "sub/f.bam", "sub/f.bam.bai", "sub/deeper/g.bam", ".tmp/h.bam")
    _touch(tmp_path, "take#2.bam")  # '#' would start a comment in the samples sheet: skipped
    flat = list_source(Source(name="x", folder=str(tmp_path)))
    root = str(tmp_path)
    assert _found(flat) == {"a": f"{root}/a.bam.bai", "b": f"{root}/b.bai", "c": f"{root}/c.bam.csi",
                            "d": f"{root}/d.csi", "e": None}
    a = next(c for c in flat.candidates if c.sample == "a")
    assert a.url == a.key == f"{root}/a.bam"
    assert a.seen.bam.size == len("a.bam") and a.seen.index is not None and a.seen.index.size == len("a.bam.bai")
    deep = list_source(Source(name="x", folder=f"file://{root}", pattern="**/*.bam"))
    # no hidden file or folder; in a file:// URL the '#' is percent-encoded, so that one can go
    assert set(_found(deep)) == {"a", "b", "c", "d", "e", "f", "g", "take_2"}
    assert _found(deep)["f"] == f"file://{root}/sub/f.bam.bai"
    assert set(_found(list_source(Source(name="x", folder=root, pattern="sub/*.bam")))) == {"f"}
    assert set(_found(list_source(Source(name="x", folder=root, pattern="[a-c].bam")))) == {"a", "b", "c"}


def test_an_s3_prefix(s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket()
    client = s3_server.client()
    for key in ("drop/S1.bam", "drop/S1.bam.bai", "drop/S2.bam", "drop/old/S3.bam", "other/S4.bam"):
        client.put_object(Bucket=bucket, Key=key, Body=b"data")
    for folder in (f"s3://{bucket}/drop/", f"s3://{bucket}/drop"):
        listing = list_source(Source(name="drop", folder=folder))
        assert _found(listing) == {"S1": f"s3://{bucket}/drop/S1.bam.bai", "S2": None}
        s1 = next(c for c in listing.candidates if c.sample == "S1")
        assert s1.key == f"s3://{bucket}/drop/S1.bam" and s1.seen.bam.etag and s1.seen.bam.size == 4
    assert set(_found(list_source(Source(name="drop", folder=f"s3://{bucket}/drop/", pattern="**/*.bam")))) == {
        "S1", "S2", "S3"}


def test_url_lists_inline_and_in_a_file(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.make_bucket()
    client = s3_server.client()
    for key in ("a/S1.bam", "a/S1.bai", "a/S2.bam", "a/S2-index.csi"):
        client.put_object(Bucket=bucket, Key=key, Body=b"data")
    _touch(tmp_path, "local/L1.bam", "local/L1.bam.bai")
    url_list = tmp_path / "list.txt"
    url_list.write_text(f"# BAMs to process\n\ns3://{bucket}/a/S1.bam\n"
                        f"s3://{bucket}/a/S2.bam   s3://{bucket}/a/S2-index.csi  # with its index\n"
                        f"s3://{bucket}/a/not-there-yet.bam\n")
    source = Source(name="l", url_list=str(url_list),
                    urls=(UrlEntry(os.path.relpath(tmp_path / "local/L1.bam"), sample="patient-1"),))
    assert _found(list_source(source)) == {
        "patient-1": str(tmp_path / "local/L1.bam.bai"),
        "S1": f"s3://{bucket}/a/S1.bai",
        "S2": f"s3://{bucket}/a/S2-index.csi",
    }
    skipped = list_source(source, skip={f"s3://{bucket}/a/S1.bam"})  # already processed: not asked about
    assert set(_found(skipped)) == {"patient-1", "S2"}
    url_list.write_text("s3://b/x.bam s3://b/x.bai extra\n")
    assert "line 1" in (list_source(source).error or "")


def test_signed_urls_are_kept_for_the_run_and_redacted_for_the_cursor(http_server: SignedFileServer) -> None:
    http_server.write("S1.bam", b"bam bytes")
    http_server.write("S1.bam.bai", b"index")
    signed = http_server.signed_url("S1.bam")
    guessed = list_source(Source(name="h", urls=(UrlEntry(signed),))).candidates
    assert len(guessed) == 1 and guessed[0].url == signed and guessed[0].index_url is None  # cannot be guessed
    assert "?" in guessed[0].key and "<redacted>" in guessed[0].key and signed.split("?")[1] not in guessed[0].key
    index = http_server.signed_url("S1.bam.bai")
    given = list_source(Source(name="h", urls=(UrlEntry(signed, index=index),))).candidates
    assert given[0].index_url == index and given[0].index_key.endswith("S1.bam.bai?<redacted>")


def test_sources_that_cannot_be_listed_say_why(s3_server: S3Server, tmp_path: Path) -> None:
    missing = list_source(Source(name="x", folder=str(tmp_path / "nope")))
    assert missing.candidates == () and "no such folder" in (missing.error or "")
    no_bucket = list_source(Source(name="x", folder="s3://no-such-bucket-here/drop/"))
    assert no_bucket.candidates == () and "no-such-bucket-here" in (no_bucket.error or "")
    no_list = list_source(Source(name="x", url_list=str(tmp_path / "missing.txt")))
    assert "no such URL list" in (no_list.error or "")


def test_sample_names() -> None:
    assert sample_name("s3://b/x/NA12878.bam") == "NA12878"
    assert sample_name("https://h/p/S1.bam?X-Amz-Signature=abc") == "S1"
    assert sample_name("/d/.x.bam") == "_x"
    assert sample_name("/d/run 7/a+b.final.bam") == "a_b.final"
