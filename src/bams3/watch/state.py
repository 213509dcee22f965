"""The cursor's content: what the watcher knows about every BAM it has seen, as values.

One :class:`CursorState` is one generation of the cursor (see :mod:`bams3.watch.cursor`).
Every change is a pure function from one state to the next (:mod:`bams3.watch.transitions`),
so that a compare-and-swap update can re-apply it to a newer state when another watcher
wrote first. The JSON form is for people too (``bams3 watch --status --json`` prints it):
times are ISO 8601 UTC, items are sorted, and nothing secret is stored (BAM URLs are
kept redacted; the signed URL a run needs comes from the source listing of that tick).

Life of an item::

    waiting --(same size/ETag in two listings, index ready)--> pending --(claimed)--> running
    running --(run succeeded)--> done
    running --(run failed, or its lease expired)--> pending (attempts < max) | failed
    done/failed --(changed, with reprocess_changed)--> waiting;  any --(--reset)--> forgotten
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from ..errors import InputFormatError

__all__ = [
    "CURSOR_FORMAT",
    "CURSOR_VERSION",
    "ItemState",
    "Outcome",
    "ItemKey",
    "Version",
    "Seen",
    "Attempt",
    "Item",
    "Run",
    "CursorState",
    "format_time",
    "parse_time",
]

CURSOR_FORMAT = "bams3.watch-cursor"
CURSOR_VERSION = 1

ItemState = Literal["waiting", "pending", "running", "done", "failed"]
#: how one run ended for its items: ``abandoned`` when its watcher stopped renewing the
#: lease (killed, machine lost); ``interrupted`` when the watcher was asked to stop (does
#: not count as an attempt)
Outcome = Literal["succeeded", "failed", "abandoned", "interrupted"]
#: (source name, redacted BAM URL): an item's identity
ItemKey = tuple[str, str]

#: most attempts remembered per item (older ones are dropped)
HISTORY_LIMIT = 10


def format_time(t: float) -> str:
    """Epoch seconds -> ``2026-01-02T03:04:05.678Z`` (what the cursor stores)."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: Any, *, where: str) -> float:
    """The inverse of :func:`format_time`; one-line error naming ``where`` otherwise."""
    if not isinstance(text, str):
        raise InputFormatError(f"{where}: expected an ISO 8601 time, got {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputFormatError(f"{where}: not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _field(data: Any, name: str, kind: type | tuple[type, ...], where: str, *, optional: bool = False) -> Any:
    if not isinstance(data, Mapping):
        raise InputFormatError(f"{where}: expected a JSON object")
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):  # the cursor has no booleans
        raise InputFormatError(f"{where}: field {name!r} is missing or of the wrong type")
    return value


@dataclass(frozen=True, slots=True)
class Version:
    """What tells one version of an object from another: size, ETag, modification time."""

    size: int
    etag: str | None = None
    mtime: float | None = None

    def same(self, other: Version | None) -> bool:
        """Whether ``other`` is the same content: equal sizes, and equal ETags when both
        have one, else equal modification times (S3 listings and HEAD report times at
        different precision, ETags identically)."""
        if other is None or self.size != other.size:
            return False
        if self.etag is not None and other.etag is not None:
            return self.etag == other.etag
        return self.mtime == other.mtime

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "etag": self.etag, "mtime": self.mtime}

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Version:
        mtime = _field(data, "mtime", (int, float), where, optional=True)
        return cls(_field(data, "size", int, where), _field(data, "etag", str, where, optional=True),
                   None if mtime is None else float(mtime))


