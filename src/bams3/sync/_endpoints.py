"""What ``SRC`` and ``DST`` name: a folder / prefix (a tree) or one file / object.

The rules, as ``bams3 sync --help`` states them:

- a local ``SRC`` is a tree if it is a directory and one object if it is a file;
- an ``s3://`` ``SRC`` ending in ``/`` (or naming a whole bucket) is a prefix; otherwise it
  is one object if that object exists, else the prefix ``SRC/``;
- a tree is copied *into* ``DST`` (``SRC/a/b.bam`` becomes ``DST/a/b.bam``);
- one object is copied *into* ``DST`` when ``DST`` ends in ``/`` or is an existing local
  directory, and *as* ``DST`` otherwise (``bams3 sync s3://b/x.bam local/y.bam``).

Only local paths, ``file://`` and ``s3://`` URLs can be synced; signed ``https://`` URLs are
read-only and have no listing (``bams3 stage`` downloads them).
"""
from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from ..io import Store

__all__ = ["Endpoints", "normalise_url", "is_local", "resolve"]


def is_local(url: str) -> bool:
    """A local path or ``file://`` URL (no other scheme)."""
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> str:
    """The filesystem path of a local path or ``file:///path`` URL (percent-decoded)."""
    return unquote(urlsplit(url).path) if url.startswith("file://") else url


def normalise_url(url: str) -> str:
    """An absolute local path (so plans work from any directory), or the ``s3://`` URL as given."""
    if not url:
        raise UsageError("empty path: sync needs a local path or an s3:// URL")
    if is_local(url):
        path = _local_path(url)
        absolute = os.path.abspath(os.path.expanduser(path))
        return absolute + "/" if path.endswith("/") and absolute != "/" else absolute
    if url.startswith("s3://"):
        if len(url) <= len("s3://") or url[len("s3://")] == "/":
            raise UsageError(f"{url}: an s3:// URL needs a bucket name")
        return url
    from ..io.redact import redact

    raise UsageError(f"{redact(url)}: sync works on local paths and s3:// URLs only (use 'bams3 stage' for "
                     "http(s) downloads)")


def _split(url: str) -> tuple[str, str]:
    """``s3://b/x/y.bam`` -> (``s3://b/x/``, ``y.bam``); ``/d/y.bam`` -> (``/d``, ``y.bam``)."""
    if is_local(url):
        head, tail = os.path.split(url.rstrip("/") if url != "/" else url)
        return head or "/", tail
    head, _, tail = url.rstrip("/").rpartition("/")
    return head + "/", tail


def _names_a_prefix(url: str) -> bool:
    """An ``s3://`` URL that can only be a prefix: a trailing ``/`` or a bare bucket."""
    return url.endswith("/") or "/" not in url[len("s3://"):]


@dataclass(frozen=True)
class Endpoints:
    """Both sides of a sync, opened.

    ``source_root`` / ``destination_root`` are the URLs the stores are rooted at (the item
    keys are relative to them). ``single`` is ``(source key, destination key)`` when one
    object is synced, None for a tree.
    """

    source_root: str
    destination_root: str
    src: Store
    dst: Store
    single: tuple[str, str] | None


def _open(url: str) -> Store:
    from ..io import open_store

    return open_store(url)


def resolve(source: str, destination: str) -> Endpoints:
    """Decide what ``source`` and ``destination`` name (see the module rules) and open them."""
    source, destination = normalise_url(source), normalise_url(destination)
    single_key: str | None = None
    if is_local(source):
        if os.path.isfile(source) and not source.endswith("/"):
            single_key = _split(source)[1]
    elif not _names_a_prefix(source):
        parent, name = _split(source)
        if _open(parent).stat(name) is not None:
            single_key = name
    if single_key is None:
        return Endpoints(source, destination, _open(source), _open(destination), None)
    source_root = _split(source)[0]
    if is_local(destination):
        into = destination.endswith("/") or os.path.isdir(destination)
    else:
        into = _names_a_prefix(destination)
    destination_root, dest_key = (destination, single_key) if into else _split(destination)
    return Endpoints(source_root, destination_root, _open(source_root), _open(destination_root),
                     (single_key, dest_key))
