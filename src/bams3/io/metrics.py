"""Request and byte accounting for every object access.

One process-wide, thread-safe :data:`IO_STATS` counts, per ``(scheme, operation)``,
the requests sent (every attempt, retries included), bytes received and sent, retries
and failed attempts. The counts are taken where the requests are made (inside the
backends' request loops), not by a wrapper around the store API: a single ``open_read``
issues many ranged GETs, a multipart upload many part PUTs, a listing many pages, and
what a user wants to compare against a counting proxy or a cloud bill is the number
of HTTP requests.

Operations used by the backends: ``stat``, ``get``, ``list``, ``put``, ``multipart``
(create / upload part / complete / abort), ``copy`` and ``delete``. Schemes: ``file``,
``memory``, ``s3``, ``http`` (https counts as http).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

__all__ = ["OpCounts", "IoStats", "IoScope", "IO_STATS"]


@dataclass(frozen=True, slots=True)
class OpCounts:
    """Counters of one ``(scheme, operation)`` pair (or a sum of several)."""

    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    retries: int = 0
    errors: int = 0

    def __add__(self, other: OpCounts) -> OpCounts:
        return OpCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __sub__(self, other: OpCounts) -> OpCounts:
        return OpCounts(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


_ZERO = OpCounts()
Key = tuple[str, str]


def _nest(flat: dict[Key, OpCounts]) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (scheme, op), counts in sorted(flat.items()):
        if counts != _ZERO:
            out.setdefault(scheme, {})[op] = counts.as_dict()
    return out


def _sum(flat: dict[Key, OpCounts], scheme: str | None, op: str | None) -> OpCounts:
    total = _ZERO
    for (s, o), counts in flat.items():
        if (scheme is None or s == scheme) and (op is None or o == op):
            total = total + counts
    return total


class IoStats:
    """Thread-safe counters keyed by ``(scheme, operation)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Key, OpCounts] = {}

    def record(
        self,
        scheme: str,
        op: str,
        *,
        requests: int = 0,
        bytes_in: int = 0,
        bytes_out: int = 0,
        retries: int = 0,
        errors: int = 0,
    ) -> None:
        """Add to the counters of ``(scheme, op)``."""
        delta = OpCounts(requests, bytes_in, bytes_out, retries, errors)
        with self._lock:
            self._counts[(scheme, op)] = self._counts.get((scheme, op), _ZERO) + delta

    def _copy(self) -> dict[Key, OpCounts]:
        with self._lock:
            return dict(self._counts)

    def counts(self, scheme: str | None = None, op: str | None = None) -> OpCounts:
        """The counters summed over every pair matching ``scheme`` and ``op`` (None: any)."""
        return _sum(self._copy(), scheme, op)

    def snapshot(self) -> dict[str, dict[str, dict[str, int]]]:
        """A JSON-ready copy: ``{scheme: {operation: {"requests": n, "bytes_in": n, ...}}}``."""
        return _nest(self._copy())

    def reset(self) -> None:
        """Zero every counter (tests and benchmarks; prefer :meth:`scope` elsewhere)."""
        with self._lock:
            self._counts.clear()

    @contextmanager
    def scope(self) -> Iterator[IoScope]:
        """Measure one block of work: the yielded :class:`IoScope` holds the difference.

        The counters are process-wide, so work done by other threads during the block
        is included; in a job that does one thing at a time that is exactly the job.
        """
        scope = IoScope(self, self._copy())
        try:
            yield scope
        finally:
            scope._freeze()

    def format_table(self) -> str:
        """A small human-readable table of the counters (what ``--io-stats`` prints)."""
        return format_table(self._copy())


class IoScope:
    """The counters accumulated since a :meth:`IoStats.scope` began (frozen at its end)."""

    def __init__(self, stats: IoStats, start: dict[Key, OpCounts]) -> None:
        self._stats = stats
        self._start = start
        self._end: dict[Key, OpCounts] | None = None

    def _freeze(self) -> None:
        self._end = self._stats._copy()

    def _delta(self) -> dict[Key, OpCounts]:
        end = self._end if self._end is not None else self._stats._copy()
        return {k: v - self._start.get(k, _ZERO) for k, v in end.items()}

    def counts(self, scheme: str | None = None, op: str | None = None) -> OpCounts:
        """Like :meth:`IoStats.counts`, for the scope only."""
        return _sum(self._delta(), scheme, op)

    def snapshot(self) -> dict[str, dict[str, dict[str, int]]]:
        """Like :meth:`IoStats.snapshot`, for the scope only."""
        return _nest(self._delta())

    def format_table(self) -> str:
        return format_table(self._delta())


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_table(flat: dict[Key, OpCounts]) -> str:
    """Render counters as an aligned table with a total row."""
    header = ("scheme", "operation", "requests", "retries", "errors", "bytes in", "bytes out")
    rows = [
        (s, o, str(c.requests), str(c.retries), str(c.errors), _human_bytes(c.bytes_in), _human_bytes(c.bytes_out))
        for (s, o), c in sorted(flat.items())
        if c != _ZERO
    ]
    if not rows:
        return "I/O: no requests"
    total = _sum(flat, None, None)
    rows.append(
        ("total", "", str(total.requests), str(total.retries), str(total.errors),
         _human_bytes(total.bytes_in), _human_bytes(total.bytes_out))
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


#: the process-wide counters every backend records into
IO_STATS = IoStats()
