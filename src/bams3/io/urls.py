"""From a URL to a store: scheme dispatch and single-object conveniences.

Supported forms: a local path (absolute or relative), ``file:///path``,
``s3://bucket/prefix``, ``http(s)://host/path`` (read-only) and ``memory://name/prefix``.
Each backend module is imported only when its scheme is first used, so that
``bams3 flagstat local.bam`` never pays for boto3 or urllib3.
"""
from __future__ import annotations

import os
import re
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from ..errors import ObjectNotFoundError, UsageError
from .redact import redact
from .store import ObjectInfo, Store

__all__ = ["open_store", "open_url", "stat", "read_range", "open_input", "url_scheme"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def url_scheme(url: str | os.PathLike[str]) -> str:
    """``"file"`` for local paths and ``file://`` URLs, else the URL's scheme (lower case)."""
    match = _SCHEME.match(os.fspath(url))
    return match.group(1).lower() if match else "file"


def _local_path(url: str) -> str:
    """The filesystem path of a local path or ``file://`` URL."""
    if not _SCHEME.match(url):
        return url
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"{redact(url)}: file:// URLs must name a local path (file:///path)")
    return unquote(parts.path)


def open_store(url: str | os.PathLike[str], **options: Any) -> Store:
    """A store rooted at the "directory" ``url``.

    Parameters
    ----------
    url
        Local path, ``file://``, ``s3://bucket[/prefix]``, ``http(s)://host/path``
        or ``memory://name[/prefix]``.
    **options
        Backend options: for S3 ``endpoint_url``, ``region``, ``anonymous``; for S3 and
        HTTP(S) ``retry`` (:class:`~bams3.io.RetryPolicy`) and ``timeouts``
        (:class:`~bams3.io.retry.Timeouts`); for HTTP(S) ``headers``.

    Raises
    ------
    bams3.errors.UsageError
        Unsupported scheme, malformed URL, or options the backend does not take.
    """
    text = os.fspath(url)
    scheme = url_scheme(text)
    try:
        if scheme == "file":
            from ._local import LocalStore

            _no_options("local paths", options)
            return LocalStore(_local_path(text), url_form="file" if _SCHEME.match(text) else "path")
        if scheme == "s3":
            from ._s3 import S3Store

            parts = urlsplit(text)
            if not parts.netloc:
                raise UsageError(f"{redact(text)}: an S3 URL needs a bucket (s3://bucket/prefix)")
            if parts.query or parts.fragment:
                raise UsageError(f"{redact(text)}: S3 URLs take no query string")
            return S3Store(parts.netloc, parts.path.lstrip("/"), **options)
        if scheme in ("http", "https"):
            from ._http import HttpStore

            parts = urlsplit(text)
            if not parts.netloc:
                raise UsageError(f"{redact(text)}: URL without a host")
            base = f"{parts.scheme}://{parts.netloc}{parts.path}"
            return HttpStore(base, query=parts.query or None, **options)
        if scheme == "memory":
            from ._memory import MemoryStore

            _no_options("memory:// URLs", options)
            parts = urlsplit(text)
            return MemoryStore(parts.netloc or "default", parts.path)
    except TypeError as exc:  # an unknown keyword option
        raise UsageError(f"{redact(text)}: {exc}") from None
    raise UsageError(f"{redact(text)}: unsupported URL scheme {scheme!r} (use a path, file://, s3:// or https://)")


def _no_options(what: str, options: dict[str, Any]) -> None:
    if options:
        raise UsageError(f"{what} take no options, got {', '.join(sorted(options))}")


def open_url(url: str | os.PathLike[str], **options: Any) -> tuple[Store, str]:
    """The store rooted at the parent of the object ``url``, and the object's key.

    For HTTP(S) URLs the query string (a signature) stays attached to the store and is
    sent with its requests, but never appears in ``str()`` or messages.

    Examples
    --------
    >>> store, key = open_url("s3://bucket/cohort/NA12878.bam")   # doctest: +SKIP
    >>> str(store), key                                          # doctest: +SKIP
    ('s3://bucket/cohort/', 'NA12878.bam')
    """
    text = os.fspath(url)
    scheme = url_scheme(text)
    if scheme == "file":
        path = _local_path(text)
        if path.endswith(("/", os.sep)) or not os.path.basename(path):
            raise UsageError(f"{text}: names a directory, not a file")
        parent, name = os.path.split(os.path.abspath(path))
        prefix = text[: _SCHEME.match(text).end()] if _SCHEME.match(text) else ""  # type: ignore[union-attr]
        return open_store(f"file://{parent}" if prefix else parent, **options), name
    parts = urlsplit(text)
    head, _, name = parts.path.rpartition("/")
    if not name:
        raise UsageError(f"{redact(text)}: names a directory, not an object")
    query = f"?{parts.query}" if parts.query else ""
    store = open_store(f"{parts.scheme}://{parts.netloc}{head}/{query}", **options)
    return store, name


def stat(url: str | os.PathLike[str], **options: Any) -> ObjectInfo:
    """Size, ETag and modification time of the object at ``url``.

    Raises
    ------
    bams3.errors.ObjectNotFoundError
        There is no such object.
    """
    store, key = open_url(url, **options)
    info = store.stat(key)
    if info is None:
        raise ObjectNotFoundError(f"{redact(os.fspath(url))}: no such object")
    return info


def read_range(url: str | os.PathLike[str], start: int, end: int, **options: Any) -> bytes:
    """Bytes ``[start, end)`` of the object at ``url`` (shorter if the object ends first).

    Raises
    ------
    bams3.errors.ObjectNotFoundError
        There is no such object.
    """
    store, key = open_url(url, **options)
    data = store.get(key, (start, end))
    if data is None:
        raise ObjectNotFoundError(f"{redact(os.fspath(url))}: no such object")
    return data


def open_input(url: str | os.PathLike[str], start: int = 0, end: int | None = None, **options: Any) -> BinaryIO:
    """A binary read stream over bytes ``[start, end)`` of the object at ``url``.

    For a local path this is a plain buffered file (``open(path, "rb")`` positioned at
    ``start``): nothing slows down reading local BAMs. Remote objects get the
    resumable, read-ahead stream of :meth:`Store.open_read`.

    Raises
    ------
    bams3.errors.ObjectNotFoundError
        There is no such object (raised here, not at the first read).
    """
    text = os.fspath(url)
    if start < 0 or (end is not None and end < start):
        raise UsageError(f"invalid byte range [{start}, {end}) of {redact(text)}")
    if url_scheme(text) == "file":
        from ._local import open_local

        _no_options("local paths", options)
        return open_local(_local_path(text), start, end, url=text)
    store, key = open_url(text, **options)
    return store.open_read(key, start, end)
