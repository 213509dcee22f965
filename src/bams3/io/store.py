"""The store protocol: one small set of verbs over local disk, S3 and HTTP(S).

A :class:`Store` is rooted at a "directory" URL and names objects by keys relative to
that root (``/``-separated, validated by :func:`bams3.io.keys.check_key`). The public
methods live here, once: they validate keys and arguments, hold the tuning knobs'
defaults, and call a backend's private ``_``-methods. Backends (``_local``, ``_s3``,
``_http``, ``_memory``) implement only those. Behaviour that works the same over any
backend (planning many ranges, resumable downloads to a file, streamed copies between
stores) is implemented here on top of the backend verbs.

All methods are synchronous and thread-safe: concurrency comes from threads (boto3
clients and urllib3 pools are thread-safe, and ranged reads block on the network, not
the CPU).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, ClassVar, Literal

from ..errors import AccessDeniedError, Bams3Error, IntegrityError, LocalWriteError, ObjectNotFoundError, UsageError
from .keys import check_key, check_prefix
from .multipart import check_part_size
from .ranges import ByteRequest, as_byte_request, fetch_planned

__all__ = ["ObjectInfo", "PutMode", "Store", "ObjectWriter", "KiB", "MiB", "GiB"]

log = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

PutMode = Literal["overwrite", "create"]

#: bytes moved per read/write call when copying between files and streams
COPY_CHUNK = 8 * MiB
#: defaults of the stream and upload knobs (the public signatures and the internal
#: callers -- downloads, uploads, copies -- share them)
DEFAULT_BLOCK_SIZE = 8 * MiB
DEFAULT_READAHEAD = 2
DEFAULT_UPLOAD_CONCURRENCY = 4
#: suffixes :meth:`Store.get_file` appends to the destination path for the bytes of an
#: unfinished download and for the note that says which object version they belong to.
#: Local listings skip files with these names (see :mod:`bams3.io._local`): they are
#: reserved, so that syncing a folder mid-download never publishes half a file.
PART_SUFFIX = ".part"
PART_NOTE_SUFFIX = ".part.json"

#: ``progress(n)``: ``n`` more bytes are done (see :meth:`Store.get_file`)
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object.

    Attributes
    ----------
    key
        The key relative to the store's root.
    size
        Size in bytes.
    etag
        An opaque version tag (S3/HTTP ``ETag``; for local files one derived from the
        modification time and size); None when the server gives none. Equal tags mean
        equal content; resumable downloads and sync rely on it.
    mtime
        Last modification, seconds since the epoch, if known.
    url
        The object's URL, redacted (safe to print).
    """

    key: str
    size: int
    etag: str | None
    mtime: float | None
    url: str


