"""``bams3 watch --status``: the cursor as a table for people, or as JSON for programs."""
from __future__ import annotations

from typing import Any

from .cursor import Snapshot
from .state import CursorState, Item, format_time

__all__ = ["status_table", "status_json"]


def _note(item: Item, state: CursorState, now: float) -> str:
    if item.state == "running":
        run = state.runs.get(item.run or "")
        if run is None or run.expires <= now:
            return "its run's lease has expired: the next tick retries it"
    return item.reason


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[n]) for r in rows)) if rows else len(h) for n, h in enumerate(header)]
    out = []
    for row in [header, *rows]:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return out


def status_table(snapshot: Snapshot, *, url: str, now: float) -> str:
    """The cursor as text: a summary line, one row per BAM, then the runs going."""
    state = snapshot.state
    counts = state.counts()
    written = "never written" if snapshot.written is None else f"written {format_time(snapshot.written)}"
    lines = [f"cursor {url} (generation {snapshot.generation}, {written}): "
             + ", ".join(f"{n} {name}" for name, n in counts.items())]
    if state.items:
        rows = [[i.sample, i.state, str(i.attempts), format_time(i.updated), i.run or "-", i.source, i.bam,
                 _note(i, state, now)]
                for i in sorted(state.items.values(), key=lambda i: (i.source, i.first_seen, i.bam))]
        lines += ["", *_table(["SAMPLE", "STATE", "ATTEMPTS", "UPDATED", "RUN", "SOURCE", "BAM", "NOTE"], rows)]
    if state.runs:
        rows = [[r.id, r.watcher, format_time(r.started), format_time(r.expires) + (" (expired)" if r.expires <= now
                 else ""), ", ".join(state.items[k].sample for k in r.items if k in state.items), r.log]
                for r in sorted(state.runs.values(), key=lambda r: r.id)]
        lines += ["", *_table(["RUN", "WATCHER", "STARTED", "LEASE UNTIL", "SAMPLES", "LOG"], rows)]
    return "\n".join(lines)


def status_json(snapshot: Snapshot, *, url: str) -> dict[str, Any]:
    """The cursor's current generation as a JSON document (its stored form, with counts)."""
    return {
        "cursor": url,
        "generation": snapshot.generation,
        "written": None if snapshot.written is None else format_time(snapshot.written),
        "counts": snapshot.state.counts(),
        **snapshot.state.to_json(),
    }
