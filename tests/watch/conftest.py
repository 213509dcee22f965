"""A lab for watcher tests: a drop folder, a working folder, and ``bams3 watch`` run for real.

Runs are started with the stand-in command (``standin.py``, same arguments as snakemake)
unless a test passes its own ``--command``; its control folder says which samples fail,
whether runs hang, and records every invocation.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bams3.watch import Snapshot, open_cursor

STANDIN = Path(__file__).with_name("standin.py")
STANDIN_COMMAND = shlex.join([sys.executable, str(STANDIN)])


def wait_for(condition: Callable[[], Any], what: str, *, timeout: float = 60.0) -> Any:
    """Poll ``condition`` until it returns something true (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def process_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for its new parent to reap it counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@dataclass
class Lab:
    root: Path

    @property
    def drop(self) -> Path:
        return self.root / "drop"

    @property
    def control(self) -> Path:
        return self.root / "control"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "STANDIN_DIR": str(self.control), "BAMS3_LOG_LEVEL": "WARNING"}

    def command(self, *args: str) -> list[str]:
        extra = [] if "--command" in args else ["--command", STANDIN_COMMAND]
        return [sys.executable, "-m", "bams3", "watch", *extra, *args]

    def watch(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``bams3 watch ARGS`` in the lab's folder, to completion."""
        return subprocess.run(self.command(*args), cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def once(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One ``--once`` tick over the drop folder (checked: exit status 0 or 1)."""
        result = self.watch("--folder", str(self.drop), "--once", *args)
        assert result.returncode in (0, 1), result.stderr
        return result

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``bams3 watch ARGS`` in the background (stderr to ``watch-<n>.log``)."""
        log = (self.root / f"watch-{time.monotonic_ns()}.log").open("w")
        with log:
            return subprocess.Popen(self.command(*args), cwd=self.root, env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT, text=True)

    def bam(self, name: str, data: bytes = b"BAM\x01 not really", *, index: bool = False) -> Path:
        """A file the stand-in accepts as a BAM (it never reads it)."""
        path = self.drop / f"{name}.bam"
        path.write_bytes(data)
        if index:
            Path(f"{path}.bai").write_bytes(b"BAI\x01")
        return path

    def _lines(self, name: str) -> list[dict[str, Any]]:
        path = self.control / name
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def runs(self) -> list[list[str]]:
        """The samples of every run started so far, in start order."""
        return [record["samples"] for record in self._lines("invocations.jsonl")]

    def invocations(self) -> list[dict[str, Any]]:
        return self._lines("invocations.jsonl")

    def done(self) -> list[str]:
        """Samples of successful runs (one entry per sample per successful run)."""
        return [record["sample"] for record in self._lines("done.jsonl")]

    def cursor(self, url: str | None = None) -> Snapshot:
        return open_cursor(url or str(self.root / ".bams3-watch" / "cursor")).read()

    def states(self, url: str | None = None) -> dict[str, tuple[str, int]]:
        """sample -> (state, attempts) in the cursor."""
        return {i.sample: (i.state, i.attempts) for i in self.cursor(url).state.items.values()}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    lab.drop.mkdir()
    lab.control.mkdir()
    yield lab


@pytest.fixture
def stop_later() -> Iterator[Callable[[subprocess.Popen[str]], subprocess.Popen[str]]]:
    """Register background watchers: whatever a test leaves running is killed at its end."""
    started: list[subprocess.Popen[str]] = []
    yield lambda process: started.append(process) or process
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
