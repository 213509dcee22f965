"""An in-process store (``memory://name/prefix``) for unit tests and benchmarks.

Stores with the same name share their objects within one process, so code under test
can open ``memory://t/`` by URL while the test inspects the same objects. Writes are
atomic (an object appears at commit) and ``mode="create"`` is checked under a lock.
"""
from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from ..errors import ObjectNotFoundError, PreconditionFailedError
from .metrics import IO_STATS
from .ranges import ByteRequest, resolve_range
from .store import ObjectInfo, ObjectWriter, PutMode, Store

__all__ = ["MemoryStore"]

_SPACES: dict[str, dict[str, tuple[bytes, float, str]]] = {}
_LOCK = threading.Lock()


class MemoryStore(Store):
    """Objects in a process-wide dictionary named ``name``, under ``prefix``."""

    scheme = "memory"

    def __init__(self, name: str = "default", prefix: str = "") -> None:
        self.name = name
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        with _LOCK:
            self._objects = _SPACES.setdefault(name, {})

    @classmethod
    def clear(cls, name: str) -> None:
        """Forget every object of the space ``name``."""
        with _LOCK:
            _SPACES.get(name, {}).clear()

    def _identity(self) -> tuple[object, ...]:
        return (self.name, self.prefix)

    @property
    def url(self) -> str:
        return f"memory://{self.name}/{self.prefix}"

    def key_url(self, key: str) -> str:
        return f"memory://{self.name}/{self.prefix}{key}"

    def _info(self, key: str, entry: tuple[bytes, float, str]) -> ObjectInfo:
        data, mtime, etag = entry
        return ObjectInfo(key, len(data), etag, mtime, self.key_url(key))

    def _stat(self, key: str) -> ObjectInfo | None:
        IO_STATS.record("memory", "stat", requests=1)
        with _LOCK:
            entry = self._objects.get(self.prefix + key)
        return None if entry is None else self._info(key, entry)

    def _get(self, key: str, request: ByteRequest | None) -> bytes | None:
        IO_STATS.record("memory", "get", requests=1)
        with _LOCK:
            entry = self._objects.get(self.prefix + key)
        if entry is None:
            return None
        start, end = resolve_range(request, len(entry[0]))
        data = entry[0][start:end]
        IO_STATS.record("memory", "get", bytes_in=len(data))
        return data

    def _open_read(
        self,
        key: str,
        start: int,
        end: int | None,
        *,
        block_size: int,
        readahead: int,
        info: ObjectInfo | None = None,
    ) -> BinaryIO:
        data = self._get(key, None)
        if data is None:
            raise ObjectNotFoundError(f"{self.key_url(key)}: no such object")
        stream = io.BytesIO(data[: len(data) if end is None else end])
        stream.seek(start)
        return stream

    def _list(self, prefix: str, *, recursive: bool) -> Iterator[ObjectInfo]:
        IO_STATS.record("memory", "list", requests=1)
        full = self.prefix + prefix
        with _LOCK:
            items = [(k, v) for k, v in self._objects.items() if k.startswith(full)]
        items.sort(key=lambda kv: kv[0].encode())
        depth = full.rpartition("/")[0].count("/") + (1 if "/" in full else 0)
        for full_key, entry in items:
            if not recursive and full_key.count("/") != depth:
                continue
            yield self._info(full_key[len(self.prefix) :], entry)

    def _open_write(
        self, key: str, *, part_size: int | None, size_hint: int | None, mode: PutMode, max_concurrency: int
    ) -> ObjectWriter:
        return _MemoryWriter(self, key, mode)

    def _commit(self, key: str, data: bytes, mode: PutMode) -> ObjectInfo:
        entry = (data, time.time(), f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"')
        with _LOCK:
            if mode == "create" and self.prefix + key in self._objects:
                raise PreconditionFailedError(f"{self.key_url(key)}: already exists (create-only write)")
            self._objects[self.prefix + key] = entry
        IO_STATS.record("memory", "put", requests=1, bytes_out=len(data))
        return self._info(key, entry)

    def _delete(self, key: str) -> None:
        IO_STATS.record("memory", "delete", requests=1)
        with _LOCK:
            self._objects.pop(self.prefix + key, None)


class _MemoryWriter(ObjectWriter):
    def __init__(self, store: MemoryStore, key: str, mode: PutMode) -> None:
        super().__init__(store.key_url(key))
        self._store, self._key, self._mode = store, key, mode
        self._buffer = bytearray()

    def _write(self, data: memoryview) -> None:
        self._buffer += data

    def _commit(self) -> ObjectInfo:
        return self._store._commit(self._key, bytes(self._buffer), self._mode)

    def _abort(self) -> None:
        self._buffer = bytearray()
