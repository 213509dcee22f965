"""``ordered_map``: a thread-pool map that yields in order with a bounded look-ahead.

Readers fetch and decode many units (frames, footers, chunks) over the network; running a few
at once hides latency, and yielding in submission order keeps file order. Bounding the number of
submitted-but-unconsumed items bounds memory whatever the number of items.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["ordered_map"]

T = TypeVar("T")
U = TypeVar("U")


def ordered_map(func: Callable[[U], T], items: Iterable[U], *, max_concurrency: int) -> Iterator[T]:
    """``map(func, items)`` on ``max_concurrency`` threads, in order, at most that many in flight.

    Closing the iterator early cancels the items not yet started and waits for running ones.
    """
    with ThreadPoolExecutor(max_concurrency, thread_name_prefix="bams3-read") as pool:
        window: deque[Future[T]] = deque()
        try:
            for item in items:
                window.append(pool.submit(func, item))
                if len(window) >= max_concurrency:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()