@dataclass(frozen=True, slots=True)
class Seen:
    """A BAM as one listing saw it: its version and its index's (None: no index found)."""

    bam: Version
    index: Version | None = None

    def same(self, other: Seen | None) -> bool:
        """Whether nothing changed between two listings (the upload-in-progress check)."""
        if other is None or not self.bam.same(other.bam):
            return False
        if self.index is None or other.index is None:
            return self.index is None and other.index is None
        return self.index.same(other.index)

    def to_json(self) -> dict[str, Any]:
        return {"bam": self.bam.to_json(), "index": None if self.index is None else self.index.to_json()}

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Seen:
        index = _field(data, "index", dict, where, optional=True)
        return cls(Version.from_json(_field(data, "bam", dict, where), where=f"{where} bam"),
                   None if index is None else Version.from_json(index, where=f"{where} index"))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of one item: which run, when, and how it ended."""

    run: str
    started: float
    finished: float
    outcome: Outcome
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "started": format_time(self.started), "finished": format_time(self.finished),
                "outcome": self.outcome, "detail": self.detail}

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Attempt:
        outcome = _field(data, "outcome", str, where)
        if outcome not in get_args(Outcome):
            raise InputFormatError(f"{where}: unknown outcome {outcome!r}")
        return cls(_field(data, "run", str, where), parse_time(_field(data, "started", str, where), where=where),
                   parse_time(_field(data, "finished", str, where), where=where), outcome,
                   _field(data, "detail", str, where, optional=True) or "")


@dataclass(frozen=True, slots=True)
class Item:
    """One BAM of one source.

    Attributes
    ----------
    source, bam
        The source's name and the BAM's redacted URL: together the item's identity.
    sample
        The sample name its runs use (unique among pending, running and done items).
    index
        The index found next to the BAM (redacted URL), if any.
    state
        See the module docstring.
    seen
        The last listing's view of the BAM and its index.
    first_seen, updated
        When the item was first listed, and when its record last changed.
    attempts
        Runs started for the current version (reset when a changed BAM is reprocessed).
    run
        The run working on it (``running``) or the last one that did.
    processed
        The BAM version the last successful run processed.
    reason
        Why the item waits or failed, for people.
    alone
        Its next run holds only this BAM (a run of several that it was part of failed).
    history
        The last :data:`HISTORY_LIMIT` attempts.
    """

    source: str
    bam: str
    sample: str
    state: ItemState
    seen: Seen
    first_seen: float
    updated: float
    index: str | None = None
    attempts: int = 0
    run: str | None = None
    processed: Version | None = None
    reason: str = ""
    alone: bool = False
    history: tuple[Attempt, ...] = ()

    @property
    def key(self) -> ItemKey:
        return (self.source, self.bam)

    def with_attempt(self, attempt: Attempt) -> Item:
        """This item with ``attempt`` added to its history (oldest dropped past the limit)."""
        return replace(self, history=(*self.history, attempt)[-HISTORY_LIMIT:])

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "bam": self.bam, "sample": self.sample, "index": self.index,
            "state": self.state, "attempts": self.attempts, "run": self.run, "reason": self.reason,
            "alone": self.alone,
            "first_seen": format_time(self.first_seen), "updated": format_time(self.updated),
            "seen": self.seen.to_json(),
            "processed": None if self.processed is None else self.processed.to_json(),
            "history": [a.to_json() for a in self.history],
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Item:
        state = _field(data, "state", str, where)
        if state not in get_args(ItemState):
            raise InputFormatError(f"{where}: unknown state {state!r}")
        processed = _field(data, "processed", dict, where, optional=True)
        history = _field(data, "history", list, where, optional=True) or []
        return cls(
            source=_field(data, "source", str, where),
            bam=_field(data, "bam", str, where),
            sample=_field(data, "sample", str, where),
            state=state,
            seen=Seen.from_json(_field(data, "seen", dict, where), where=f"{where} seen"),
            first_seen=parse_time(_field(data, "first_seen", str, where), where=where),
            updated=parse_time(_field(data, "updated", str, where), where=where),
            index=_field(data, "index", str, where, optional=True),
            attempts=_field(data, "attempts", int, where),
            run=_field(data, "run", str, where, optional=True),
            processed=None if processed is None else Version.from_json(processed, where=f"{where} processed"),
            reason=_field(data, "reason", str, where, optional=True) or "",
            alone=data.get("alone") is True,
            history=tuple(Attempt.from_json(a, where=f"{where} history") for a in history),
        )


@dataclass(frozen=True, slots=True)
class Run:
    """A workflow run some watcher started, and the lease that says it is still alive.

    The watcher renews ``expires`` while the run goes on; once it has passed, any watcher
    may declare the run abandoned and give its items back (see
    :func:`bams3.watch.transitions.expire_runs`).
    """

    id: str
    watcher: str
    started: float
    expires: float
    items: tuple[ItemKey, ...]
    log: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "watcher": self.watcher, "started": format_time(self.started),
                "expires": format_time(self.expires), "items": [list(k) for k in self.items], "log": self.log}

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> Run:
        keys = _field(data, "items", list, where)
        if not all(isinstance(k, list) and len(k) == 2 and all(isinstance(p, str) for p in k) for k in keys):
            raise InputFormatError(f"{where}: field 'items' must list [source, bam] pairs")
        return cls(_field(data, "id", str, where), _field(data, "watcher", str, where),
                   parse_time(_field(data, "started", str, where), where=where),
                   parse_time(_field(data, "expires", str, where), where=where),
                   tuple((k[0], k[1]) for k in keys), _field(data, "log", str, where, optional=True) or "")


@dataclass(frozen=True, slots=True)
class CursorState:
    """Everything one cursor generation records. Treat the mappings as read-only:
    transitions build new ones."""

    items: Mapping[ItemKey, Item] = field(default_factory=dict)
    runs: Mapping[str, Run] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "items": [self.items[k].to_json() for k in sorted(self.items)],
            "runs": [self.runs[r].to_json() for r in sorted(self.runs)],
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> CursorState:
        items = [Item.from_json(d, where=f"{where} item {n}") for n, d in enumerate(_field(data, "items", list, where))]
        runs = [Run.from_json(d, where=f"{where} run {n}") for n, d in enumerate(_field(data, "runs", list, where))]
        return cls({i.key: i for i in items}, {r.id: r for r in runs})

    def counts(self) -> dict[str, int]:
        """Items per state, every state present (for the tick line and the status)."""
        out = {state: 0 for state in get_args(ItemState)}
        for item in self.items.values():
            out[item.state] += 1
        return out
