"""No secret in any output: every verb at ``--log-level DEBUG`` with signed URLs and credentials.

The processes get distinctive fake credentials (a secret key and a session token nobody
would print by accident) and signed URLs (the loopback signing server's, and presigned S3
URLs). At DEBUG, botocore logs request headers (``Authorization: ... Signature=``,
``X-Amz-Security-Token``) and urllib3 logs request lines with their query strings: all of
it must come out redacted. The test then reads everything the runs left behind: stdout,
stderr, every file under the test's directory (outputs, reports, receipts, responses,
caches, Snakemake's logs) and every object the runs wrote to S3, and fails on any signature
of a signed URL, any SigV4 signature the proxy saw on the wire, the secret key or the token.

It also checks that the secrets were really in play (the proxy saw the token on the wire,
DEBUG output was produced), so the test cannot pass by not exercising them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers.faultproxy import FaultProxy
from tests.helpers.httpserver import SignedFileServer
from tests.helpers.s3server import S3Server

from ._cli import cli_env
from .conftest import Inputs

SECRET_KEY = "bams3SecretKey/DoNotLeak+wJalrXUtnFEMI/K7MDENG/bPxRfiCY"
SESSION_TOKEN = "bams3SessionToken//DoNotLeak//IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIABAMS3LEAKTEST01", "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "AWS_SESSION_TOKEN": SESSION_TOKEN}
_SIGV4 = re.compile(r"Signature=([0-9a-f]{64})")


def url_signatures(*urls: str) -> set[str]:
    """The secret query values of signed URLs (signatures, credentials, tokens)."""
    found = set()
    for url in urls:
        for name, values in parse_qs(urlsplit(url).query).items():
            if any(word in name.lower() for word in ("signature", "credential", "token")):
                found.update(v for v in values if len(v) >= 8)
    assert found, urls
    return found


def wire_signatures(proxy: FaultProxy) -> set[str]:
    """SigV4 signatures of the requests the proxy passed (each one is a secret for its request)."""
    return {m for r in proxy.records for m in _SIGV4.findall(r.headers.get("Authorization", ""))}


def everything_written(root: Path, s3: S3Server, bucket: str) -> dict[str, str]:
    """``{where: text}`` of every file under ``root`` and every object in ``bucket``."""
    texts = {str(p): p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()}
    client = s3.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            texts[f"s3://{bucket}/{item['Key']}"] = body.decode("latin-1")
    return texts


def assert_no_secret(texts: dict[str, str], secrets: set[str]) -> None:
    leaks = [(where, secret[:12]) for where, text in texts.items() for secret in secrets if secret in text]
    assert not leaks, f"secrets found in: {leaks[:10]}"


@pytest.fixture
def secret_bucket(s3_server: S3Server, inputs: Inputs) -> str:
    """A bucket holding the dataset of the shared BAM (converted directly, no secret involved)."""
    from bams3.dataset import convert

    bucket = s3_server.make_bucket()
    convert(str(inputs.bam), f"s3://{bucket}/ds/s.bams3", bin_size=64_000, show_progress=False)
    s3_server.client().put_object(Bucket=bucket, Key="files/s.bam", Body=inputs.bam.read_bytes())
    return bucket


def test_every_verb_at_debug_leaks_nothing(inputs: Inputs, secret_bucket: str, s3_server: S3Server,
                                           fault_proxy: FaultProxy, http_server: SignedFileServer,
                                           tmp_path: Path) -> None:
    http_server.write("s.bam", inputs.bam.read_bytes())
    http_server.write("s.bam.bai", inputs.bam.with_name("s.bam.bai").read_bytes())
    bam, bai = http_server.signed_url("s.bam"), http_server.signed_url("s.bam.bai")
    expired = http_server.signed_url("s.bam", expires_in=-60)
    presigned = s3_server.client(signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": secret_bucket, "Key": "files/s.bam"}, ExpiresIn=600)
    secrets = {SECRET_KEY, SESSION_TOKEN} | url_signatures(bam, bai, expired, presigned)
    out = tmp_path / "out"
    out.mkdir()
    b = f"s3://{secret_bucket}"
    ds = f"{b}/ds/s.bams3"
    (out / "local-tree").mkdir()
    (out / "local-tree" / "a.txt").write_text("a\n")
    manifest = json.dumps({"params": {"bam": "s.bam", "other": "p.bam"},
                           "data_manifest": {"s.bam": bam, "s.bam.bai": bai, "p.bam": presigned, "old.bam": expired}})
    (out / "event.json").write_text(json.dumps({"dataset": ds, "region": "chr1:1-50000"}))
    runs: list[tuple[list[str], str | None, int]] = [
        (["flagstat", bam, "--io-stats"], None, 0),
        (["plan", bam, "--index", bai, "-o", str(out / "plan.json"), "--io-stats"], None, 0),
        (["chunk-stats", bam, "--plan", str(out / "plan.json"), "--shard", "0", "-o", str(out / "chunks.jsonl"),
          "--info", str(out / "info.json")], None, 0),
        (["scan", bam, "--index", bai, "-o", str(out / "scan"), "--chunk-files"], None, 0),
        (["convert", bam, f"{b}/converted/s.bams3", "--receipt", str(out / "receipt.json"), "--no-progress",
          "--io-stats"], None, 0),
        (["stats", ds, "--json"], None, 0),
        (["query", ds, "chr1:1-50000", "--count", "--io-stats"], None, 0),
        (["to-bam", ds, str(out / "back.bam"), "--region", "chr2"], None, 0),
        (["validate", ds], None, 0),
        (["cohort", ds, "-r", "chr1:1-50000", "-o", f"{b}/cohort/", "--plot", "none", "--no-progress"], None, 0),
        (["stage", "--on-error", "continue", "-o", str(out / "response.json"), "--run-dir", str(out / "run"),
          "--keep", "--cache-dir", str(out / "cache"), "--io-stats"], manifest, 1),
        (["sync", f"{b}/ds/", str(out / "synced"), "--report", str(out / "sync-report.json"), "--io-stats"],
         None, 0),
        (["sync", str(out / "local-tree"), f"{b}/up/", "--report", f"{b}/reports/sync.json"], None, 0),
        (["json", "put", f"{b}/docs/doc.json"], json.dumps({"url": "see the dataset"}), 0),
        (["json", "get", f"{b}/docs/doc.json"], None, 0),
        (["handle", "region-count", "-e", str(out / "event.json"), "-o", str(out / "handled.json")], None, 0),
        (["flagstat", expired], None, 1),
        (["flagstat", presigned.replace("files/s.bam", "files/missing.bam")], None, 1),
        (["flagstat", f"{b}/files/missing.bam"], None, 1),
    ]
    env = cli_env(fault_proxy.url, tmp_path, **CREDENTIALS)
    texts: dict[str, str] = {}
    for args, stdin, status in runs:
        done = subprocess.run([sys.executable, "-m", "bams3", "--log-level", "DEBUG", *args], input=stdin,
                              capture_output=True, text=True, env=env, cwd=out, timeout=120)
        assert done.returncode == status, (args[0], done.stderr[-2000:])
        assert "DEBUG" in done.stderr, (args[0], "no DEBUG output")
        texts[f"{args[0]} stdout"] = done.stdout
        texts[f"{args[0]} {args[1][:20]} stderr"] = done.stderr
    # the secrets were in play: the token travelled with the requests, the signatures were on the wire
    assert any(r.headers.get("X-Amz-Security-Token") == SESSION_TOKEN for r in fault_proxy.records)
    on_the_wire = wire_signatures(fault_proxy)
    assert len(on_the_wire) > 20
    texts.update(everything_written(tmp_path, s3_server, secret_bucket))
    assert_no_secret(texts, secrets | on_the_wire)


@pytest.fixture(scope="module")
def workflow_run(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[Path, dict[str, str], set[str]]]:
    """Run the workflow once on a sheet of signed URLs; return its directory, outputs and the secrets."""
    with SignedFileServer(tmp_path_factory.mktemp("www-workflow")) as server:
        yield run_workflow(inputs, server, tmp_path_factory.mktemp("workflow-secrets"))


METADATA = ".snakemake/metadata"


def test_a_workflow_run_on_signed_urls_leaks_nothing(workflow_run: tuple[Path, dict[str, str], set[str]]) -> None:
    """Snakemake: the sample sheet names signed URLs; no log or output may hold them.

    Snakemake's own bookkeeping (``.snakemake/metadata``) is checked by the next test.
    """
    work, texts, secrets = workflow_run
    shown = {where: text for where, text in texts.items() if METADATA not in where}
    assert_no_secret(shown, secrets)


def test_snakemake_bookkeeping_holds_no_signed_url(workflow_run: tuple[Path, dict[str, str], set[str]]) -> None:
    work, texts, secrets = workflow_run
    assert_no_secret({where: text for where, text in texts.items() if METADATA in where}, secrets)


def run_workflow(inputs: Inputs, http_server: SignedFileServer, tmp_path: Path
                 ) -> tuple[Path, dict[str, str], set[str]]:
    http_server.write("s.bam", inputs.bam.read_bytes())
    http_server.write("s.bam.bai", inputs.bam.with_name("s.bam.bai").read_bytes())
    bam, bai = http_server.signed_url("s.bam"), http_server.signed_url("s.bam.bai")
    work = tmp_path / "run"
    work.mkdir()
    (work / "samples.tsv").write_text(f"sample\tbam\tindex\ns\t{bam}\t{bai}\n")
    (work / "config.yaml").write_text(json.dumps({"samples": "samples.tsv", "output_dir": "results",
                                                  "dataset": {"activate": True, "chunk_size": "64K"}}))
    snakefile = Path(__file__).resolve().parents[2] / "workflow" / "Snakefile"
    env = {**cli_env(None, tmp_path, **CREDENTIALS), "BAMS3_LOG_LEVEL": "DEBUG",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory",
                           str(work), "--configfile", str(work / "config.yaml"), "--cores", "2",
                           "--workflow-profile", "none"], capture_output=True, text=True, env=env, cwd=work,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = [p for p in work.rglob("*.log") if p.is_file()]
    assert any(".snakemake" in p.parts for p in logs) and any("logs" in p.parts for p in logs)
    texts = {"stdout": done.stdout, "stderr": done.stderr}
    texts.update({str(p): p.read_bytes().decode("latin-1") for p in work.rglob("*") if p.is_file()})
    texts.pop(str(work / "samples.tsv"))  # the user's own input holds the URLs, of course
    assert "s.bam" in done.stderr + "".join(texts.values())  # the sample was processed and logged
    return work, texts, {SECRET_KEY, SESSION_TOKEN} | url_signatures(bam, bai)


