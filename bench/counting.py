"""One run of a command through the counting proxy: how many requests, which, and how many bytes.

The timed runs of the S3 benchmarks talk to the server directly (a proxy in the path would add
its own latency to the times); requests and bytes come from one extra run per command through
``tests/helpers/faultproxy.py``, which streams answers and charges a client only for the bytes
handed to it (htslib closes its unranged GETs early).
"""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from .machine import REPO_ROOT
from .runner import BenchFailure, BenchUnavailable, Command, child_env

#: after the command exits, how long the proxy may still be finishing the accounting of a
#: transfer the client aborted (it notices the closed connection at its next write)
SETTLE_S = 0.2


@dataclass(frozen=True)
class CountedRun:
    label: str
    requests: int
    bytes: int
    #: requests per HTTP method ("GET", "HEAD", "PUT", ...)
    by_method: dict[str, int]
    #: requests per method and whether they asked for a byte range ("GET ranged", "GET whole")
    by_kind: dict[str, int]
    wall_s: float
    stdout: bytes

    def row(self) -> dict[str, Any]:
        """The JSON-friendly numbers (no stdout)."""
        return {"label": self.label, "requests": self.requests, "bytes": self.bytes,
                "by_method": self.by_method, "by_kind": self.by_kind, "wall_s": self.wall_s}


def counted_run(cmd: Command, proxy: Any) -> CountedRun:
    """Run ``cmd`` once (after its ``prepare``) with the proxy's log emptied; fail on a non-zero exit."""
    if cmd.prepare is not None:
        cmd.prepare()
    proxy.reset()
    started = time.perf_counter()
    done = subprocess.run(cmd.argv, cwd=REPO_ROOT, env=child_env(cmd), capture_output=True)
    wall = time.perf_counter() - started
    time.sleep(SETTLE_S)
    if done.returncode != 0:
        raise BenchFailure(f"`{cmd.shell()}` exited {done.returncode}: "
                           f"{done.stderr.decode(errors='replace')[-500:]}")
    records = proxy.records
    by_method: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for r in records:
        by_method[r.method] = by_method.get(r.method, 0) + 1
        kind = f"{r.method} {'ranged' if 'range' in {h.lower() for h in r.headers} else 'whole'}"
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return CountedRun(cmd.label, len(records), sum(r.bytes_delivered for r in records),
                      dict(sorted(by_method.items())), dict(sorted(by_kind.items())), round(wall, 3), done.stdout)


def loopback_s3_helpers() -> tuple[Any, Any, dict[str, str]]:
    """``(FaultProxy, S3Server, TEST_CREDENTIALS)`` from tests/helpers: the moto server and the
    counting proxy the S3 benchmarks share with the test suite."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        from tests.helpers.faultproxy import FaultProxy
        from tests.helpers.s3server import TEST_CREDENTIALS, S3Server
    except ImportError as exc:
        raise BenchUnavailable(f"tests/helpers not importable: {exc}") from exc
    return FaultProxy, S3Server, TEST_CREDENTIALS
