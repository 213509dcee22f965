"""The watcher loop: list the sources, update the cursor, start and supervise runs.

One tick:

1. collect the runs that ended since the last look;
2. list every source (outside any lock: listings are read-only);
3. in one compare-and-swap update of the cursor: record the ended runs, renew the leases
   of the runs still going, declare expired runs abandoned, merge the listings, and
   claim pending BAMs for new runs;
4. start a process for each run claimed.

Between ticks the watcher looks at its runs twice a second and writes the cursor
only when one ended or a lease needs renewing (every third of the lease). If the cursor
cannot be written for so long that the leases run out, the watcher stops its runs:
another watcher may already be retrying them, and two runs must never write the same
outputs. Every decision is in :mod:`bams3.watch.transitions`; this module only does the
I/O and the bookkeeping of processes.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ..errors import Bams3Error, ConfigError
from .cursor import Cursor, open_cursor
from .runner import STOP_GRACE, RunProcess, SampleRow, describe_exit, start_run
from .settings import WatchSettings
from .sources import Candidate, list_sources
from .state import CursorState, ItemKey, Outcome, Run
from .transitions import claim, expire_runs, finish_run, observe, renew_runs

__all__ = ["Watcher", "TickReport", "new_run_id"]

log = logging.getLogger(__name__)

#: seconds between two looks at the running processes
POLL_SECONDS = 0.5
#: seconds to wait after a failed cursor update before the next try between ticks
#: (at most a sixth of the lease, so that a renewal still has tries left before it runs out)
RETRY_SECONDS = 5.0


def new_run_id(now: float) -> str:
    """A run id that sorts by start time and is unique: ``20260102T030405Z-3fa9c2``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(3)


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick saw and did (its :meth:`line` is the tick's log line)."""

    new: int
    counts: dict[str, int]
    started: tuple[Run, ...] = ()
    source_errors: int = 0

    def line(self) -> str:
        c = self.counts
        text = (f"tick: {self.new} new, {c['waiting']} waiting, {c['pending']} pending, {c['running']} running, "
                f"{c['done']} done, {c['failed']} failed")
        if self.started:
            text += f"; started {len(self.started)} run(s) of {sum(len(r.items) for r in self.started)} BAM(s)"
        if self.source_errors:
            text += f"; {self.source_errors} source(s) could not be listed"
        return text


class _Stop(Exception):
    """SIGTERM arrived: stop cleanly."""


class Watcher:
    """Watches ``settings.sources`` and runs the workflow for each new BAM.

    Parameters
    ----------
    settings
        What to watch and how to run.
    cursor
        The cursor to use (default: the one at ``settings.cursor``).
    clock
        Wall-clock seconds (leases are compared across machines, so not monotonic).
    stop_grace
        Seconds a run gets to stop cleanly when the watcher stops it.
    """

    def __init__(self, settings: WatchSettings, *, cursor: Cursor | None = None,
                 clock: Callable[[], float] = time.time, stop_grace: float = STOP_GRACE) -> None:
        self.settings = settings
        self.cursor = cursor if cursor is not None else open_cursor(settings.cursor)
        self.clock = clock
        self.stop_grace = stop_grace
        #: this watcher's identity in run records
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.runs_dir = Path(settings.runs_dir).resolve()
        self._children: dict[str, RunProcess] = {}
        self._ended: dict[str, tuple[Outcome, str]] = {}  # outcomes not yet in the cursor
        self._renewed_at = 0.0
        self._leases_end = 0.0  # when the leases last written run out
        self._retry_at = 0.0  # no cursor update between ticks before this (after a failure)
        self._start_error: OSError | Bams3Error | None = None
        #: runs of this watcher that failed (``--once`` exits non-zero when there were any)
        self.failed_runs = 0
        #: ticks in which a source could not be listed
        self.source_errors = 0

    # ----------------------------------------------------------------- one tick

    def tick(self) -> TickReport:
        """List the sources, update the cursor and start the runs it claimed (see the module docstring).

        Raises
        ------
        bams3.errors.Bams3Error
            The cursor cannot be read or written (the runs already going continue).
        """
        self._reap()
        settings = self.settings
        before = self.cursor.read().state
        listings = list_sources(settings.sources, skip=self._skip(before))
        errors = [listing for listing in listings if listing.error is not None]
        for listing in errors:
            log.warning("source %s could not be listed: %s", listing.source, listing.error)
        self.source_errors += bool(errors)
        available = {(listing.source, c.key): c for listing in listings for c in listing.candidates}
        now = self.clock()
        renew = self._renewal_due(now)
        slots = max(0, settings.max_runs - len(self._children))

        def change(state: CursorState) -> tuple[CursorState, tuple[frozenset[str], int, list[Run]]]:
            state, lost = self._own_changes(state, now, renew=renew)
            state = expire_runs(state, now=now, max_attempts=settings.max_attempts)
            state, new = observe(state, listings, now=now, require_index=settings.require_index,
                                 reprocess_changed=settings.reprocess_changed)
            state, runs = claim(state, available, watcher=self.id, now=now, lease=settings.lease,
                                max_batch=settings.max_batch, slots=slots, new_run=lambda: self._new_run(now))
            return state, (lost, new, runs)

        had_runs = bool(self._children)
        snapshot, (lost, new, runs) = self.cursor.update(change)
        # new leases start now; when older ones exist and were not renewed, they end first
        self._after_update(now, renewed=renew or (bool(runs) and not had_runs), lost=lost)
        for run in runs:
            self._start(run, snapshot.state, available)
        started = tuple(run for run in runs if run.id in self._children)
        return TickReport(new, snapshot.state.counts(), started, len(errors))

    def _skip(self, state: CursorState) -> set[str]:
        """BAMs named by URL that need no ``stat`` this tick."""
        quiet = {"running"} if self.settings.reprocess_changed else {"running", "done", "failed"}
        return {item.bam for item in state.items.values() if item.state in quiet}

    def _new_run(self, now: float) -> tuple[str, str]:
        run_id = new_run_id(now)
        return run_id, str(self.runs_dir / run_id / "run.log")

    def _start(self, run: Run, state: CursorState, available: dict[ItemKey, Candidate]) -> None:
        """Start ``run``. A run that cannot start (command not found, runs folder not
        writable) gives its BAMs back without counting an attempt and stops the watcher:
        every later run would fail the same way, and no BAM is to blame."""
        rows = [SampleRow(state.items[k].sample, available[k].url, available[k].index_url) for k in run.items]
        names = ", ".join(r.sample for r in rows)
        if self._start_error is None:
            try:
                self._children[run.id] = start_run(run.id, rows, self.settings.launch, self.runs_dir / run.id)
            except (OSError, Bams3Error) as exc:
                self._start_error = exc
            else:
                log.info("run %s started: %d BAM(s) (%s); log %s", run.id, len(rows), names, run.log)
                return
        self._ended[run.id] = ("interrupted", f"could not start: {self._start_error}")

    # ----------------------------------------------------------------- between ticks

    def _reap(self) -> None:
        """Collect the runs that ended (their outcome goes into the next cursor update)."""
        for run_id, child in list(self._children.items()):
            code = child.poll()
            if code is None:
                continue
            del self._children[run_id]
            detail = describe_exit(code)
            names = ", ".join(child.samples)
            if code == 0:
                self._ended[run_id] = ("succeeded", detail)
                log.info("run %s succeeded (%s)", run_id, names)
            else:
                self._ended[run_id] = ("failed", f"{detail}; log {child.log_path}")
                self.failed_runs += 1
                log.warning("run %s failed (%s): %s; log %s", run_id, names, detail, child.log_path)

    def _renewal_due(self, now: float) -> bool:
        return bool(self._children) and now >= self._renewed_at + self.settings.lease / 3

    def _own_changes(self, state: CursorState, now: float, *, renew: bool) -> tuple[CursorState, frozenset[str]]:
        """Record this watcher's ended runs and (when due) renew its leases."""
        for run_id, (outcome, detail) in self._ended.items():
            state = finish_run(state, run_id, outcome, detail, now=now, max_attempts=self.settings.max_attempts)
        if not renew:
            return state, frozenset()
        return renew_runs(state, self._children, watcher=self.id, expires=now + self.settings.lease)

    def _after_update(self, now: float, *, renewed: bool, lost: frozenset[str]) -> None:
        self._ended.clear()
        if renewed:
            self._renewed_at = now
            self._leases_end = now + self.settings.lease
        for run_id in lost:
            child = self._children.pop(run_id, None)
            if child is not None:
                log.error("run %s was taken over by another watcher after its lease expired; stopping it", run_id)
                child.stop(grace=self.stop_grace)

    def maintain(self) -> None:
        """Record ended runs and renew leases when due; stop the runs whose leases ran out
        because the cursor could not be reached."""
        self._reap()
        now = self.clock()
        if self._children and now >= self._leases_end:
            log.error("the leases of %d run(s) ran out without reaching the cursor %s; stopping them (they will be "
                      "retried)", len(self._children), self.cursor.url)
            self._stop_children()
        renew = self._renewal_due(now)
        if (not self._ended and not renew) or now < self._retry_at:
            return

        def change(state: CursorState) -> tuple[CursorState, frozenset[str]]:
            return self._own_changes(state, now, renew=renew)

        try:
            _, lost = self.cursor.update(change)
        except Bams3Error as exc:
            log.warning("cursor %s could not be updated: %s", self.cursor.url, exc)
            self._retry_at = self.clock() + min(RETRY_SECONDS, self.settings.lease / 6)
            return
        self._after_update(now, renewed=renew, lost=lost)

    def _stop_children(self) -> list[str]:
        stopped = list(self._children)
        for child in self._children.values():
            child.stop(grace=self.stop_grace)
        self._children.clear()
        return stopped

    def shutdown(self) -> None:
        """Stop the runs going and give their BAMs back (not counted as attempts)."""
        stopped = self._stop_children()
        for run_id in stopped:
            self._ended[run_id] = ("interrupted", "the watcher was stopped")
        if not self._ended:
            return
        now = self.clock()
        try:
            self.cursor.update(lambda state: self._own_changes(state, now, renew=False))
        except Bams3Error as exc:
            log.warning("cursor %s could not be updated on the way out (the leases will expire): %s",
                        self.cursor.url, exc)
            return
        self._ended.clear()
        if stopped:
            log.info("stopped run(s) %s; their BAMs will run again", ", ".join(stopped))

    # ----------------------------------------------------------------- the loop

    def serve(self, *, once: bool = False) -> int:
        """Tick every ``interval`` seconds until stopped (SIGINT/SIGTERM), or tick once and
        wait for the runs started.

        Returns
        -------
        int
            ``0``; with ``once``, ``1`` if a run failed or a source could not be listed;
            ``130`` after SIGINT (Ctrl-C).

        Raises
        ------
        bams3.errors.Bams3Error
            The first tick failed (a wrong cursor URL, an unreadable cursor): later
            failures are logged and retried at the next tick.
        """
        with _sigterm_raises_stop():
            try:
                self._loop(once=once)
            except KeyboardInterrupt:
                self.shutdown()
                return 130
            except _Stop:
                self.shutdown()
                return 0
            except BaseException:
                self._stop_children()
                raise
        return 1 if once and (self.failed_runs or self.source_errors) else 0

    def _loop(self, *, once: bool) -> None:
        next_tick = self.clock()
        first = True
        while True:
            if self.clock() >= next_tick and (first or not once):
                try:
                    log.info(self.tick().line())
                except Bams3Error as exc:
                    if first:
                        raise
                    log.error("tick failed (retrying in %.0f s): %s", self.settings.interval, exc)
                if self._start_error is not None:
                    self.shutdown()
                    raise ConfigError(f"could not start a run: {self._start_error} (check the run command and "
                                      f"the runs folder {self.runs_dir})")
                first = False
                next_tick = self.clock() + self.settings.interval
            self.maintain()
            if once and not self._children:
                if self._ended:  # the last outcomes could not be recorded yet: one more try, errors raised
                    self.cursor.update(lambda state: self._own_changes(state, self.clock(), renew=False))
                    self._ended.clear()
                return
            time.sleep(POLL_SECONDS if once else max(0.0, min(POLL_SECONDS, next_tick - self.clock())))


@contextmanager
def _sigterm_raises_stop() -> Iterator[None]:
    """Turn the first SIGTERM into :class:`_Stop` while the loop runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:  # already stopping the runs: a second SIGTERM changes nothing
            return
        stopping = True
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

