"""A content cache shared by staging runs, so that a second run downloads nothing.

Entries are keyed by *what the bytes are*, never by the signed URL a run was handed
(a signature changes on every signing):

- with a ``sha256`` in the manifest, by that checksum: a hit needs no request at all,
  and two URLs of the same content share one entry;
- otherwise by the URL without its query string (the signature lives there) plus the
  object's ETag and size (or its modification time when the server sends no ETag),
  which costs one HEAD per run. An object without ETag and mtime is not cached.

The key also records the transformation (``decompress``), so a ``.gz`` fetched once
raw and once decompressed makes two entries. Layout under the cache root::

    stage-v1/objects/ab/abcdef....   finished entries, read-only, never modified
    stage-v1/partial/abcdef...       downloads in flight (io resumes their ``.part``)
    stage-v1/locks/abcdef....lock    one advisory lock per entry

Finished entries are placed by an atomic rename, so a reader sees a whole file or
none. Two processes wanting the same entry serialise on its lock: the second finds
the entry made and downloads nothing. Entries are hard-linked into run directories
(copied across file systems); they are read-only so a tool cannot corrupt the cache
through its link. Nothing here deletes entries: clear the directory to reclaim space.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["CacheKey", "ContentCache", "cache_key", "default_cache_dir", "link_or_copy"]

log = logging.getLogger(__name__)

_LAYOUT = "stage-v1"
#: hard-link failures that mean "copy instead" (another file system, no link support, too many links)
_LINK_FALLBACK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES})


def default_cache_dir() -> Path:
    """``$BAMS3_CACHE_DIR``, else ``$XDG_CACHE_HOME/bams3``, else ``~/.cache/bams3``."""
    explicit = os.environ.get("BAMS3_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bams3"


def _unsigned(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower(), parts.path, "", ""))


@dataclass(frozen=True)
class CacheKey:
    """The identity of one cache entry: a hex digest of a description that holds no secret."""

    digest: str

    @classmethod
    def of(cls, identity: str) -> CacheKey:
        return cls(hashlib.sha256(identity.encode()).hexdigest())


def cache_key(*, url: str, sha256: str | None, etag: str | None, size: int | None,
              mtime: float | None, decompress: bool) -> CacheKey | None:
    """The key of a staged file, or ``None`` when nothing pins its content.

    Parameters
    ----------
    url
        The source URL; only scheme, host and path are used (never the query).
    sha256
        The checksum given in the manifest, if any; it wins over everything else.
    etag, size, mtime
        From a HEAD/stat of the object.
    decompress
        Whether the entry holds the decompressed bytes.
    """
    transform = "decompress" if decompress else "raw"
    if sha256:
        return CacheKey.of(f"sha256:{sha256}|{transform}")
    if size is None or (not etag and mtime is None):
        return None
    version = f"etag:{etag}" if etag else f"mtime:{mtime!r}"
    return CacheKey.of(f"url:{_unsigned(url)}|{version}|size:{size}|{transform}")


def link_or_copy(source: Path, dest: Path) -> str:
    """Hard-link ``source`` to ``dest`` or, where that cannot work, copy it; return which.

    ``dest`` must not exist. Callers pass a temporary name and rename it afterwards.
    """
    try:
        os.link(source, dest)
        return "link"
    except OSError as exc:
        if exc.errno not in _LINK_FALLBACK:
            raise
    shutil.copyfile(source, dest)
    return "copy"


class ContentCache:
    """The cache directory (see the module docstring for its layout and guarantees).

    Parameters
    ----------
    root
        The cache root (e.g. :func:`default_cache_dir`); created on first use.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._base = self.root / _LAYOUT

    def __repr__(self) -> str:
        return f"ContentCache({str(self.root)!r})"

    def entry_path(self, key: CacheKey) -> Path:
        """Where the finished entry of ``key`` lives (whether or not it exists yet)."""
        return self._base / "objects" / key.digest[:2] / key.digest

    def partial_path(self, key: CacheKey) -> Path:
        """A stable download target for ``key``: a later run resumes its ``.part``."""
        path = self._base / "partial" / key.digest
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def scratch_path(self, key: CacheKey) -> Path:
        """A unique temporary name next to the entries (for decompressing into)."""
        path = self._base / "partial" / f"{key.digest}.{uuid.uuid4().hex}.tmp"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def lookup(self, key: CacheKey) -> Path | None:
        """The finished entry of ``key``, or ``None``."""
        path = self.entry_path(key)
        return path if path.is_file() else None

    def commit(self, key: CacheKey, produced: Path) -> Path:
        """Move a fully written and verified file into the cache as ``key``'s entry.

        The file is made read-only first, then renamed into place atomically.
        """
        final = self.entry_path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(produced, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(produced, final)
        return final

    @contextmanager
    def locked(self, key: CacheKey) -> Iterator[None]:
        """Hold ``key``'s advisory lock (between threads and between processes)."""
        lock_path = self._base / "locks" / f"{key.digest}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