class Store(ABC):
    """An object store rooted at a URL. Subclasses implement the ``_``-methods.

    Capabilities are class attributes (``supports_writes``, ``supports_listing``);
    calling a write or a listing on a store without them raises
    :class:`~bams3.errors.UsageError`.
    """

    #: scheme used in metrics and messages: "file", "memory", "s3" or "http"
    scheme: ClassVar[str]
    supports_writes: ClassVar[bool] = True
    supports_listing: ClassVar[bool] = True

    # ----------------------------------------------------------------- identity

    @property
    @abstractmethod
    def url(self) -> str:
        """The root URL (redacted: no query string, no credentials)."""

    @abstractmethod
    def key_url(self, key: str) -> str:
        """The redacted URL of ``key`` (for messages and :class:`ObjectInfo`)."""

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._identity() == other._identity()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._identity()))

    def _identity(self) -> tuple[Any, ...]:
        return (self.url,)

    # ----------------------------------------------------------------- reading

    def stat(self, key: str) -> ObjectInfo | None:
        """Size, ETag and modification time of ``key``, or None if there is no such object."""
        return self._stat(check_key(key, where=self.url))

    def exists(self, key: str) -> bool:
        """Whether ``key`` names an object."""
        return self.stat(key) is not None

    def get(self, key: str, byte_range: ByteRequest | tuple[int, int] | None = None) -> bytes | None:
        """The bytes of ``key`` (or of ``byte_range`` of it), or None if there is no such object.

        A range reaching past the end of the object returns the bytes that exist (a
        range starting at or past the end returns ``b""``), as reading a file would.
        Responses are trusted only with the expected length: a short or mismatched
        body is retried, then raised as :class:`~bams3.errors.IntegrityError`.
        """
        return self._get(check_key(key, where=self.url), as_byte_request(byte_range))

    def get_ranges(
        self,
        key: str,
        ranges: Sequence[tuple[int, int]],
        *,
        max_gap: int = 64 * KiB,
        max_request: int = 16 * MiB,
        max_concurrency: int = 8,
    ) -> list[bytes]:
        """Fetch many ``(start, end)`` ranges of one object with few, concurrent requests.

        Nearby ranges (at most ``max_gap`` bytes apart) are merged into requests of at
        most ``max_request`` bytes (see :func:`bams3.io.ranges.plan_ranges`), which run
        on up to ``max_concurrency`` threads.

        Returns
        -------
        list of bytes
            One per requested range, in the order given.

        Raises
        ------
        bams3.errors.ObjectNotFoundError
            The object does not exist.
        """
        check_key(key, where=self.url)

        def fetch(start: int, end: int) -> bytes:
            data = self._get(key, as_byte_request((start, end)))
            if data is None:
                raise ObjectNotFoundError(f"{self.key_url(key)}: no such object")
            return data

        return fetch_planned(
            fetch, ranges, max_gap=max_gap, max_request=max_request, max_concurrency=max_concurrency
        )

    def open_read(
        self,
        key: str,
        start: int = 0,
        end: int | None = None,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        readahead: int = DEFAULT_READAHEAD,
    ) -> BinaryIO:
        """A binary read stream over bytes ``[start, end)`` of ``key`` (to its end if None).

        Positions (``tell``/``seek``) are offsets in the object. Local files are plain
        buffered files. Remote objects are read in ranged GETs of up to ``block_size``
        bytes (starting smaller, so that reading a header costs little), with up to
        ``readahead`` further blocks fetched in the background; a dropped or stalled
        connection resumes from the last byte received. At most ``readahead + 1``
        blocks are held in memory.

        Raises
        ------
        bams3.errors.ObjectNotFoundError
            The object does not exist (raised here, not at the first read).
        """
        if start < 0 or (end is not None and end < start):
            raise UsageError(f"invalid byte range [{start}, {end}) of {self.key_url(key)}")
        if block_size < 1 or readahead < 0:
            raise UsageError(f"invalid stream settings block_size={block_size} readahead={readahead}")
        return self._open_read(
            check_key(key, where=self.url), start, end, block_size=block_size, readahead=readahead
        )

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        """The objects whose keys start with ``prefix``, in lexicographic key order.

        With ``recursive=False`` only objects directly "inside" the prefix's last
        ``/`` are listed (no deeper keys, no directory entries).
        """
        if not self.supports_listing:
            raise UsageError(f"{self.url}: listing not supported for {self.scheme} URLs")
        return self._list(check_prefix(prefix), recursive=recursive)

    # ----------------------------------------------------------------- writing

    def _check_writable(self) -> None:
        if not self.supports_writes:
            raise UsageError(f"{self.url}: {self.scheme} URLs are read-only")

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in ("overwrite", "create"):
            raise UsageError(f"put mode must be 'overwrite' or 'create', not {mode!r}")

    def put(self, key: str, data: bytes, *, mode: PutMode = "overwrite") -> ObjectInfo:
        """Write ``data`` as ``key`` in one request, atomically.

        ``mode="create"`` fails with :class:`~bams3.errors.PreconditionFailedError`
        if the object exists (S3 ``If-None-Match: *``; on disk an exclusive link),
        which makes "write the metadata last, exactly once" safe between racing jobs.
        """
        self._check_writable()
        self._check_mode(mode)
        return self._put(check_key(key, where=self.url), bytes(data), mode=mode)

    def open_write(
        self,
        key: str,
        *,
        part_size: int | None = None,
        size_hint: int | None = None,
        mode: PutMode = "overwrite",
        max_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
    ) -> ObjectWriter:
        """A writer for ``key``: ``write()`` bytes, then leave the ``with`` block to commit.

        Nothing is visible under ``key`` until the commit; an exception inside the
        ``with`` block (or :meth:`ObjectWriter.abort`) discards everything, including
        uploaded multipart parts. ``part_size`` and ``size_hint`` steer S3 multipart
        uploads (see :mod:`bams3.io.multipart`); ``max_concurrency`` bounds the parts
        uploaded at once (and so the memory: about ``(max_concurrency + 1) * part_size``).
        """
        self._check_writable()
        self._check_mode(mode)
        _check_upload_knobs(part_size, max_concurrency)
        return self._open_write(
            check_key(key, where=self.url),
            part_size=part_size,
            size_hint=size_hint,
            mode=mode,
            max_concurrency=max_concurrency,
        )

    def put_file(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        mode: PutMode = "overwrite",
        part_size: int | None = None,
        max_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
    ) -> ObjectInfo:
        """Upload the local file ``path`` as ``key`` (streamed; multipart when large).

        ``part_size`` and ``max_concurrency`` are those of :meth:`open_write` (the file's
        size is the size hint, so a part size too small for 10,000 parts grows). Stores
        that write whole files at once (local disk, memory) accept and ignore them.

        On S3 a file of at most one part goes in one PUT; without an explicit ``part_size``,
        so does a file up to :data:`bams3.io._s3.UPLOAD_CUTOFF` (128 MiB), its body streamed
        from disk; larger files are multipart uploads whose parts are read from the file by
        the ``max_concurrency`` threads that send them. Memory never grows with the file:
        all uploads of a process hold at most ``$BAMS3_UPLOAD_BUFFER_MB`` (default 256) of
        parts at once.

        Raises
        ------
        bams3.errors.ObjectNotFoundError
            ``path`` is not a readable file.
        bams3.errors.IntegrityError
            The file changed size while it was being uploaded.
        """
        self._check_writable()
        self._check_mode(mode)
        _check_upload_knobs(part_size, max_concurrency)
        return self._put_file(
            check_key(key, where=self.url), Path(path), mode=mode, part_size=part_size, max_concurrency=max_concurrency
        )

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing object is not an error."""
        self._check_writable()
        self._delete(check_key(key, where=self.url))

    def copy_to(
        self,
        key: str,
        dst_store: Store,
        dst_key: str,
        *,
        mode: PutMode = "overwrite",
        part_size: int | None = None,
        max_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
    ) -> ObjectInfo:
        """Copy ``key`` to ``dst_key`` in ``dst_store``; the result is checked to have the source's size.

        S3 to S3 on the same endpoint copies server-side (no bytes through this
        machine); any other pair streams the object with bounded memory. ``part_size``
        is the multipart part size of the upload (of a server-side copy too, which
        otherwise uses large parts) and ``max_concurrency`` bounds the parts in flight,
        as for :meth:`open_write`; the source's size is the size hint.

        Raises
        ------
        bams3.errors.ObjectNotFoundError
            The source object does not exist.
        bams3.errors.IntegrityError
            The destination does not hold as many bytes as the source after the copy
            (a server-side copy's 200 is trusted only with a matching size).
        """
        dst_store._check_writable()
        self._check_mode(mode)
        _check_upload_knobs(part_size, max_concurrency)
        check_key(key, where=self.url)
        check_key(dst_key, where=dst_store.url)
        return self._copy_to(key, dst_store, dst_key, mode=mode, part_size=part_size, max_concurrency=max_concurrency)

    def get_file(
        self,
        key: str,
        path: str | os.PathLike[str],
        *,
        resume: bool = True,
        info: ObjectInfo | None = None,
        progress: ProgressCallback | None = None,
    ) -> ObjectInfo:
        """Download ``key`` to the local file ``path``, resumably and atomically.

        Bytes go to ``<path>.part`` (with the object's ETag and size noted in
        ``<path>.part.json``) and the file is renamed to ``path`` once complete and of
        the right size, so ``path`` never holds a partial download. With ``resume``,
        a ``.part`` left by an interrupted earlier call is continued from where it
        stopped if the object's ETag and size still match; otherwise it starts over.

        Parameters
        ----------
        info
            The object's :class:`ObjectInfo` if the caller already has it (from a
            listing or a stat): the download then sends no metadata request of its
            own. It is also a precondition: remote reads are pinned to its ETag, and
            an object that changed since raises :class:`~bams3.errors.IntegrityError`.
        progress
            Called from the calling thread with the number of bytes each step adds to
            the file (first the bytes a resumed ``.part`` already holds), so the
            calls sum to the object's size; an exception it raises stops the download
            (keeping the ``.part`` for a resume).

        Raises
        ------
        bams3.errors.ObjectNotFoundError
            The object does not exist.
        bams3.errors.IntegrityError
            The object changed or the download came out with the wrong size.
        """
        check_key(key, where=self.url)
        if info is None:
            info = self._stat(key)
            if info is None:
                raise ObjectNotFoundError(f"{self.key_url(key)}: no such object")
        elif info.key != key:
            raise UsageError(f"get_file of {self.key_url(key)} was given the info of {info.url}")
        return _download(self, info, Path(path), resume=resume, progress=progress)

    # ----------------------------------------------------------------- backend hooks

    @abstractmethod
    def _stat(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def _get(self, key: str, request: ByteRequest | None) -> bytes | None: ...

    @abstractmethod
    def _open_read(
        self, key: str, start: int, end: int | None, *, block_size: int, readahead: int, info: ObjectInfo | None = None
    ) -> BinaryIO: ...

    def _fetch_to(self, info: ObjectInfo, start: int, write: Callable[[bytes], object]) -> None:
        """Bytes ``[start, info.size)`` of the object ``info``, handed to ``write`` in order as
        they are read (used by :meth:`get_file`). Every byte passed to ``write`` before a
        failure is final, so a download can resume after it. Remote stores override this
        with one streamed GET; here, a stream of the object."""
        src = self._open_read(
            info.key, start, info.size, block_size=DEFAULT_BLOCK_SIZE, readahead=DEFAULT_READAHEAD, info=info
        )
        with src:
            read = getattr(src, "read1", src.read)
            while True:
                chunk = read(COPY_CHUNK)
                if not chunk:
                    return
                write(chunk)

    def _list(self, prefix: str, *, recursive: bool) -> Iterator[ObjectInfo]:
        raise UsageError(f"{self.url}: listing not supported for {self.scheme} URLs")

    def _put(self, key: str, data: bytes, *, mode: PutMode) -> ObjectInfo:
        with self._open_write(key, part_size=None, size_hint=len(data), mode=mode, max_concurrency=1) as writer:
            writer.write(data)
        assert writer.info is not None
        return writer.info

    def _open_write(
        self, key: str, *, part_size: int | None, size_hint: int | None, mode: PutMode, max_concurrency: int
    ) -> ObjectWriter:
        raise UsageError(f"{self.url}: {self.scheme} URLs are read-only")

    def _put_file(
        self, key: str, path: Path, *, mode: PutMode, part_size: int | None, max_concurrency: int
    ) -> ObjectInfo:
        with open_source_file(path) as src:
            size = os.fstat(src.fileno()).st_size
            with self._open_write(
                key, part_size=part_size, size_hint=size, mode=mode, max_concurrency=max_concurrency
            ) as writer:
                _copy_stream(src, writer)
                if writer.tell() != size:
                    raise IntegrityError(
                        f"{path}: file changed size during the upload ({size} -> {writer.tell()} bytes)"
                    )
        assert writer.info is not None
        return writer.info

    def _delete(self, key: str) -> None:
        raise UsageError(f"{self.url}: {self.scheme} URLs are read-only")

    def _copy_to(
        self, key: str, dst_store: Store, dst_key: str, *, mode: PutMode, part_size: int | None, max_concurrency: int
    ) -> ObjectInfo:
        info = self._stat(key)
        if info is None:
            raise ObjectNotFoundError(f"{self.key_url(key)}: no such object")
        src = self._open_read(key, 0, None, block_size=DEFAULT_BLOCK_SIZE, readahead=DEFAULT_READAHEAD, info=info)
        with src, dst_store._open_write(
            dst_key, part_size=part_size, size_hint=info.size, mode=mode, max_concurrency=max_concurrency
        ) as writer:
            _copy_stream(src, writer)
            if writer.tell() != info.size:
                raise IntegrityError(
                    f"{info.url}: read {writer.tell()} bytes while copying, expected {info.size}"
                )
        assert writer.info is not None
        return writer.info


class ObjectWriter(ABC):
    """A write stream that becomes an object only when committed.

    Use it as a context manager: a normal exit commits (:meth:`commit`), an exception
    aborts (:meth:`abort`). :meth:`close` also commits, as closing a file keeps what
    was written. A writer that is garbage-collected without either is aborted, never
    committed: a half-written object must not appear because a reference was dropped.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        #: the committed object's info (None until committed)
        self.info: ObjectInfo | None = None
        self._written = 0
        self._finished = False

    # the file-like surface
    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._finished

    def tell(self) -> int:
        """Bytes written so far."""
        return self._written

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._finished:
            raise ValueError(f"write to a finished writer for {self.url}")
        view = memoryview(data).cast("B")
        if len(view):
            self._write(view)
            self._written += len(view)
        return len(view)

    def flush(self) -> None:
        """Nothing to do: bytes become visible only at :meth:`commit`."""

    def commit(self) -> ObjectInfo:
        """Make the written bytes the object (at most once)."""
        if self.info is not None:
            return self.info
        if self._finished:
            raise ValueError(f"commit of an aborted writer for {self.url}")
        try:
            self.info = self._commit()
        except BaseException:
            self._finished = True
            self._abort()
            raise
        self._finished = True
        return self.info

    def abort(self) -> None:
        """Discard everything written (idempotent; a no-op after a commit)."""
        if not self._finished:
            self._finished = True
            self._abort()

    def close(self) -> None:
        if not self._finished:
            self.commit()

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def __del__(self) -> None:
        if not getattr(self, "_finished", True):
            log.warning("writer for %s was dropped without commit or abort; aborting", self.url)
            self.abort()

    @abstractmethod
    def _write(self, data: memoryview) -> None: ...

    @abstractmethod
    def _commit(self) -> ObjectInfo: ...

    @abstractmethod
    def _abort(self) -> None: ...


