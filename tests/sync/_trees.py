"""Helpers for the sync tests: build trees, and read them back as {path: sha256} maps.

The maps are taken through back doors (the filesystem, a plain boto3 client), never
through bams3.io, so a sync bug cannot hide behind the same bug in the reader.
"""
from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def make_tree(root: Path, files: dict[str, bytes], *, mtime: float | None = None) -> dict[str, str]:
    """Write ``files`` under ``root`` (optionally all with one mtime); return their hashes."""
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
    return {key: sha(data) for key, data in files.items()}


def local_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (temporary and partial files included: they must not exist)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): sha(p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def s3_hashes(client: Any, bucket: str, prefix: str = "") -> dict[str, str]:
    """Every object under ``s3://bucket/prefix/``, keyed relative to the prefix."""
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    out: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            out[item["Key"][len(base):]] = sha(body)
    return out


def put_objects(client: Any, bucket: str, prefix: str, files: dict[str, bytes]) -> dict[str, str]:
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    for key, data in files.items():
        client.put_object(Bucket=bucket, Key=base + key, Body=data)
    return {key: sha(data) for key, data in files.items()}


def multipart_uploads(client: Any, bucket: str) -> list[str]:
    """Keys of multipart uploads still open in ``bucket`` (must be none after any failure)."""
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


#: a small tree with nesting, an empty file and names that need care
TREE = {
    "a.bam": random_bytes(70_000, 1),
    "a.bam.bai": random_bytes(1_000, 2),
    "deep/er/b.bam": random_bytes(30_000, 3),
    "deep/c.txt": b"hello\n",
    "empty.json": b"",
    "name with spaces+plus.txt": b"odd names are common\n",
}
