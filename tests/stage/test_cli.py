"""``bams3 stage`` as users run it (a real process), and the redaction of every output."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bams3.stage import DataStagingManager, StageRequest
from tests.helpers.httpserver import SignedFileServer
from tests.helpers.s3server import S3Server


def bams3(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bams3", *args], input=stdin, capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)


def test_stdin_to_stdout_with_keep(tmp_path: Path, cache_dir: Path) -> None:
    source = tmp_path / "ref.fa"
    source.write_text(">chr1\nACGT\n")
    request = {"params": {"reference_file": "hg38.fasta", "threads": 4},
               "data_manifest": {"hg38.fasta": source.as_uri()}}
    done = bams3("stage", "--workdir", str(tmp_path / "w"), "--cache-dir", str(cache_dir), "--keep",
                 stdin=json.dumps(request))
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["success"] is True
    assert response["result"]["staged_files"] == ["hg38.fasta"]
    staged = Path(response["result"]["plugin_params"]["reference_file"])
    assert staged.read_text() == ">chr1\nACGT\n" and response["result"]["plugin_params"]["threads"] == 4
    assert staged.parent == Path(response["result"]["run_dir"])
    assert "kept" in done.stderr


def test_file_to_file_cleans_up_without_keep(tmp_path: Path, cache_dir: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("a")
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps({"data_manifest": {"a.txt": str(source)}}))
    out = tmp_path / "out" / "response.json"
    done = bams3("stage", str(request_file), "-o", str(out), "--workdir", str(tmp_path / "w"),
                 "--cache-dir", str(cache_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert json.loads(out.read_text())["result"]["staged_files"] == ["a.txt"]
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(("stdin", "status", "message"), [
    ("{not json", 2, "stdin: not valid JSON"),
    ('{"data_manifest": {"../x": "s3://b/k"}}', 2, "must stay inside the run directory"),
    ('{"data_manifest": {"x": "gs://b/k"}}', 2, "gs:// URLs are not supported"),
])
def test_bad_requests_are_one_line(stdin: str, status: int, message: str) -> None:
    done = bams3("stage", stdin=stdin)
    assert done.returncode == status
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_missing_object_fails_with_one_line(s3_server: S3Server, s3_bucket: str, tmp_path: Path,
                                            cache_dir: Path) -> None:
    request = json.dumps({"data_manifest": {"gone.bam": f"s3://{s3_bucket}/gone.bam"}})
    done = bams3("stage", "--workdir", str(tmp_path / "w"), "--cache-dir", str(cache_dir), stdin=request)
    assert done.returncode == 1
    assert done.stderr.startswith("bams3 stage: error: ") and done.stderr.count("\n") == 1
    assert f"s3://{s3_bucket}/gone.bam" in done.stderr and "Traceback" not in done.stderr
    response = json.loads(done.stdout)  # a machine caller still gets a response
    assert response["success"] is False and "gone.bam" in response["error"]
    assert not (tmp_path / "w").exists()


def _signatures(*urls: str) -> list[str]:
    found = []
    for url in urls:
        for name, values in parse_qs(urlsplit(url).query).items():
            if "signature" in name.lower() or "credential" in name.lower():
                found.extend(values)
    assert found
    return found


def test_no_signature_in_any_output(s3_server: S3Server, s3_bucket: str, http_server: SignedFileServer,
                                    tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    http_server.write("ok.bam", b"ok")
    s3_server.client().put_object(Bucket=s3_bucket, Key="p.bam", Body=b"presigned")
    urls = {
        "ok.bam": http_server.signed_url("ok.bam"),
        "expired.bam": http_server.signed_url("ok.bam", expires_in=-5),
        "forged.bam": http_server.signed_url("ok.bam").replace("Signature=", "Signature=ff"),
        "missing.bam": http_server.signed_url("missing.bam"),
        "presigned.bam": s3_server.client(signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": s3_bucket, "Key": "p.bam"}, ExpiresIn=300),
        "presigned-missing.bam": s3_server.client(signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": s3_bucket, "Key": "nope.bam"}, ExpiresIn=300),
    }
    secrets = _signatures(*urls.values())
    request = json.dumps({"params": {"bams": list(urls)}, "data_manifest": urls})
    out = tmp_path / "response.json"
    texts = []
    for policy in ("continue", "fail"):
        done = bams3("--log-level", "DEBUG", "stage", "--on-error", policy, "--jobs", "3", "-o", str(out),
                     "--workdir", str(tmp_path / "w"), "--cache-dir", str(cache_dir), "--io-stats", stdin=request)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        texts += [done.stdout, done.stderr, out.read_text()]
        assert "DEBUG" in done.stderr
    continued = json.loads(texts[2])["result"]
    assert sorted(continued["staged_files"]) == ["ok.bam", "presigned.bam"]
    assert {f["name"]: f["kind"] for f in continued["failed_files"]} == {
        "expired.bam": "ExpiredUrlError", "forged.bam": "AccessDeniedError",
        "missing.bam": "ObjectNotFoundError", "presigned-missing.bam": "ObjectNotFoundError"}
    # the library, logging at DEBUG into pytest's capture, and its exceptions
    caplog.set_level(logging.DEBUG, logger="bams3")
    with DataStagingManager(workdir=tmp_path / "lib", cache_dir=cache_dir, on_error="continue") as stager:
        response = stager.stage(StageRequest.from_dict(json.loads(request)))
        texts += [json.dumps(response.to_dict()), repr(response), repr(StageRequest.from_dict(json.loads(request)))]
    texts.append(caplog.text)
    assert "cannot stage" in caplog.text
    for text in texts:
        for secret in secrets:
            assert secret not in text
