"""Fixtures of the staging tests: an isolated cache and work directory, data helpers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, poorly compressible bytes (so compressed and raw sizes differ little)."""
    out = bytearray()
    state = seed * 2654435761 + 1
    while len(out) < size:
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        out += state.to_bytes(8, "little")
    return bytes(out[:size])


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test touches the real ~/.cache, and progress goes to the log."""
    monkeypatch.setenv("BAMS3_CACHE_DIR", str(tmp_path / "default-cache"))
    monkeypatch.setenv("BAMS3_PROGRESS", "log")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    os.makedirs(tmp_path / "tmp", exist_ok=True)