def _check_upload_knobs(part_size: int | None, max_concurrency: int) -> None:
    """Reject upload settings that no backend could honour (the same on every backend,
    so that a value that works against local disk in a test also works against S3)."""
    if part_size is not None:
        check_part_size(part_size)
    if max_concurrency < 1:
        raise UsageError(f"max_concurrency must be at least 1, not {max_concurrency}")


def open_source_file(path: Path) -> BinaryIO:
    """Open the local file ``path`` to upload it; errors name the path in one line."""
    try:
        return open(path, "rb")  # noqa: SIM115 - returned to the caller
    except (FileNotFoundError, NotADirectoryError):
        raise ObjectNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise AccessDeniedError(f"{path}: permission denied") from None


@contextmanager
def local_write_errors(url: str) -> Iterator[None]:
    """Turn a failure to write a local file into one line naming ``url``.

    ``url`` is the file the caller asked for, not the temporary name the bytes go to
    first (which means nothing to a user). Disk full, quota, read-only filesystem...
    become :class:`~bams3.errors.LocalWriteError` (an ``OSError`` keeping the
    ``errno``), permission problems :class:`~bams3.errors.AccessDeniedError`; errors
    that are already the project's pass unchanged.
    """
    try:
        yield
    except Bams3Error:
        raise
    except PermissionError as exc:
        raise AccessDeniedError(f"{url}: permission denied") from exc
    except OSError as exc:
        error = LocalWriteError(f"{url}: cannot write: {exc.strerror or type(exc).__name__}")
        error.errno = exc.errno
        raise error from exc


