"""A seekable read stream over a remote object, made of ranged block requests.

Why blocks and not one long GET: a BAM chunk job reads a known byte range, and a
region query jumps around; fixed-size ranged requests let the stream stop exactly
where the caller stops, restart cheaply after a seek, be fetched in parallel ahead of
the reader, and be resumed individually when a connection drops. Blocks start small
(a header or a small region costs a few hundred KiB, not ``block_size``) and double up
to ``block_size`` while the reader keeps reading sequentially.

Memory is bounded: the current block plus at most ``readahead`` blocks in flight.
Closing the stream cancels and waits for the read-ahead, so that no request of a
closed stream is still running (or being counted) afterwards.
Resumption after a dropped connection happens inside ``fetch`` (see
:meth:`bams3.io._remote.RemoteStore._read_resuming`), which returns a block complete or
raises.
"""
from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import UsageError

__all__ = ["RangedReader", "FIRST_BLOCK_SIZE"]

#: size of the first block after opening or seeking; doubles up to ``block_size``
FIRST_BLOCK_SIZE = 256 * 1024

#: ``fetch(start, end, cancel)`` returns exactly bytes ``[start, end)`` or raises
BlockFetcher = Callable[[int, int, threading.Event], bytes]


class RangedReader(io.RawIOBase):
    """Binary stream over bytes ``[start, end)`` of a remote object.

    ``read(n)`` returns ``n`` bytes unless the end is reached (unlike a raw file, it
    never returns short otherwise), ``tell``/``seek`` use offsets in the object.
    Seeking inside the current or an already requested block costs nothing; seeking
    elsewhere drops the read-ahead and starts again with a small block.
    """

    def __init__(
        self,
        fetch: BlockFetcher,
        *,
        url: str,
        start: int,
        end: int,
        block_size: int,
        readahead: int,
    ) -> None:
        super().__init__()
        if not 0 <= start <= end:
            raise UsageError(f"invalid byte range [{start}, {end}) of {url}")
        self._fetch = fetch
        self.name = url
        self.start = start
        self.end = end
        self._block_size = block_size
        self._readahead = readahead
        self._pos = start
        self._block = b""
        self._block_start = start
        self._pending: deque[tuple[int, int, Future[bytes]]] = deque()
        self._next_start = start
        self._next_size = min(FIRST_BLOCK_SIZE, block_size)
        self._cancel = threading.Event()
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ io surface

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()  # type: ignore[attr-defined]
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()  # type: ignore[attr-defined]
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.end + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < self.start:
            raise ValueError(f"seek to {target}, before the start {self.start} of the stream over {self.name}")
        self._pos = target
        return target

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()  # type: ignore[attr-defined]
        if size is None or size < 0:
            return self.readall()
        pieces: list[bytes] = []
        while size > 0:
            offset = self._pos - self._block_start
            if not 0 <= offset < len(self._block):
                if not self._load_block():
                    break
                continue
            piece = self._block[offset : offset + size]
            pieces.append(piece)
            self._pos += len(piece)
            size -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def read1(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current block only (at most one block fetch).

        Copy loops use it so that every fetched block is handed over before the next
        one is waited for: a failure then loses no bytes already received.
        """
        self._checkClosed()  # type: ignore[attr-defined]
        offset = self._pos - self._block_start
        if not 0 <= offset < len(self._block):
            if not self._load_block():
                return b""
            offset = self._pos - self._block_start
        stop = len(self._block) if size is None or size < 0 else offset + size
        piece = self._block[offset:stop]
        self._pos += len(piece)
        return piece

    def readall(self) -> bytes:
        return self.read(max(0, self.end - self._pos))

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._checkClosed()  # type: ignore[attr-defined]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            offset = self._pos - self._block_start
            if not 0 <= offset < len(self._block):
                if not self._load_block():
                    break
                continue
            n = min(len(view) - filled, len(self._block) - offset)
            view[filled : filled + n] = self._block[offset : offset + n]
            filled += n
            self._pos += n
        return filled

    def close(self) -> None:
        """Stop the read-ahead and wait for it: no request of this stream outlives ``close``.

        Fetches in flight see the cancel event between two chunks of their body (and
        instead of a retry), so the wait is short.
        """
        if not self.closed:
            self._cancel.set()
            self._drop_pending()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            self._block = b""
        super().close()

    # ------------------------------------------------------------------ blocks

    def _schedule(self) -> tuple[int, int]:
        start = self._next_start
        end = min(self.end, start + self._next_size)
        self._next_start = end
        self._next_size = min(self._block_size, self._next_size * 2)
        return start, end

    def _drop_pending(self) -> None:
        while self._pending:
            self._pending.popleft()[2].cancel()

    def _top_up(self) -> None:
        """Keep ``readahead`` blocks requested ahead of the reader."""
        if self._readahead == 0:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._readahead, thread_name_prefix="bams3-readahead")
        while len(self._pending) < self._readahead and self._next_start < self.end:
            start, end = self._schedule()
            self._pending.append((start, end, self._pool.submit(self._fetch, start, end, self._cancel)))

    def _load_block(self) -> bool:
        """Make the block holding the current position current; False at the end."""
        pos = self._pos
        if pos >= self.end:
            return False
        while self._pending and self._pending[0][1] <= pos:  # skipped over by a forward seek
            self._pending.popleft()[2].cancel()
        if not (self._pending and self._pending[0][0] <= pos) and pos != self._next_start:
            # a jump to bytes not requested yet: start a fresh run of blocks, small first
            self._drop_pending()
            self._next_start, self._next_size = pos, min(FIRST_BLOCK_SIZE, self._block_size)
        self._block = b""
        if self._pending:
            start, end, future = self._pending.popleft()
            data = future.result()
        else:
            start, end = self._schedule()
            self._top_up()  # the next blocks load while this one does
            data = self._fetch(start, end, self._cancel)
        self._block, self._block_start = data, start
        self._top_up()
        return True
