"""Local disk (plain paths and ``file://`` URLs).

Reads are plain buffered files (``flagstat`` reads local BAMs at disk speed through
them). Writes are atomic: bytes go to a hidden temporary file in the destination
directory (same filesystem, so the final rename is atomic) which is removed on error;
``mode="create"`` publishes it with ``os.link``, which fails if the name exists, so
two racing writers cannot both win. A failed write (disk full...) removes the
temporary file at once and raises :class:`~bams3.errors.LocalWriteError` naming the
file asked for.

Reserved names
--------------
Files the stores themselves create while a transfer is unfinished are not objects:
listings skip them, so that a sync of a folder in which a write or a download is under
way never publishes half a file. They are

* ``.bams3-<name>.<hex>.partial``: an unfinished write (:class:`_LocalWriter`);
* ``<name>.part`` and ``<name>.part.json``: an unfinished download by
  :meth:`~bams3.io.Store.get_file` and its resume note.

Do not give objects these names: they can be written and read by key, but they are
never listed.
"""
from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import quote

from ..errors import AccessDeniedError, ObjectNotFoundError, PreconditionFailedError, UsageError
from .metrics import IO_STATS
from .ranges import ByteRequest, resolve_range
from .store import (
    PART_NOTE_SUFFIX,
    PART_SUFFIX,
    ObjectInfo,
    ObjectWriter,
    PutMode,
    Store,
    local_write_errors,
)

__all__ = ["LocalStore"]

#: prefix and suffix of the temporary files of unfinished writes (hidden from listings)
TEMP_PREFIX = ".bams3-"
TEMP_SUFFIX = ".partial"
#: read buffer of the file objects handed out by open_read
READ_BUFFER = 1024 * 1024


def is_reserved_name(name: str) -> bool:
    """Whether the file name ``name`` is one of a store's own unfinished-transfer files.

    See "Reserved names" in the module docstring.
    """
    return (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)) or name.endswith(
        (PART_SUFFIX, PART_NOTE_SUFFIX)
    )


def _local_etag(st: os.stat_result) -> str:
    """A weak validator like a web server's: changes whenever mtime or size does."""
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """Turn permission errors into the project's error type (the message names the path)."""
    try:
        yield
    except PermissionError as exc:
        raise AccessDeniedError(f"{path}: permission denied") from exc


class LocalStore(Store):
    """Objects as files under a root directory.

    Parameters
    ----------
    root
        The directory (created on the first write if missing).
    url_form
        How URLs are shown: ``"path"`` (plain paths, as users type them) or ``"file"``
        (``file://`` URLs).
    """

    scheme = "file"

    def __init__(self, root: str | os.PathLike[str], *, url_form: Literal["path", "file"] = "path") -> None:
        if url_form not in ("path", "file"):
            raise UsageError(f"url_form must be 'path' or 'file', not {url_form!r}")
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.url_form = url_form

    def __getstate__(self) -> dict[str, object]:
        return {"root": self.root, "url_form": self.url_form}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    def _identity(self) -> tuple[object, ...]:
        return (self.root,)

    @property
    def url(self) -> str:
        if self.url_form == "file":
            return "file://" + quote(self.root.as_posix().rstrip("/") + "/")
        return self.root.as_posix().rstrip("/") + "/"

    def key_url(self, key: str) -> str:
        path = self.path_of(key).as_posix()
        return "file://" + quote(path) if self.url_form == "file" else path

    def path_of(self, key: str) -> Path:
        """The file that holds ``key`` (the key must already be valid)."""
        return self.root.joinpath(*key.split("/"))

    # ----------------------------------------------------------------- reading

    def _stat(self, key: str) -> ObjectInfo | None:
        IO_STATS.record("file", "stat", requests=1)
        path = self.path_of(key)
        with _translated(str(path)):
            try:
                st = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                return None
        if not path.is_file():
            return None
        return ObjectInfo(key, st.st_size, _local_etag(st), st.st_mtime, self.key_url(key))

    def _get(self, key: str, request: ByteRequest | None) -> bytes | None:
        path = self.path_of(key)
        IO_STATS.record("file", "get", requests=1)
        with _translated(str(path)):
            try:
                with open(path, "rb") as f:
                    start, end = resolve_range(request, os.fstat(f.fileno()).st_size)
                    f.seek(start)
                    data = f.read(end - start)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None
        IO_STATS.record("file", "get", bytes_in=len(data))
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
        return open_local(self.path_of(key), start, end, url=self.key_url(key))

    def _list(self, prefix: str, *, recursive: bool) -> Iterator[ObjectInfo]:
        IO_STATS.record("file", "list", requests=1)
        directory, _, _ = prefix.rpartition("/")
        base = self.root.joinpath(*directory.split("/")) if directory else self.root
        found: list[ObjectInfo] = []
        with _translated(str(base)):
            for dirpath, dirnames, filenames in os.walk(base):
                rel_dir = Path(dirpath).relative_to(self.root).as_posix()
                rel_dir = "" if rel_dir == "." else rel_dir + "/"
                for name in filenames:
                    if is_reserved_name(name):
                        continue
                    key = rel_dir + name
                    if not key.startswith(prefix):
                        continue
                    try:
                        st = os.stat(os.path.join(dirpath, name))
                    except FileNotFoundError:  # deleted while we walked
                        continue
                    found.append(ObjectInfo(key, st.st_size, _local_etag(st), st.st_mtime, self.key_url(key)))
                if not recursive:
                    dirnames.clear()
        found.sort(key=lambda info: info.key.encode())  # S3's order: by UTF-8 bytes
        return iter(found)

    # ----------------------------------------------------------------- writing

    def _open_write(
        self, key: str, *, part_size: int | None, size_hint: int | None, mode: PutMode, max_concurrency: int
    ) -> ObjectWriter:
        return _LocalWriter(self, key, mode=mode)

    def _put(self, key: str, data: bytes, *, mode: PutMode) -> ObjectInfo:
        with _LocalWriter(self, key, mode=mode) as writer:
            writer.write(data)
        assert writer.info is not None
        return writer.info

    def _delete(self, key: str) -> None:
        IO_STATS.record("file", "delete", requests=1)
        path = self.path_of(key)
        with _translated(str(path)):
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError):
                pass
            except IsADirectoryError:
                raise UsageError(f"{path}: is a directory, not an object") from None