def _copy_stream(
    src: IO[bytes] | BinaryIO, dst: ObjectWriter | IO[bytes] | _LocalSink, progress: ProgressCallback | None = None
) -> None:
    """Copy ``src`` to its end into ``dst``, calling ``progress(n)`` after each chunk.

    ``read1`` (one block of a remote stream at a time) where available, so that when a
    read fails, every byte received before it has already been written (a resumable
    download keeps it).
    """
    read = getattr(src, "read1", src.read)
    while True:
        chunk = read(COPY_CHUNK)
        if not chunk:
            return
        dst.write(chunk)
        if progress is not None:
            progress(len(chunk))


def _read_part_note(note: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(note.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _claim_part(part: Path, where: str) -> int | None:
    """Open ``part`` for writing without truncating it and lock it; None if another process holds it.

    The lock (``flock``, released when the descriptor closes) is what keeps two downloads to
    one destination apart: without it the second truncated and rewrote the first one's
    partial file, and the first then renamed the interleaved bytes into place.
    """
    with local_write_errors(where):
        fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _download(
    store: Store, info: ObjectInfo, dest: Path, *, resume: bool, progress: ProgressCallback | None
) -> ObjectInfo:
    """Body of :meth:`Store.get_file` (see there).

    Local write failures (disk full...) name ``dest`` and leave the ``.part`` file: it
    is the resume point of the next attempt, once there is room again. While another
    download to the same ``dest`` holds ``<dest>.part``, this one writes to a partial file
    of its own (and cannot resume): the last download to finish wins, with all its bytes.
    """
    where = str(dest)
    part = dest.with_name(dest.name + PART_SUFFIX)
    note: Path | None = dest.with_name(dest.name + PART_NOTE_SUFFIX)
    expected = {"etag": info.etag, "size": info.size}
    offset = 0
    with local_write_errors(where):
        dest.parent.mkdir(parents=True, exist_ok=True)
    fd = _claim_part(part, where)
    if fd is None:  # another process is downloading to this name
        log.info("%s is being downloaded by another process; this download uses its own partial file", dest)
        part = dest.with_name(f"{dest.name}.{uuid.uuid4().hex[:12]}{PART_SUFFIX}")
        note, resume = None, False
        fd = _claim_part(part, where)
        assert fd is not None  # a fresh unique name
    out = os.fdopen(fd, "r+b")
    try:
        with local_write_errors(where):
            if note is not None and resume and info.etag is not None and _read_part_note(note) == expected:
                offset = os.fstat(fd).st_size
                if offset > info.size:
                    offset = 0
                elif offset:
                    log.info("resuming download of %s at byte %d of %d", info.url, offset, info.size)
            if offset == 0 and note is not None:
                if info.etag is not None:
                    note.write_text(json.dumps(expected))
                else:
                    note.unlink(missing_ok=True)
            out.seek(offset)
            out.truncate()
        if offset and progress is not None:
            progress(offset)
        if offset < info.size:
            sink = _LocalSink(out, where)

            def write(chunk: bytes) -> None:
                sink.write(chunk)
                if progress is not None:
                    progress(len(chunk))

            store._fetch_to(info, offset, write)
        with local_write_errors(where):
            out.flush()
        size = out.tell()
        if size != info.size:
            part.unlink(missing_ok=True)
            if note is not None:
                note.unlink(missing_ok=True)
            raise IntegrityError(f"{info.url}: downloaded {size} bytes, expected {info.size}")
        with local_write_errors(where):
            os.replace(part, dest)  # still locked: no other download can take the name meanwhile
        if note is not None:
            note.unlink(missing_ok=True)
    except BaseException:
        if note is None:  # a partial file of its own cannot be resumed: do not leave it behind
            part.unlink(missing_ok=True)
        raise
    finally:
        with local_write_errors(where):
            out.close()
    return info


class _LocalSink:
    """The ``write`` of a local file, with failures reported against the final name."""

    def __init__(self, file: BinaryIO, url: str) -> None:
        self._file = file
        self._url = url

    def write(self, data: bytes) -> int:
        with local_write_errors(self._url):
            return self._file.write(data)
