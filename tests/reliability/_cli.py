"""Running ``bams3`` as users do (a real process) and judging what it left behind.

The reliability tests run every verb as ``python -m bams3 ...`` with the fault proxy as
its S3 endpoint, and then check three things: the exit status, the one line a failure
prints, and the outputs (identical to a fault-free oracle, or absent). These helpers
keep those checks the same in every test module.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "cli_env",
    "run_bams3",
    "assert_clean_failure",
    "tree_digest",
    "s3_digest",
    "dataset_digest",
]

#: fast retries and short timeouts: a fault test spends milliseconds between attempts, and a
#: stall of a few tenths of a second stays below the read timeout
FAST_IO = {
    "BAMS3_RETRY_BACKOFF": "0.005",
    "BAMS3_RETRY_MAX": "8",
    "BAMS3_RETRY_TIMEOUT": "30",
    "BAMS3_READ_TIMEOUT": "2",
    "BAMS3_CONNECT_TIMEOUT": "2",
    "BAMS3_PROGRESS": "off",
}


def cli_env(endpoint: str | None, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a bams3 process: S3 at ``endpoint`` (the proxy), fast retries, caches in ``tmp``."""
    env = {**os.environ, **FAST_IO, "BAMS3_CACHE_DIR": str(tmp / "bams3-cache"), "TMPDIR": str(tmp)}
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(name, None)
        if endpoint is not None:
            env[name] = endpoint
    env.update(extra)
    return env


def run_bams3(*args: str, env: Mapping[str, str], cwd: Path, stdin: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m bams3 ARGS`` in ``cwd`` (so that a stray relative write lands in a tmp dir)."""
    return subprocess.run([sys.executable, "-m", "bams3", *args], input=stdin, capture_output=True, text=True,
                          env=dict(env), cwd=cwd, timeout=timeout)


def assert_clean_failure(done: subprocess.CompletedProcess[str], verb: str, *fragments: str) -> str:
    """A failure as users must see it: non-zero, one line ``bams3 VERB: error: ...`` holding ``fragments``.

    Returns the message (after the prefix).
    """
    assert done.returncode != 0, f"bams3 {verb} succeeded: {done.stdout[-500:]}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    errors = [line for line in lines if line.startswith(f"bams3 {verb}: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], done.stderr
    message = errors[0].removeprefix(f"bams3 {verb}: error: ")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_digest(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (empty if it does not exist)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): _sha(p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def s3_digest(client: Any, bucket: str, prefix: str = "") -> dict[str, str]:
    """``{key relative to prefix: sha256}`` of every object under ``prefix``, read directly (no proxy)."""
    out: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            out[item["Key"][len(prefix):]] = _sha(body)
    return out


def dataset_digest(url: str) -> str:
    """A digest of a BAMS3 dataset's content that two conversions of one BAM share.

    The metadata without what differs from run to run (run id, commit time), and the bytes
    of every chunk in table order: equal digests mean equal records, chunking and counts.
    Raises the reader's error when the dataset is incomplete; a missing chunk fails.
    Runs in the test process, which talks to the S3 server directly (not through the proxy).
    """
    from bams3.dataset import Dataset

    dataset = Dataset.open(url)
    raw = dataset.store.get("_metadata.json")
    assert raw is not None
    document = json.loads(raw)
    for volatile in ("run_id", "created_at", "chunk_key_encoding"):
        document.pop(volatile, None)
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode())
    for index in range(len(dataset.metadata.chunks)):
        data = dataset.store.get(dataset.metadata.chunk_key(index))
        assert data is not None, f"chunk {index} of {url} is missing"
        digest.update(_sha(data).encode())
    return digest.hexdigest()
