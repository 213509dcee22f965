"""Byte mutations for fuzzing decoders: flip bits, overwrite a run, cut the tail, insert bytes.

Shared by the BAM decoder fuzz tests (tests/bam) and the reliability fuzz tests (tests/reliability),
so both explore the same kinds of damage a truncated upload or a bad disk does.
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Edit = tuple[str, int, Any]


def mutations(size: int, *, max_edits: int = 3) -> st.SearchStrategy[list[Edit]]:
    """A few edits at positions inside ``size`` bytes."""
    edit = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, size - 1), st.integers(1, 255)),
        st.tuples(st.just("set"), st.integers(0, size - 1), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("cut"), st.integers(0, size - 1), st.just(b"")),
        st.tuples(st.just("insert"), st.integers(0, size - 1), st.binary(min_size=1, max_size=8)),
    )
    return st.lists(edit, min_size=1, max_size=max_edits)


def apply(data: bytes, edits: list[Edit]) -> bytes:
    """``data`` with ``edits`` applied in order (positions clamped to the current length)."""
    buf = bytearray(data)
    for kind, at, value in edits:
        at = min(at, max(len(buf) - 1, 0))
        if kind == "flip" and buf:
            buf[at] ^= value
        elif kind == "set":
            buf[at : at + len(value)] = value
        elif kind == "cut":
            del buf[at:]
        elif kind == "insert":
            buf[at:at] = value
    return bytes(buf)
