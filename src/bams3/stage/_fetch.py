"""Stage one manifest entry: cache lookup, download, checks, decompression, placement.

Whatever path a file takes (cache hit, download into the cache, direct download), it
reaches its final name in the run directory by one atomic rename of a complete file:
a partial download never appears under the name a tool will open.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from ..errors import Bams3Error, IntegrityError, LocalWriteError, ObjectNotFoundError
from ..progress import progress
from ._decompress import COMPRESSED_SUFFIXES, decompress_file
from ._names import target_path
from .cache import CacheKey, ContentCache, cache_key, link_or_copy

if TYPE_CHECKING:
    from ..io import ObjectInfo, Store
    from .models import ManifestEntry

__all__ = ["StagedFile", "StageFileError", "stage_entry", "wants_decompress"]

log = logging.getLogger("bams3.stage")

_HASH_BLOCK = 1 << 20
#: seconds between two looks at a growing download (for progress)
_POLL_INTERVAL = 0.5
#: downloads smaller than this get no progress report of their own (they finish quickly)
_PROGRESS_MIN_BYTES = 64 << 20


class StageFileError(Bams3Error, OSError):
    """A local file operation of staging failed (disk full, permission denied, ...)."""


@dataclass(frozen=True)
class StagedFile:
    """Where one entry ended up and how it got there.

    Attributes
    ----------
    origin
        ``"cache"`` (nothing downloaded), ``"download"`` (fetched, and cached when
        possible) or ``"direct"`` (fetched without the cache: local source, cache off,
        or an object nothing identifies).
    downloaded
        Size of the object fetched for this entry (0 on a cache hit; a resumed
        download counts whole).
    """

    name: str
    path: Path
    origin: Literal["cache", "download", "direct"]
    downloaded: int


def wants_decompress(entry: ManifestEntry, *, default: bool) -> bool:
    """The entry's own ``decompress``, else ``default`` for URLs ending in ``.gz``/``.zst``."""
    if entry.decompress is not None:
        return entry.decompress
    return default and urlsplit(entry.url).path.endswith(COMPRESSED_SUFFIXES)


def _is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return scheme in ("", "file")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _verify(entry: ManifestEntry, raw: Path, what: str) -> None:
    if entry.sha256 is None:
        return
    actual = _sha256_of(raw)
    if actual != entry.sha256:
        raw.unlink(missing_ok=True)
        raise IntegrityError(f"{what}: sha256 mismatch (manifest {entry.sha256[:12]}..., downloaded {actual[:12]}...)")


