"""Object keys: validation and joining.

A key names an object relative to a store's root, with ``/`` between segments, the
same on disk, in S3 and over HTTP. Keys come from dataset metadata, sync plans and
manifests, i.e. from files a user (or an attacker) can edit, so a key that could
leave the root is refused before any backend sees it: ``..`` and ``.`` segments,
absolute keys, empty segments, backslashes (a path separator on Windows and a
common traversal trick) and NUL bytes.
"""
from __future__ import annotations

from ..errors import UsageError

__all__ = ["check_key", "check_prefix", "join_key"]


def _problem(key: str) -> str | None:
    if not key:
        return "empty key"
    if "\x00" in key:
        return "NUL byte in key"
    if "\\" in key:
        return "backslash in key"
    if key.startswith("/"):
        return "absolute key"
    for segment in key.split("/"):
        if segment == "":
            return "empty path segment"
        if segment in (".", ".."):
            return f"'{segment}' path segment"
    return None


def check_key(key: str, *, where: str = "") -> str:
    """Return ``key`` if it names an object safely inside a store, else raise.

    Raises
    ------
    bams3.errors.UsageError
        The key is empty, absolute, has ``.``/``..``/empty segments, a backslash or a NUL.

    Examples
    --------
    >>> check_key("sample.bams3/chunks/chr1_0.zst")
    'sample.bams3/chunks/chr1_0.zst'
    >>> check_key("../etc/passwd")
    Traceback (most recent call last):
    ...
    bams3.errors.UsageError: invalid object key '../etc/passwd': '..' path segment
    """
    if not isinstance(key, str):
        raise TypeError(f"object keys are str, not {type(key).__name__}")
    problem = _problem(key)
    if problem:
        suffix = f" under {where}" if where else ""
        raise UsageError(f"invalid object key {key!r}{suffix}: {problem}")
    return key


def check_prefix(prefix: str) -> str:
    """Validate a listing prefix: empty, or a key that may end with ``/``."""
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def join_key(*parts: str) -> str:
    """Join key fragments with single slashes and validate the result.

    >>> join_key("a/", "b", "c.txt")
    'a/b/c.txt'
    """
    return check_key("/".join(p.strip("/") for p in parts if p.strip("/")))
