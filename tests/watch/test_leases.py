"""Leases in-process, with clocks moved by hand: a watcher that lost its claim stops its run."""
from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bams3.io import open_store
from bams3.watch import Launch, Source, WatchSettings, Watcher
from bams3.watch.cursor import Cursor
from tests.helpers.faultproxy import Fault, FaultProxy
from tests.helpers.s3server import S3Server

from .conftest import STANDIN_COMMAND, Lab, process_gone, wait_for


class Clock:
    """Wall-clock time plus a shift that a test moves forward."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


@pytest.fixture
def hanging_lab(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.setenv("STANDIN_DIR", str(lab.control))
    lab.bam("S1")
    (lab.control / "hang").touch()
    yield lab
    (lab.control / "hang").unlink(missing_ok=True)


def _settings(lab: Lab, **knobs: object) -> WatchSettings:
    return WatchSettings(sources=(Source(name="drop", folder=str(lab.drop)),), cursor=str(lab.root / "cursor"),
                         runs_dir=str(lab.root / "runs"), launch=Launch(command=tuple(shlex.split(STANDIN_COMMAND))),
                         **knobs)  # type: ignore[arg-type]


def _child_pid(lab: Lab, run_id: str) -> int:
    started = wait_for(lambda: (lab.control / f"started.{run_id}").exists() and (lab.control / f"started.{run_id}"),
                       f"run {run_id} to start")
    return int(Path(started).read_text())


def test_a_watcher_whose_run_was_taken_over_stops_it(hanging_lab: Lab) -> None:
    lab = hanging_lab
    clock_a, clock_b = Clock(), Clock()
    a = Watcher(_settings(lab, lease=10.0), clock=clock_a, stop_grace=5)
    b = Watcher(_settings(lab, lease=10.0), clock=clock_b, stop_grace=5)
    a.tick()
    [run_a] = a.tick().started
    pid_a = _child_pid(lab, run_a.id)

    clock_b.shift = 11.0  # B sees A's lease expired (A looks frozen: it has not renewed)
    [run_b] = b.tick().started
    assert run_b.id != run_a.id
    pid_b = _child_pid(lab, run_b.id)

    clock_a.shift = 5.0  # A wakes up and tries to renew: the run is not its any more
    a.maintain()
    assert process_gone(pid_a) and not a._children
    assert not process_gone(pid_b)

    (lab.control / "hang").unlink()
    wait_for(lambda: (b.maintain(), not b._children)[1], "B's run to finish")
    item = next(iter(Cursor(open_store(lab.root / "cursor")).read().state.items.values()))
    assert item.state == "done" and [a.outcome for a in item.history] == ["abandoned", "succeeded"]
    assert lab.done() == ["S1"]


def test_runs_stop_when_the_cursor_stays_unreachable_past_their_lease(
        hanging_lab: Lab, s3_server: S3Server, fault_proxy: FaultProxy) -> None:
    lab = hanging_lab
    bucket = s3_server.make_bucket()
    cursor = Cursor(open_store(f"s3://{bucket}/cursor/", endpoint_url=fault_proxy.url))
    clock = Clock()
    watcher = Watcher(_settings(lab, lease=30.0), cursor=cursor, clock=clock, stop_grace=5)
    watcher.tick()
    [run] = watcher.tick().started
    pid = _child_pid(lab, run.id)

    fault_proxy.add(Fault("status", status=403, code="AccessDenied", message="Access Denied", times=None))
    clock.shift = 15.0  # renewal due, but the store refuses: the lease still has time, the run goes on
    watcher.maintain()
    assert watcher._children and not process_gone(pid)
    clock.shift = 31.0  # the lease has run out: someone else may be retrying this BAM
    watcher.maintain()
    assert not watcher._children and process_gone(pid)
