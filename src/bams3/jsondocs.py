"""Small JSON documents at local or ``s3://`` paths: read one, write one, or write a scratch one.

Workflows pass configuration, plans and results between steps as JSON documents; when the
steps run in different places (a laptop, Lambda, AWS Batch) the document lives in S3.
``get_json`` / ``put_json`` hide where it lives. ``put_json_scratch`` is for documents that
only need *a* place: it writes under a scratch prefix (``BAMS3_SCRATCH_PREFIX``) with a key
made from a name (or the content hash) plus a time-ordered unique id, and returns the path,
so two writers never collide and a listing of the prefix reads in write order.

Documents are stored as UTF-8, two-space indented JSON with a final newline (they are for
people too). ``NaN`` and ``Infinity`` are refused both ways: they are not JSON, and a
document with them cannot be read back by strict parsers (``jq``, browsers, Java).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import ConfigError, InputFormatError, ObjectNotFoundError, UsageError

__all__ = [
    "SCRATCH_PREFIX_ENV",
    "get_json",
    "put_json",
    "put_json_scratch",
    "scratch_url",
    "parse_json",
    "dump_json",
    "JsonGetRequest",
    "JsonGetResponse",
    "JsonPutRequest",
    "JsonPutResponse",
    "handle_get",
    "handle_put",
]

#: where ``put_json_scratch`` writes when no prefix is given
SCRATCH_PREFIX_ENV = "BAMS3_SCRATCH_PREFIX"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _no_constants(token: str) -> float:
    raise ValueError(f"{token} is not JSON")


def parse_json(data: bytes | str, *, where: str) -> Any:
    """Parse a JSON document; one-line :class:`InputFormatError` naming ``where`` if it is not one."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InputFormatError(f"{where}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:
        raise InputFormatError(f"{where}: not valid JSON: {exc}") from exc


def dump_json(document: Any, *, where: str = "document") -> bytes:
    """The stored form of ``document``: indented UTF-8 JSON and a final newline."""
    try:
        return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: cannot be written as JSON: {exc}") from exc


def get_json(url: str) -> Any:
    """Read and parse the JSON document at a local path, ``file://`` or ``s3://`` URL.

    Raises
    ------
    bams3.errors.ObjectNotFoundError
        Nothing is there.
    bams3.errors.InputFormatError
        What is there is not JSON.
    """
    from .io import open_url
    from .io.redact import redact

    store, key = open_url(url)
    data = store.get(key)
    if data is None:
        raise ObjectNotFoundError(f"{redact(url)}: no such file or object")
    return parse_json(data, where=redact(url))


def put_json(url: str, document: Any, *, if_absent: bool = False) -> str:
    """Write ``document`` as JSON at ``url`` (atomically: readers see the old or the new one).

    Parameters
    ----------
    url
        Local path, ``file://`` or ``s3://`` URL.
    document
        Anything :func:`json.dumps` accepts, without NaN or infinities.
    if_absent
        Fail with :class:`bams3.errors.PreconditionFailedError` if something is already there
        (a conditional put on S3), instead of replacing it.

    Returns
    -------
    str
        ``url``, for chaining.
    """
    from .io import open_url
    from .io.redact import redact

    data = dump_json(document, where=redact(url))
    store, key = open_url(url)
    store.put(key, data, mode="create" if if_absent else "overwrite")
    return url


def _stem(name: str | None, content: Any) -> str:
    if name is not None:
        stem = _UNSAFE.sub("-", name.removesuffix(".json")).strip("-.")
        if not stem:
            raise UsageError(f"scratch name {name!r} has no usable characters (letters, digits, '.', '_', '-')")
        return stem
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"sha256-{digest[:16]}"