class _LocalWriter(ObjectWriter):
    """Write to a hidden temporary file; commit by rename (or exclusive link).

    Every failure of the file system is reported against the final name (the
    temporary one means nothing to the user), and a failed write removes the
    temporary file at once: on a full disk, the space goes back before the error
    reaches the caller.
    """

    def __init__(self, store: LocalStore, key: str, *, mode: PutMode) -> None:
        self._key = key
        self._mode = mode
        self._final = store.path_of(key)
        self._temp = self._final.with_name(f"{TEMP_PREFIX}{self._final.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
        url = store.key_url(key)
        #: /dev/null, /dev/stdout, a named pipe: written into, never replaced by a rename (that would
        #: swap the device or pipe for a regular file, for every later user of the path)
        self._direct = mode != "create" and _is_special_file(self._final)
        with local_write_errors(url):
            if self._direct:
                self._file: BinaryIO | None = open(self._final, "wb")  # noqa: SIM115 - closed in commit/abort
            else:
                self._final.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self._temp, "xb")  # noqa: SIM115 - closed in commit/abort
        super().__init__(url)  # last: a writer that failed to open has nothing to abort

    def _write(self, data: memoryview) -> None:
        assert self._file is not None
        try:
            with local_write_errors(self.url):
                self._file.write(data)
        except BaseException:
            self.abort()
            raise

    def _commit(self) -> ObjectInfo:
        assert self._file is not None
        file, self._file = self._file, None
        with local_write_errors(self.url):  # close flushes the last buffered bytes: it can fail too
            file.close()
            if self._direct:
                pass
            elif self._mode == "create":
                try:
                    os.link(self._temp, self._final)
                except FileExistsError:
                    raise PreconditionFailedError(f"{self.url}: already exists (create-only write)") from None
                os.unlink(self._temp)
            else:
                os.replace(self._temp, self._final)
            st = self._final.stat()
        IO_STATS.record("file", "put", requests=1, bytes_out=self._written)
        return ObjectInfo(self._key, st.st_size, _local_etag(st), st.st_mtime, self.url)

    def _abort(self) -> None:
        file, self._file = self._file, None
        try:
            if file is not None:
                with contextlib.suppress(OSError):  # a close that cannot flush (disk full): the bytes go anyway
                    file.close()
        finally:
            if not self._direct:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._temp)


def _is_special_file(path: Path) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a directory (a device, FIFO, socket)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class _BoundedRaw(io.RawIOBase):
    """A raw file view of bytes ``[0, end)`` (reads stop at ``end``; offsets are the file's)."""

    def __init__(self, raw: io.FileIO, end: int) -> None:
        super().__init__()
        self._raw = raw
        self._end = end
        self.name = raw.name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            return self._raw.seek(self._end + offset)
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        room = self._end - self._raw.tell()
        if room <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        return self._raw.readinto(view[:room] if len(view) > room else view) or 0

    def close(self) -> None:
        self._raw.close()
        super().close()

    def fileno(self) -> int:
        return self._raw.fileno()


def open_local(path: str | os.PathLike[str], start: int = 0, end: int | None = None, *, url: str) -> BinaryIO:
    """A buffered binary file positioned at ``start``; reads stop at ``end`` if given.

    Without ``end`` this is exactly ``open(path, "rb")``: nothing stands between the
    caller and the operating system.
    """
    try:
        if end is None:
            f = open(path, "rb", buffering=READ_BUFFER)  # noqa: SIM115 - returned to the caller
            f.seek(start)
            return f
        raw = io.FileIO(path, "rb")
    except (FileNotFoundError, NotADirectoryError):
        raise ObjectNotFoundError(f"{url}: no such file") from None
    except IsADirectoryError:
        raise ObjectNotFoundError(f"{url}: is a directory, not a file") from None
    except PermissionError:
        raise AccessDeniedError(f"{url}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise UsageError(f"{url}: file name too long") from None
        raise
    raw.seek(start)
    return io.BufferedReader(_BoundedRaw(raw, end), buffer_size=READ_BUFFER)  # type: ignore[return-value]