@contextmanager
def _watch_download(part: Path, *, desc: str, total: int | None, enabled: bool) -> Iterator[None]:
    """Report the growth of ``part`` (the download's ``.part`` file) as progress.

    Watching the file keeps progress out of the io layer's transfer loop and counts
    a resumed download from the bytes it already had.
    """
    if not enabled:
        yield
        return
    stop = threading.Event()
    with progress(desc, total=total, unit="B") as bar:
        seen = 0

        def poll() -> None:
            nonlocal seen
            while not stop.wait(_POLL_INTERVAL):
                try:
                    size = part.stat().st_size
                except FileNotFoundError:
                    continue
                if size > seen:
                    bar.update(size - seen)
                    seen = size

        watcher = threading.Thread(target=poll, name=f"bams3-progress-{part.name}", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()


def _stat(store: Store, key: str, entry: ManifestEntry) -> ObjectInfo:
    info = store.stat(key)
    if info is None:
        raise ObjectNotFoundError(f"{entry.display_url}: no such object")
    return info


def _download(store: Store, key: str, raw: Path, entry: ManifestEntry, what: str, *,
              info: ObjectInfo | None, show_progress: bool) -> int:
    """Fetch the object to ``raw`` (io resumes a ``raw.part`` left by an earlier attempt).

    Returns the size of the fetched file.
    """
    if info is None:
        info = _stat(store, key, entry)
    part = raw.with_name(raw.name + ".part")
    large = info.size >= _PROGRESS_MIN_BYTES
    with _watch_download(part, desc=entry.name, total=info.size, enabled=show_progress and large):
        # ``info`` pins the download to the version the cache key (and the progress total) came
        # from (an object changed since raises IntegrityError) and spares a second metadata request
        store.get_file(key, raw, resume=True, info=info)
    _verify(entry, raw, what)
    return raw.stat().st_size


def _produce(raw: Path, out: Path, *, decompress: bool, what: str) -> Path:
    """``raw`` itself, or its decompressed copy at ``out``.

    ``raw`` is removed once decompressed, and also when it cannot be: bytes that are
    not the promised gzip/zstd must not be found again by a later run.
    """
    if not decompress:
        return raw
    try:
        decompress_file(raw, out, what=what)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        raw.unlink(missing_ok=True)
    return out


def _place(source: Path, target: Path, scratch: Path, *, link: bool) -> None:
    """Put ``source``'s bytes at ``target`` atomically (link or copy when ``link``, else rename)."""
    if not link:
        os.replace(source, target)
        return
    temporary = scratch / uuid.uuid4().hex
    try:
        link_or_copy(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _cache_key_for(source: Callable[[], tuple[Store, str]], entry: ManifestEntry, decompress: bool
                   ) -> tuple[CacheKey | None, ObjectInfo | None]:
    """The entry's cache key, and the object's info when finding the key needed it.

    ``source()`` opens the object's store; with a ``sha256`` it is not called (a cache hit
    then needs no request, and no S3 client: botocore is not even imported).
    """
    if entry.sha256 is not None:
        return cache_key(url=entry.url, sha256=entry.sha256, etag=None, size=None, mtime=None,
                         decompress=decompress), None
    store, key = source()
    info = _stat(store, key, entry)
    return cache_key(url=entry.url, sha256=None, etag=info.etag, size=info.size, mtime=info.mtime,
                     decompress=decompress), info


def stage_entry(entry: ManifestEntry, run_dir: Path, scratch: Path, *, cache: ContentCache | None,
                decompress: bool, show_progress: bool) -> StagedFile:
    """Stage ``entry`` into ``run_dir`` under its manifest name.

    Parameters
    ----------
    entry
        The manifest entry (name already validated).
    run_dir
        The run directory; ``scratch`` is a directory inside it for temporary files.
    cache
        The content cache, or ``None`` to always download. Local sources skip it
        (caching a local file would only double the disk it takes).
    decompress
        Whether to decompress the fetched bytes (see :func:`wants_decompress`).
    show_progress
        Report the download's progress (bar or log lines, see :mod:`bams3.progress`).

    Raises
    ------
    Bams3Error
        From io (not found, forbidden, expired, retries exhausted), a checksum or
        decompression failure, an unsafe name; local disk failures as :class:`StageFileError`.
    """
    from ..io import open_url

    what = f"{entry.name} ({entry.display_url})"
    target: Path | None = None
    try:
        target = target_path(run_dir, entry.name)
        opened: list[tuple[Store, str]] = []

        def source() -> tuple[Store, str]:
            """The object's store and key, opened on first use."""
            if not opened:
                opened.append(open_url(entry.url))
            return opened[0]

        cache_id, info = (None, None) if cache is None or _is_local(entry.url) else \
            _cache_key_for(source, entry, decompress)
        if cache is None or cache_id is None:
            store, key = source()
            raw = scratch / f"{uuid.uuid4().hex}.raw"
            downloaded = _download(store, key, raw, entry, what, info=info, show_progress=show_progress)
            product = _produce(raw, scratch / f"{raw.stem}.out", decompress=decompress, what=what)
            _place(product, target, scratch, link=False)
            return StagedFile(entry.name, target, "direct", downloaded)
        with cache.locked(cache_id):
            hit = cache.lookup(cache_id)
            origin: Literal["cache", "download"] = "cache" if hit is not None else "download"
            downloaded = 0
            if hit is None:
                store, key = source()
                raw = cache.partial_path(cache_id)
                downloaded = _download(store, key, raw, entry, what, info=info, show_progress=show_progress)
                product = _produce(raw, cache.scratch_path(cache_id), decompress=decompress, what=what)
                hit = cache.commit(cache_id, product)
            _place(hit, target, scratch, link=True)
        return StagedFile(entry.name, target, origin, downloaded)
    except LocalWriteError as exc:  # io names the file it wrote: here a scratch or cache file
        raise StageFileError(f"{what}: cannot write {target or run_dir}: {_reason(exc)}") from exc
    except Bams3Error:
        raise
    except OSError as exc:  # local disk: full, read-only, permissions (io raises Bams3Errors for remote failures)
        # named by the file the user asked for: the scratch and cache names mean nothing to them
        raise StageFileError(f"{what}: cannot write {target or run_dir}: {_reason(exc)}") from exc


def _reason(exc: OSError) -> str:
    """The operating system's words for ``exc`` ("No space left on device"), redacted."""
    from ..io.redact import redact_text

    text = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
    return redact_text(text)
