"""Every change to the cursor, as pure functions from one state to the next.

The cursor is updated by compare-and-swap (:meth:`bams3.watch.cursor.Cursor.update`): a
change computed on generation N is recomputed on N+1 when another watcher wrote first. So
nothing here does I/O or reads the clock; time comes in as ``now``. That also makes each
rule testable on its own.

The rules:

- A BAM seen for the first time is ``waiting``. It becomes ``pending`` once two listings
  in a row saw the same size and ETag (an upload in progress changes between them), and,
  with ``require_index``, an index at least as new as the BAM.
- Pending BAMs are claimed in first-seen order, ``max_batch`` to a run, by writing a
  :class:`~bams3.watch.state.Run` with a lease into the cursor: the claim and the state
  change are one atomic write, so two watchers never claim the same BAM.
- A run that succeeds marks its BAMs ``done``. A run of several BAMs that fails (or is
  abandoned) does not count against any of them: each is retried alone, so one bad BAM
  cannot use up the attempts of the good ones batched with it. A BAM that fails alone is
  retried until ``max_attempts``, then ``failed`` and left alone until reset.
- A run whose lease expired (its watcher was killed, or lost the store) is ``abandoned``.
- Sample names are unique among pending, running and done BAMs (they name the outputs):
  a BAM whose name is taken fails at once, without a run.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from ..errors import UsageError
from .sources import Candidate, Listing
from .state import Attempt, CursorState, Item, ItemKey, Outcome, Run, Seen, format_time

__all__ = ["observe", "expire_runs", "finish_run", "renew_runs", "claim", "reset_items", "ACTIVE_STATES"]

#: states whose BAM owns its sample name
ACTIVE_STATES = frozenset({"pending", "running", "done"})

NEW = "new; waiting for a second listing that sees it unchanged"
CHANGING = "size or ETag changed between two listings (upload in progress?)"
NO_INDEX = "waiting for an index (.bai/.csi) next to it"
OLD_INDEX = "waiting: its index is older than the BAM"
CHANGED = "changed since it was processed"


def _index_wait(seen: Seen, *, require_index: bool) -> str:
    """Why a stable BAM still waits for its index ("" when it need not)."""
    if not require_index:
        return ""
    if seen.index is None:
        return NO_INDEX
    if seen.index.mtime is not None and seen.bam.mtime is not None and seen.index.mtime < seen.bam.mtime:
        return OLD_INDEX
    return ""


def _owners(items: Mapping[ItemKey, Item]) -> dict[str, ItemKey]:
    return {i.sample: i.key for i in items.values() if i.state in ACTIVE_STATES}


def _observe_one(item: Item | None, found: Candidate, source: str, *, now: float, require_index: bool,
                 reprocess_changed: bool) -> Item | None:
    """The item after a listing saw ``found`` (None: unchanged); without the name check."""
    index = found.index_key
    if item is None:
        return Item(source=source, bam=found.key, sample=found.sample, state="waiting", seen=found.seen,
                    first_seen=now, updated=now, index=index, reason=NEW)
    if item.state == "waiting":
        if not item.seen.same(found.seen):
            return replace(item, seen=found.seen, sample=found.sample, index=index, reason=CHANGING, updated=now)
        wait = _index_wait(found.seen, require_index=require_index)
        if wait:
            return None if wait == item.reason else replace(item, reason=wait, updated=now)
        return replace(item, state="pending", sample=found.sample, index=index, reason="", updated=now)
    if item.state == "pending" and not item.seen.same(found.seen):
        return replace(item, state="waiting", seen=found.seen, index=index, reason=CHANGING, updated=now)
    if item.state in ("done", "failed") and reprocess_changed:
        processed = item.processed if item.state == "done" else item.seen.bam
        if not found.seen.bam.same(processed):
            return replace(item, state="waiting", seen=found.seen, sample=found.sample, index=index, attempts=0,
                           alone=False, reason=CHANGED, updated=now)
    return None


def observe(state: CursorState, listings: Iterable[Listing], *, now: float, require_index: bool,
            reprocess_changed: bool) -> tuple[CursorState, int]:
    """Merge what the sources hold now into the state.

    New BAMs become ``waiting``; waiting BAMs seen unchanged become ``pending``; BAMs that
    vanished while waiting or pending are forgotten (a processed BAM's record stays).
    Sources whose listing failed are left untouched.

    Returns
    -------
    (CursorState, int)
        The new state and how many BAMs were seen for the first time.
    """
    items = dict(state.items)
    owners = _owners(items)
    new = 0
    for listing in listings:
        if listing.error is not None:
            continue
        present: set[ItemKey] = set()
        for found in listing.candidates:
            key = (listing.source, found.key)
            present.add(key)
            before = items.get(key)
            after = _observe_one(before, found, listing.source, now=now, require_index=require_index,
                                 reprocess_changed=reprocess_changed)
            if after is None:
                continue
            new += before is None
            if after.state == "pending" and (before is None or before.state != "pending"):
                owner = owners.get(after.sample)
                if owner is not None and owner != key:
                    after = replace(after, state="failed", reason=(
                        f"sample name {after.sample!r} is already used by {owner[1]} (source {owner[0]}); "
                        "name it differently, or --reset the other one"))
                else:
                    owners[after.sample] = key
            items[key] = after
        for key, item in list(items.items()):
            if key[0] == listing.source and key not in present and item.state in ("waiting", "pending"):
                if owners.get(item.sample) == key:
                    del owners[item.sample]
                del items[key]
    return replace(state, items=items), new


def finish_run(state: CursorState, run_id: str, outcome: Outcome, detail: str, *, now: float,
               max_attempts: int) -> CursorState:
    """Record how run ``run_id`` ended and release its claim (no change if the run is not
    in the cursor any more: it was declared abandoned and possibly claimed again)."""
    run = state.runs.get(run_id)
    if run is None:
        return state
    items = dict(state.items)
    batch = len(run.items)
    for key in run.items:
        item = items.get(key)
        if item is None or item.state != "running" or item.run != run_id:
            continue
        item = item.with_attempt(Attempt(run_id, run.started, now, outcome, detail))
        if outcome == "succeeded":
            item = replace(item, state="done", attempts=item.attempts + 1, processed=item.seen.bam, reason="",
                           alone=False)
        elif outcome == "interrupted":
            item = replace(item, state="pending", reason=f"run {run_id} was interrupted ({detail}); it will run again")
        elif batch > 1:
            item = replace(item, state="pending", alone=True,
                           reason=f"run {run_id} of {batch} BAMs {outcome} ({detail}); retrying this one alone")
        elif item.attempts + 1 >= max_attempts:
            item = replace(item, state="failed", attempts=item.attempts + 1, reason=(
                f"{outcome} {item.attempts + 1} time(s), last in run {run_id} ({detail}); "
                f"fix it, then: bams3 watch --reset {item.sample}"))
        else:
            item = replace(item, state="pending", attempts=item.attempts + 1,
                           reason=f"attempt {item.attempts + 1} of {max_attempts} {outcome} ({detail}); retrying")
        items[key] = replace(item, updated=now)
    runs = {rid: r for rid, r in state.runs.items() if rid != run_id}
    return replace(state, items=items, runs=runs)


def expire_runs(state: CursorState, *, now: float, max_attempts: int) -> CursorState:
    """Declare abandoned every run whose lease has expired, and give its BAMs back."""
    for run in sorted(state.runs.values(), key=lambda r: r.id):
        if run.expires <= now:
            detail = f"watcher {run.watcher} stopped renewing its lease at {format_time(run.expires)}"
            state = finish_run(state, run.id, "abandoned", detail, now=now, max_attempts=max_attempts)
    return state


def renew_runs(state: CursorState, run_ids: Iterable[str], *, watcher: str,
               expires: float) -> tuple[CursorState, frozenset[str]]:
    """Extend the leases of this watcher's runs.

    Returns
    -------
    (CursorState, frozenset of str)
        The new state, and the runs this watcher no longer holds (declared abandoned by
        another watcher while this one could not renew): their processes must stop.
    """
    runs = dict(state.runs)
    lost = set()
    for run_id in run_ids:
        run = runs.get(run_id)
        if run is None or run.watcher != watcher:
            lost.add(run_id)
        elif run.expires < expires:
            runs[run_id] = replace(run, expires=expires)
    return replace(state, runs=runs), frozenset(lost)


def claim(state: CursorState, available: Mapping[ItemKey, Candidate], *, watcher: str, now: float, lease: float,
          max_batch: int, slots: int, new_run: Callable[[], tuple[str, str]]) -> tuple[CursorState, list[Run]]:
    """Claim pending BAMs for up to ``slots`` new runs of up to ``max_batch`` BAMs.

    Only BAMs in ``available`` (this tick's listings, which hold the URLs a run needs) are
    claimed, oldest first; BAMs to be retried alone get a run each.

    Parameters
    ----------
    new_run
        Returns a fresh run id and the path of its log.
    """
    pending = sorted((i for i in state.items.values() if i.state == "pending" and i.key in available),
                     key=lambda i: (i.first_seen, i.key))
    batches: list[list[Item]] = []
    shared: list[Item] | None = None
    for item in pending:
        if item.alone:
            if len(batches) < slots:
                batches.append([item])
        elif shared is not None and len(shared) < max_batch:
            shared.append(item)
        elif len(batches) < slots:
            shared = [item]
            batches.append(shared)
    if not batches:
        return state, []
    items = dict(state.items)
    runs = dict(state.runs)
    started = []
    for batch in batches:
        run_id, log = new_run()
        run = Run(run_id, watcher, now, now + lease, tuple(i.key for i in batch), log)
        runs[run_id] = run
        started.append(run)
        for item in batch:
            items[item.key] = replace(item, state="running", run=run_id, reason="", updated=now)
    return replace(state, items=items, runs=runs), started


def _matches(item: Item, name: str) -> bool:
    return name in (item.sample, item.bam) or (item.source == name and item.state == "failed")


def reset_items(state: CursorState, names: Iterable[str], *, now: float) -> tuple[CursorState, list[Item]]:
    """Forget the BAMs named by sample name or BAM URL (any state but running), and the
    failed BAMs of sources named: the next tick sees them as new.

    Raises
    ------
    bams3.errors.UsageError
        A name matches nothing, or a BAM that a live run is processing.
    """
    items = dict(state.items)
    removed: list[Item] = []
    for name in names:
        matched = [i for i in items.values() if _matches(i, name)]
        if not matched:
            raise UsageError(f"--reset {name}: no BAM in the cursor has this sample name or URL, "
                             "and no source of that name has failed BAMs")
        for item in matched:
            run = state.runs.get(item.run or "") if item.state == "running" else None
            if run is not None and run.expires > now:
                raise UsageError(f"--reset {name}: {item.bam} is being processed by run {run.id} "
                                 f"(watcher {run.watcher}); wait for it to finish")
            removed.append(items.pop(item.key))
    return replace(state, items=items), removed
