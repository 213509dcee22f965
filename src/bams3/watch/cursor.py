"""The durable cursor: a compare-and-swap register built from create-only writes.

Several watchers (on one machine or many) may share a cursor, so every change must be
a compare-and-swap: "write state N+1 only if the cursor is still at N". S3 offers
create-only puts (``If-None-Match: *``) and :mod:`bams3.io` exposes them as
``put(mode="create")`` (on disk: an exclusive link); it has no ETag-conditional
overwrite. So the cursor is a folder or prefix of numbered generations::

    <cursor>/cursor.000000000041.json
    <cursor>/cursor.000000000042.json      <- the current state: the highest number

Writing generation N+1 with ``mode="create"`` succeeds for exactly one writer; the others
get :class:`~bams3.errors.PreconditionFailedError`, read N+1 and apply their change to it
(the change is a pure function of the state, :mod:`bams3.watch.transitions`). Each write
is one atomic object, so a crash at any moment leaves either generation N or N+1, never a
torn file. Old generations are deleted once :data:`KEEP_GENERATIONS` newer ones exist
(they remain for a while as a trail to debug with).

A create-only put whose answer was lost and then retried reports "already exists" although
it succeeded; every generation records a unique ``token`` of its write, so the writer can
recognise its own object and not mistake its success for a lost race.
"""
from __future__ import annotations

import logging
import random
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import Bams3Error, InputFormatError, PreconditionFailedError
from ..jsondocs import dump_json, parse_json
from .state import CURSOR_FORMAT, CURSOR_VERSION, CursorState, format_time, parse_time

if TYPE_CHECKING:
    from ..io import Store

__all__ = ["Cursor", "Snapshot", "open_cursor", "KEEP_GENERATIONS"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: generations kept behind the current one
KEEP_GENERATIONS = 20
#: compare-and-swap attempts before giving up (each lost race means another writer made progress)
MAX_SWAP_ATTEMPTS = 50
_NAME = re.compile(r"^cursor\.(\d{12})\.json$")
_PREFIX = "cursor."


def _generation_key(generation: int) -> str:
    return f"{_PREFIX}{generation:012d}.json"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One generation of the cursor as read: its number (0: nothing written yet), its state,
    and the generations present when it was read (for pruning)."""

    generation: int
    state: CursorState
    written: float | None = None
    present: tuple[int, ...] = ()


class Cursor:
    """The cursor stored under one folder or prefix (see the module docstring).

    Parameters
    ----------
    store
        The store rooted at the cursor's folder/prefix (``open_store(url)``).
    keep
        Generations kept behind the current one.
    """

    def __init__(self, store: Store, *, keep: int = KEEP_GENERATIONS) -> None:
        self.store = store
        self.keep = keep

    @property
    def url(self) -> str:
        """The cursor's (redacted) URL, for messages."""
        return self.store.url

    # ----------------------------------------------------------------- reading

    def _generations(self) -> list[int]:
        found = []
        for info in self.store.list(_PREFIX, recursive=False):
            match = _NAME.match(info.key)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def read(self) -> Snapshot:
        """The current state (an empty one, generation 0, if nothing was written yet).

        Raises
        ------
        bams3.errors.InputFormatError
            The current generation is not a cursor this version of bams3 can read.
        """
        for _ in range(MAX_SWAP_ATTEMPTS):
            present = self._generations()
            if not present:
                return Snapshot(0, CursorState())
            latest = present[-1]
            data = self.store.get(_generation_key(latest))
            if data is None:  # pruned between the listing and the read: many writes went by
                continue
            return self._parse(latest, data, tuple(present))
        raise PreconditionFailedError(f"{self.url}: the cursor changed too often to be read")

    def _parse(self, generation: int, data: bytes, present: tuple[int, ...]) -> Snapshot:
        where = self.store.key_url(_generation_key(generation))
        document = parse_json(data, where=where)
        if not isinstance(document, dict) or document.get("format") != CURSOR_FORMAT:
            raise InputFormatError(f"{where}: not a bams3 watch cursor")
        if document.get("version") != CURSOR_VERSION:
            raise InputFormatError(
                f"{where}: cursor version {document.get('version')!r} is not supported (this bams3 reads "
                f"version {CURSOR_VERSION})"
            )
        written = parse_time(document.get("written"), where=where)
        return Snapshot(generation, CursorState.from_json(document, where=where), written, present)

    # ----------------------------------------------------------------- writing

    def update(self, change: Callable[[CursorState], tuple[CursorState, T]]) -> tuple[Snapshot, T]:
        """Apply ``change`` to the current state and store the result, atomically.

        ``change`` must be a pure function of the state it is given: when another writer
        stored a generation first, it is called again on that newer state. When it
        returns a state equal to the one it was given, nothing is written.

        Returns
        -------
        (Snapshot, T)
            The generation now current and what the successful call of ``change`` returned.

        Raises
        ------
        bams3.errors.PreconditionFailedError
            Other writers won :data:`MAX_SWAP_ATTEMPTS` races in a row.
        """
        for attempt in range(MAX_SWAP_ATTEMPTS):
            snapshot = self.read()
            state, result = change(snapshot.state)
            if state == snapshot.state:
                return snapshot, result
            generation = snapshot.generation + 1
            token = secrets.token_hex(8)
            now = time.time()
            data = dump_json(self._document(generation, state, token, now), where=self.url)
            try:
                self.store.put(_generation_key(generation), data, mode="create")
            except PreconditionFailedError:
                if not self._written_by(generation, token):
                    log.debug("cursor %s: generation %d was written by another watcher; retrying", self.url, generation)
                    time.sleep(random.uniform(0, 0.05 * min(attempt + 1, 10)))  # spread racing writers apart
                    continue
            self._prune(generation, snapshot.present)
            return Snapshot(generation, state, now, (*snapshot.present, generation)), result
        raise PreconditionFailedError(
            f"{self.url}: lost {MAX_SWAP_ATTEMPTS} cursor updates in a row to other watchers; try again"
        )

    @staticmethod
    def _document(generation: int, state: CursorState, token: str, now: float) -> dict[str, Any]:
        return {
            "format": CURSOR_FORMAT,
            "version": CURSOR_VERSION,
            "generation": generation,
            "written": format_time(now),
            "writer": socket.gethostname(),
            "token": token,
            **state.to_json(),
        }

    def _written_by(self, generation: int, token: str) -> bool:
        """Whether generation ``generation`` holds our write (a retried put whose first try
        had succeeded but whose answer was lost)."""
        data = self.store.get(_generation_key(generation))
        if data is None:
            return False
        try:
            document = parse_json(data, where=self.url)
        except InputFormatError:
            return False
        return isinstance(document, dict) and document.get("token") == token

    def _prune(self, generation: int, present: tuple[int, ...]) -> None:
        """Delete generations more than :attr:`keep` behind ``generation`` (best effort:
        a failure only leaves an old file behind)."""
        for old in present:
            if old <= generation - self.keep - 1:
                try:
                    self.store.delete(_generation_key(old))
                except Bams3Error as exc:
                    log.warning("cursor %s: could not delete an old generation: %s", self.url, exc)


def open_cursor(url: str, **store_options: Any) -> Cursor:
    """The cursor at ``url``: a local folder, ``file://`` URL or ``s3://bucket/prefix``.

    The folder is created on the first write; ``store_options`` go to
    :func:`bams3.io.open_store` (an ``endpoint_url``, say).
    """
    from ..io import open_store

    return Cursor(open_store(url, **store_options))
