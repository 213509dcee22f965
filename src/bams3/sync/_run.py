"""The sync operations: ``sync`` (one pass), ``plan`` (batches) and ``run_batch`` (one batch).

Each one lists or stats both sides, decides per object with :mod:`._diff`, and runs the
decisions on ``jobs`` threads with :mod:`._transfer`. Copies come first; deletions
(``--delete``) run only once every copy has succeeded, so a failed run never removes a
destination object whose replacement did not arrive.

Failure handling: by default the first failure stops the run (objects not yet started are
not started, those in flight finish) and :class:`SyncFailedError` carries the report of
what was done; with ``allow_partial_failure`` every object is tried and the failures are
listed in the returned report.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import Bams3Error, IntegrityError, ObjectNotFoundError, UsageError
from ..progress import progress
from ._diff import Decision, decide, diff
from ._endpoints import Endpoints, is_local, normalise_url, resolve
from ._pack import first_fit_decreasing
from ._transfer import copy_object, same_content
from .models import (
    Batch,
    BatchSyncRequest,
    ItemResult,
    PlanRequest,
    SyncItem,
    SyncOptions,
    SyncPlan,
    SyncReport,
    SyncRequest,
)

if TYPE_CHECKING:
    from ..io import ObjectInfo, Store

__all__ = ["SyncFailedError", "sync", "plan", "run_batch"]

log = logging.getLogger(__name__)

#: failures of one object that a sync reports instead of crashing (io errors, local OS errors)
ITEM_ERRORS: tuple[type[BaseException], ...] = (Bams3Error, OSError)


class SyncFailedError(Bams3Error):
    """A sync stopped at its first failed object; ``report`` says what was done before."""

    def __init__(self, message: str, report: SyncReport, exit_code: int = 1) -> None:
        super().__init__(message)
        self.report = report
        self.exit_code = exit_code


# ---- listing -------------------------------------------------------------------------------------

def _root_exists(root: str) -> bool:
    """A local root (already a plain absolute path) must be a directory; S3 prefixes exist once they hold objects."""
    return os.path.isdir(root)


def _check_not_nested(ends: Endpoints) -> None:
    """Refuse ``sync data data/backup``: every run would copy the previous copy again.

    Only trees can nest; one object may be copied beside itself under another name.
    """
    source, destination = ends.source_root, ends.destination_root
    if ends.single is not None or is_local(source) != is_local(destination):
        return
    a, b = source.rstrip("/") + "/", destination.rstrip("/") + "/"
    if a.startswith(b) or b.startswith(a):
        raise UsageError(f"{source} and {destination} overlap: the destination must not be inside the source "
                         "or the other way round")


def _source_objects(ends: Endpoints, options: SyncOptions) -> tuple[list[tuple[SyncItem, ObjectInfo]], bool]:
    """The source objects the filters include, each with its destination key; and whether the source is missing."""
    if ends.single is not None:
        key, dest_key = ends.single
        info = ends.src.stat(key)
        if info is None:
            return [], True
        if not options.filters.matches(key):
            return [], False
        return [(SyncItem(key, info.size, None if dest_key == key else dest_key), info)], False
    if is_local(ends.source_root) and not _root_exists(ends.source_root):
        return [], True
    pairs: list[tuple[SyncItem, ObjectInfo]] = []
    seen_any = False
    for info in ends.src.list(""):
        seen_any = True
        if info.key.endswith("/"):  # an S3 "folder" marker: nothing to copy
            continue
        if options.filters.matches(info.key):
            pairs.append((SyncItem(info.key, info.size), info))
    return pairs, not seen_any


def _destination_objects(ends: Endpoints, options: SyncOptions) -> dict[str, ObjectInfo]:
    """What the destination holds among the paths this sync manages."""
    if ends.single is not None:
        dest_key = ends.single[1]
        info = ends.dst.stat(dest_key)
        return {} if info is None else {dest_key: info}
    if is_local(ends.destination_root) and not _root_exists(ends.destination_root):
        return {}
    return {info.key: info for info in ends.dst.list("")
            if not info.key.endswith("/") and options.filters.matches(info.key)}


def _missing_source(source: str, options: SyncOptions) -> None:
    from ..io.redact import redact

    message = f"{redact(source)}: no such file, folder, object or prefix"
    if options.fail_if_missing:
        raise ObjectNotFoundError(message)
    log.warning("%s; nothing to sync", message)


# ---- running decisions ---------------------------------------------------------------------------

def _apply(decision: Decision, src: Store, dst: Store, options: SyncOptions) -> ItemResult:
    """Carry out one decision (or, in a dry run, settle what it would be)."""
    item, kind, reason = decision.item, decision.kind, decision.reason
    if kind == "delete":
        if not options.dry_run:
            dst.delete(item.key)
        return ItemResult(item.key, "deleted", item.size, reason)
    assert decision.source is not None
    source: ObjectInfo = decision.source  # type: ignore[assignment]
    if kind == "verify":
        assert decision.destination is not None
        if same_content(src, source, dst, decision.destination):  # type: ignore[arg-type]
            kind, reason = "skip", "same content"
        else:
            kind, reason = "copy", "content differs"
    if kind == "copy" and not options.dry_run:
        written = copy_object(src, source, dst, item.target, part_size=options.part_size)
        log.debug("copied %s (%d bytes)", source.url, item.size)
        if options.move:
            _prove_copy(src, source, dst, written)
    moved = options.move and not options.dry_run
    if moved:
        src.delete(item.key)
    action = "copied" if kind == "copy" else "skipped"
    return ItemResult(item.key, action, item.size, reason, item.dest_key, moved)


def _prove_copy(src: Store, source: ObjectInfo, dst: Store, written: ObjectInfo) -> None:
    """Before ``--move`` deletes a source: the copy must hold the same bytes, not only as many.

    A copy corrupted on its way (a broken proxy, bad memory) has the right size; deleting
    the source would leave only the corrupt copy. Such a copy is removed (it is wrong
    where a complete object is expected) and the source kept.
    """
    if same_content(src, source, dst, written):
        return
    try:
        dst.delete(written.key)
    except Bams3Error as exc:  # keep the integrity error; say what is left over
        log.error("could not delete the corrupt copy %s: %s", written.url, exc)
    raise IntegrityError(f"{written.url}: the copy of {source.url} differs from it (corrupted in transfer?); "
                         "the source was not deleted")


@dataclass(frozen=True)
class _Task:
    """One object's work, run on a worker thread."""

    item: SyncItem
    run: Callable[[], ItemResult]


