"""The in-process memory:// backend (for other parts' unit tests): conformance."""
from __future__ import annotations

import uuid

import pytest

from bams3.io import Store, open_store
from bams3.io._memory import MemoryStore

from .conformance import WritableStoreTests


class TestMemoryStore(WritableStoreTests):
    @pytest.fixture
    def store(self) -> Store:
        return open_store(f"memory://{uuid.uuid4().hex}/root")

    def backdoor_put(self, store: Store, key: str, data: bytes) -> None:
        assert isinstance(store, MemoryStore)
        MemoryStore(store.name)._commit(f"root/{key}", data, "overwrite")

    def backdoor_get(self, store: Store, key: str) -> bytes | None:
        assert isinstance(store, MemoryStore)
        return MemoryStore(store.name).get(f"root/{key}")
