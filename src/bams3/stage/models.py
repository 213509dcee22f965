"""Typed staging request and response: what a caller sends and what it gets back.

The same models serve the library, ``bams3 stage``, the Snakemake rule and the
serverless handlers, so validation lives here, once: :meth:`StageRequest.from_dict`
turns untrusted JSON into checked values or raises one :class:`~bams3.errors.ConfigError`
line saying which key is wrong and why. URLs are kept whole (a signed URL needs its
query to work) but every ``repr``, message and response shows them redacted.

Request::

    {"params": {"input_file": "sample.sam", "threads": 4},
     "data_manifest": {"sample.sam": "https://host/bucket/sample.sam?X-Amz-Signature=...",
                       "hg38.fasta": {"url": "s3://bucket/ref/hg38.fasta.gz",
                                      "sha256": "<64 hex digits of the remote bytes>",
                                      "decompress": true}}}

Response::

    {"success": true,
     "result": {"status": "success", "staged_files": ["sample.sam", "hg38.fasta"],
                "failed_files": [], "run_dir": "/run/dir",
                "plugin_params": {"input_file": "/run/dir/sample.sam", "threads": 4}}}
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from ..errors import ConfigError
from ._names import check_name, check_no_nesting

__all__ = ["ManifestEntry", "StageRequest", "FileFailure", "StageResponse", "Status"]

Status = Literal["success", "partial", "failed"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_KEYS = frozenset({"url", "sha256", "decompress"})
_REQUEST_KEYS = frozenset({"params", "data_manifest"})
_SUPPORTED_SCHEMES = ("s3", "http", "https", "file")


def _redact(url: str) -> str:
    from ..io.redact import redact

    return redact(url)


def _check_url(name: str, url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"data_manifest[{name!r}]: the URL must be a non-empty string")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "gs":
        raise ConfigError(
            f"data_manifest[{name!r}]: gs:// URLs are not supported yet (planned as the bams3[gcs] extra); "
            "give a signed https:// URL instead"
        )
    if scheme and scheme not in _SUPPORTED_SCHEMES:
        raise ConfigError(
            f"data_manifest[{name!r}]: unsupported URL scheme {scheme!r} in {_redact(url)} "
            f"(supported: {', '.join(s + '://' for s in _SUPPORTED_SCHEMES)} and local paths)"
        )
    if scheme in ("s3", "http", "https") and not urlsplit(url).netloc:
        raise ConfigError(f"data_manifest[{name!r}]: {_redact(url)} has no host or bucket")
    return url


@dataclass(frozen=True)
class ManifestEntry:
    """One file to stage: its logical name, where it comes from, and how to check it.

    Attributes
    ----------
    name
        Relative path of the file in the run directory, and the value that parameters
        use to refer to it.
    url
        Source: a local path, ``file://``, ``s3://`` or ``http(s)://`` (signed URLs keep
        their query here; it is never shown).
    sha256
        Expected SHA-256 of the remote bytes (before any decompression), lower-case hex.
        Also makes the cache content-addressed: a hit needs no request at all.
    decompress
        ``True``/``False`` to force, ``None`` to follow the manager's default.
    """

    name: str
    url: str = field(repr=False)
    sha256: str | None = None
    decompress: bool | None = None

    def __repr__(self) -> str:
        return (f"ManifestEntry(name={self.name!r}, url={self.display_url!r}, "
                f"sha256={self.sha256!r}, decompress={self.decompress!r})")

    @property
    def display_url(self) -> str:
        """The URL with any signature or credential replaced, safe for logs and responses."""
        return _redact(self.url)

    @classmethod
    def from_value(cls, name: object, value: object) -> ManifestEntry:
        """Parse one manifest item: a URL string or ``{"url", "sha256"?, "decompress"?}``.

        Raises
        ------
        ConfigError
            On an unsafe name, a bad URL, unknown keys, a malformed checksum or a
            non-boolean ``decompress``.
        """
        name = check_name(name)
        if isinstance(value, str):
            return cls(name=name, url=_check_url(name, value))
        if not isinstance(value, Mapping):
            raise ConfigError(f"data_manifest[{name!r}]: expected a URL string or an object with 'url', "
                              f"got {type(value).__name__}")
        unknown = sorted(set(value) - _ENTRY_KEYS)
        if unknown:
            raise ConfigError(f"data_manifest[{name!r}]: unknown keys {unknown} "
                              f"(allowed: {', '.join(sorted(_ENTRY_KEYS))})")
        if "url" not in value:
            raise ConfigError(f"data_manifest[{name!r}]: missing 'url'")
        sha256 = value.get("sha256")
        if sha256 is not None:
            if not isinstance(sha256, str) or not _SHA256.match(sha256.lower()):
                raise ConfigError(f"data_manifest[{name!r}]: 'sha256' must be 64 hexadecimal digits")
            sha256 = sha256.lower()
        decompress = value.get("decompress")
        if decompress is not None and not isinstance(decompress, bool):
            raise ConfigError(f"data_manifest[{name!r}]: 'decompress' must be true or false")
        return cls(name=name, url=_check_url(name, value["url"]), sha256=sha256, decompress=decompress)

    def to_value(self) -> str | dict[str, Any]:
        """The manifest item back as JSON (with the full, unredacted URL: it is the caller's own)."""
        if self.sha256 is None and self.decompress is None:
            return self.url
        out: dict[str, Any] = {"url": self.url}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        if self.decompress is not None:
            out["decompress"] = self.decompress
        return out


@dataclass(frozen=True)
class StageRequest:
    """Tool parameters plus the manifest of files they may name.

    Attributes
    ----------
    params
        Arbitrary JSON parameters; string values (at any depth, in lists and objects)
        equal to a manifest name are replaced by the staged path, nothing else changes.
    manifest
        The files to stage, in request order. Every entry is staged, referenced by a
        parameter or not (an index such as ``sample.bam.bai`` must sit next to its BAM
        even though no parameter names it).
    """

    params: Mapping[str, Any]
    manifest: tuple[ManifestEntry, ...]

    @classmethod
    def from_dict(cls, data: object) -> StageRequest:
        """Validate a request decoded from JSON.

        Raises
        ------
        ConfigError
            On any malformed part, naming it.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"stage request: expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - _REQUEST_KEYS)
        if unknown:
            raise ConfigError(f"stage request: unknown keys {unknown} (allowed: {', '.join(sorted(_REQUEST_KEYS))})")
        if "data_manifest" not in data:
            raise ConfigError("stage request: missing 'data_manifest'")
        params = data.get("params", {})
        if not isinstance(params, Mapping):
            raise ConfigError(f"stage request: 'params' must be an object, got {type(params).__name__}")
        manifest = data["data_manifest"]
        if not isinstance(manifest, Mapping):
            raise ConfigError(f"stage request: 'data_manifest' must be an object, got {type(manifest).__name__}")
        entries = tuple(ManifestEntry.from_value(name, value) for name, value in manifest.items())
        check_no_nesting(entry.name for entry in entries)
        return cls(params=dict(params), manifest=entries)

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON (full URLs: it goes back to whoever owns them)."""
        return {"params": dict(self.params),
                "data_manifest": {entry.name: entry.to_value() for entry in self.manifest}}


@dataclass(frozen=True)
class FileFailure:
    """A manifest entry that could not be staged, safe to show (redacted URL, one-line error)."""

    name: str
    url: str
    error: str
    kind: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "url": self.url, "error": self.error, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileFailure:
        return cls(name=str(data["name"]), url=str(data["url"]), error=str(data["error"]), kind=str(data["kind"]))


@dataclass(frozen=True)
class StageResponse:
    """The outcome of one staging run.

    ``success`` is true only when every manifest entry was staged. With
    ``on_error="continue"`` a run can end ``"partial"``: the parameters naming failed
    entries keep their logical names and :attr:`failed_files` says why.
    """

    status: Status
    staged_files: tuple[str, ...]
    plugin_params: Mapping[str, Any]
    run_dir: str | None = None
    failed_files: tuple[FileFailure, ...] = ()
    error: str | None = None

    @property
    def success(self) -> bool:
        return self.status == "success"

    @classmethod
    def from_error(cls, error: BaseException, *, params: Mapping[str, Any] | None = None,
                   run_dir: str | None = None) -> StageResponse:
        """A ``failed`` response for a run that stopped on ``error`` (``on_error="fail"``)."""
        from ..io.redact import redact_text

        return cls(status="failed", staged_files=(), plugin_params=dict(params or {}), run_dir=run_dir,
                   error=redact_text(" ".join(str(error).split())))

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "status": self.status,
            "staged_files": list(self.staged_files),
            "failed_files": [failure.to_dict() for failure in self.failed_files],
            "plugin_params": dict(self.plugin_params),
            "run_dir": self.run_dir,
        }
        out: dict[str, Any] = {"success": self.success, "result": result}
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageResponse:
        """Read back what :meth:`to_dict` wrote (e.g. ``results/stage/staged.json`` downstream)."""
        try:
            result = data["result"]
            return cls(status=result["status"], staged_files=tuple(result["staged_files"]),
                       plugin_params=dict(result["plugin_params"]), run_dir=result.get("run_dir"),
                       failed_files=tuple(FileFailure.from_dict(f) for f in result.get("failed_files", ())),
                       error=data.get("error"))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"stage response: malformed ({exc!r} missing or wrong type)") from None