def _execute(tasks: list[_Task], options: SyncOptions, *, label: str, show_progress: bool
             ) -> tuple[list[ItemResult], BaseException | None]:
    """Run tasks on ``options.jobs`` threads; stop at the first failure unless partial failure is allowed.

    "Stop" means no task starts after a failure: the failing worker raises a flag that
    every worker checks before it starts the next task (cancelling queued futures from
    the main thread alone would let a fast worker slip in one more).
    """
    results: list[ItemResult] = []
    first_error: BaseException | None = None
    if not tasks:
        return results, None
    stop = threading.Event()

    def guarded(task: _Task) -> ItemResult | None:
        if stop.is_set():
            return None  # never started
        try:
            return task.run()
        except ITEM_ERRORS:
            if not options.allow_partial_failure:
                stop.set()
            raise

    total = sum(task.item.size for task in tasks)
    pool = ThreadPoolExecutor(max_workers=options.jobs, thread_name_prefix="bams3-sync")
    try:
        with progress(label, total=total, unit="B", enabled=show_progress) as bar:
            futures: dict[Future[ItemResult | None], _Task] = {pool.submit(guarded, task): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                try:
                    result = future.result()
                except CancelledError:
                    continue
                except ITEM_ERRORS as exc:
                    from ..io.redact import redact_text

                    log.info("failed: %s", exc)  # the report and the final error line carry it
                    result = ItemResult(task.item.key, "failed", task.item.size, redact_text(str(exc)),
                                        task.item.dest_key)
                    if first_error is None:
                        first_error = exc
                if result is not None:
                    results.append(result)
                    bar.update(task.item.size)
    finally:
        stop.set()  # also on KeyboardInterrupt: start nothing more, let running transfers end
        pool.shutdown(wait=True, cancel_futures=True)
    return results, first_error


def _run_decisions(decisions: Iterable[Decision], src: Store, dst: Store, options: SyncOptions, *,
                   label: str, show_progress: bool) -> tuple[list[ItemResult], BaseException | None]:
    """Skips are settled at once; copies, verifications and moves run in parallel; deletions last."""
    results: list[ItemResult] = []
    transfers: list[_Task] = []
    deletions: list[_Task] = []
    for decision in decisions:
        if decision.kind == "skip" and not options.move:
            results.append(ItemResult(decision.item.key, "skipped", decision.item.size, decision.reason,
                                      decision.item.dest_key))
            continue
        task = _Task(decision.item, lambda d=decision: _apply(d, src, dst, options))
        (deletions if decision.kind == "delete" else transfers).append(task)
    done, error = _execute(transfers, options, label=label, show_progress=show_progress)
    results += done
    if deletions and error is None:
        done, error = _execute(deletions, options, label=f"{label} (deleting)", show_progress=False)
        results += done
    elif deletions:
        log.warning("not deleting %d destination object(s): a copy failed", len(deletions))
    results.sort(key=lambda r: r.key)
    return results, error


def _finish(report: SyncReport, error: BaseException | None, options: SyncOptions) -> SyncReport:
    if error is None or options.allow_partial_failure:
        return report
    summary = ", ".join(f"{a} {report.count(a)}" for a in ("copied", "skipped", "deleted"))
    exit_code = error.exit_code if isinstance(error, Bams3Error) else 1
    raise SyncFailedError(f"{error} (stopped at the first failure; {summary}; a rerun resumes)", report,
                          exit_code) from error


def _label(source: str, destination: str) -> str:
    from ..io.redact import redact

    return f"sync {redact(source)} -> {redact(destination)}"


# ---- the operations ------------------------------------------------------------------------------

def sync(request: SyncRequest, *, show_progress: bool = True) -> SyncReport:
    """Make the destination hold what the source holds (``bams3 sync SRC DST``).

    Parameters
    ----------
    request
        Source, destination and options (see :class:`SyncOptions`).
    show_progress
        Report progress on stderr (a bar on a terminal, log lines otherwise).

    Returns
    -------
    SyncReport
        Every object copied, skipped, deleted or (with ``allow_partial_failure``) failed.

    Raises
    ------
    SyncFailedError
        An object failed and partial failure is not allowed; ``.report`` has the rest.
    bams3.errors.ObjectNotFoundError
        The source is missing and ``fail_if_missing`` is set.
    bams3.errors.UsageError
        Source and destination overlap, ``delete`` with a single object, an http(s) URL.
    """
    from ..io.redact import redact
    from ..io.metrics import IO_STATS

    options = request.options
    source, destination = normalise_url(request.source), normalise_url(request.destination)
    with IO_STATS.scope() as scope:
        ends = resolve(source, destination)
        if ends.single is not None and options.delete:
            raise UsageError(f"{redact(source)} is one object: --delete applies to folders and prefixes")
        _check_not_nested(ends)
        pairs, missing = _source_objects(ends, options)
        if missing:
            _missing_source(source, options)
        targets = _destination_objects(ends, options)
        decisions = diff(pairs, targets, compare=options.skip_compare, delete=options.delete and not missing)
        results, error = _run_decisions(decisions, ends.src, ends.dst, options,
                                        label=_label(source, destination), show_progress=show_progress)
    report = SyncReport(redact(source), redact(destination), tuple(results), dry_run=options.dry_run,
                        io=scope.snapshot())
    return _finish(report, error, options)


def plan(request: PlanRequest) -> SyncPlan:
    """Split a sync into batches of at most ``batch_bytes`` (``bams3 sync plan``).

    Objects already identical at the destination (by the cheap comparisons: size and
    time, or size) are left out; with content comparison every object of equal size goes
    into a batch and is verified when the batch runs. The batches come from
    :func:`~bams3.sync._pack.first_fit_decreasing`.
    """
    options = request.options
    source, destination = normalise_url(request.source), normalise_url(request.destination)
    ends = resolve(source, destination)
    _check_not_nested(ends)
    pairs, missing = _source_objects(ends, options)
    if missing:
        _missing_source(source, options)
    decisions = diff(pairs, _destination_objects(ends, options), compare=options.skip_compare, delete=False)
    todo = [d.item for d in decisions if d.kind != "skip"]
    skipped = [d.item for d in decisions if d.kind == "skip"]
    bins = first_fit_decreasing([item.size for item in todo], request.batch_bytes)
    batches = tuple(Batch(n, tuple(todo[i] for i in members)) for n, members in enumerate(bins))
    return SyncPlan(ends.source_root, ends.destination_root, request.batch_bytes, options, batches,
                    len(skipped), sum(item.size for item in skipped))


def _batch_task(item: SyncItem, src: Store, dst: Store, options: SyncOptions) -> ItemResult:
    """Stat both sides of one planned object, decide again, and act: plans may be stale."""
    info = src.stat(item.key)
    if info is None:
        log.warning("%s: no longer in the source; skipped", src.key_url(item.key))
        return ItemResult(item.key, "skipped", item.size, "no longer in the source", item.dest_key)
    decision = decide(item, info, dst.stat(item.target), options.skip_compare)
    if decision.kind == "skip" and not options.move:
        return ItemResult(item.key, "skipped", item.size, decision.reason, item.dest_key)
    return _apply(decision, src, dst, options)


def run_batch(request: BatchSyncRequest, *, show_progress: bool = True) -> SyncReport:
    """Run one batch of a plan (``bams3 sync batch PLAN --index K``).

    Each object is checked again before it is copied, so running a batch twice, or after
    a partial failure, copies only what is still missing or changed.

    Raises
    ------
    SyncFailedError
        As :func:`sync`.
    """
    from ..io import open_store, redact
    from ..io.metrics import IO_STATS

    options = request.options
    with IO_STATS.scope() as scope:
        src, dst = open_store(request.source), open_store(request.destination)
        tasks = [_Task(item, lambda item=item: _batch_task(item, src, dst, options)) for item in request.items]
        label = _label(request.source, request.destination)
        if request.index is not None:
            label += f" (batch {request.index})"
        results, error = _execute(tasks, options, label=label, show_progress=show_progress)
    results.sort(key=lambda r: r.key)
    report = SyncReport(redact(request.source), redact(request.destination), tuple(results),
                        dry_run=options.dry_run, batch_index=request.index, io=scope.snapshot())
    return _finish(report, error, options)