def new_unique_id(now: datetime | None = None) -> str:
    """``20261123T101500Z-1f2e3d4c5b6a``: sorts by time, and 48 random bits keep writers apart."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(6)}"


def scratch_url(prefix: str, *, name: str | None = None, content: Any = None, unique_id: str | None = None) -> str:
    """Where a scratch document goes: ``<prefix>/<name or content hash>/<unique id>.json``.

    Parameters
    ----------
    prefix
        A local folder, ``file://`` or ``s3://bucket/prefix``.
    name
        What the document is (``"cohort-config"``); characters other than letters, digits,
        ``.``, ``_`` and ``-`` become ``-``, and a ``.json`` suffix is dropped. Without a
        name, the first 16 hex digits of the SHA-256 of the canonical content are used, so
        equal documents land side by side.
    content
        The document (only used when there is no name).
    unique_id
        Fixed id (for reproducible handlers and tests); a new time-ordered id otherwise.

    Examples
    --------
    >>> scratch_url("s3://bucket/scratch/", name="run config.json", unique_id="x1")
    's3://bucket/scratch/run-config/x1.json'
    >>> scratch_url("s3://b/s", content={"a": 1}, unique_id="x1")
    's3://b/s/sha256-015abd7f5cc57a2d/x1.json'
    """
    if not prefix:
        raise UsageError(f"no scratch prefix: pass --scratch-prefix or set {SCRATCH_PREFIX_ENV}")
    uid = unique_id or new_unique_id()
    if _UNSAFE.search(uid):
        raise UsageError(f"unique id {uid!r} may only hold letters, digits, '.', '_' and '-'")
    return f"{prefix.rstrip('/')}/{_stem(name, content)}/{uid}.json"


def put_json_scratch(document: Any, *, prefix: str | None = None, name: str | None = None,
                     unique_id: str | None = None) -> str:
    """Write ``document`` under the scratch prefix (create-only) and return the path written.

    ``prefix`` defaults to ``$BAMS3_SCRATCH_PREFIX``.
    """
    prefix = prefix or os.environ.get(SCRATCH_PREFIX_ENV, "")
    url = scratch_url(prefix, name=name, content=document, unique_id=unique_id)
    return put_json(url, document, if_absent=True)


# ---- typed requests and responses (for the serverless handlers) ----------------------------------

def _field(data: Mapping[str, Any], name: str, kind: type, what: str, *, required: bool = True) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what}: expected a JSON object, got {type(data).__name__}")
    if name not in data or data[name] is None:
        if required:
            raise ConfigError(f"{what}: missing field {name!r}")
        return None
    if not isinstance(data[name], kind):
        raise ConfigError(f"{what}: field {name!r} must be a {kind.__name__}")
    return data[name]


@dataclass(frozen=True)
class JsonGetRequest:
    """Read the JSON document at ``path``."""

    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JsonGetRequest:
        return cls(_field(data, "path", str, "json get request"))


@dataclass(frozen=True)
class JsonGetResponse:
    """The document read."""

    content: Any

    def to_dict(self) -> dict[str, Any]:
        return {"content": self.content}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JsonGetResponse:
        if not isinstance(data, Mapping) or "content" not in data:
            raise ConfigError("json get response: missing field 'content'")
        return cls(data["content"])


@dataclass(frozen=True)
class JsonPutRequest:
    """Write ``content`` at ``path``, or under ``scratch_prefix`` when there is no path."""

    content: Any
    path: str | None = None
    name: str | None = None
    scratch_prefix: str | None = None
    if_absent: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"content": self.content}
        for key in ("path", "name", "scratch_prefix"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.if_absent:
            out["if_absent"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JsonPutRequest:
        what = "json put request"
        if not isinstance(data, Mapping) or "content" not in data:
            raise ConfigError(f"{what}: missing field 'content'")
        return cls(data["content"], _field(data, "path", str, what, required=False),
                   _field(data, "name", str, what, required=False),
                   _field(data, "scratch_prefix", str, what, required=False),
                   bool(_field(data, "if_absent", bool, what, required=False)))


@dataclass(frozen=True)
class JsonPutResponse:
    """Where the document was written."""

    path: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JsonPutResponse:
        return cls(_field(data, "path", str, "json put response"))


def handle_get(request: JsonGetRequest) -> JsonGetResponse:
    """Serve a :class:`JsonGetRequest`."""
    return JsonGetResponse(get_json(request.path))


def handle_put(request: JsonPutRequest) -> JsonPutResponse:
    """Serve a :class:`JsonPutRequest` (a scratch put when it has no path)."""
    if request.path is None:
        return JsonPutResponse(put_json_scratch(request.content, prefix=request.scratch_prefix, name=request.name))
    if request.name is not None or request.scratch_prefix is not None:
        raise UsageError("a JSON put goes to a path or to the scratch prefix (with a name), not both")
    return JsonPutResponse(put_json(request.path, request.content, if_absent=request.if_absent))
