"""The project's error types.

Every failure a user can cause or meet (bad input, a missing object, a forbidden URL,
a corrupt file) is raised as a subclass of :class:`Bams3Error` whose message is one
line naming the file or URL (signature redacted) and the problem. The CLI prints that
line and exits non-zero; anything else reaching the CLI is a bug and keeps its
traceback.

Several classes also derive from the builtin a caller would naturally catch
(``FileNotFoundError`` for a missing object, ``PermissionError`` for 403, ``ValueError``
for malformed input), the way zarr and obstore do, so library users need not learn
our hierarchy to handle the common cases.
"""
from __future__ import annotations

__all__ = [
    "Bams3Error",
    "UsageError",
    "InputFormatError",
    "BgzfError",
    "BamFormatError",
    "IndexFormatError",
    "RegionError",
    "ObjectNotFoundError",
    "AccessDeniedError",
    "ExpiredUrlError",
    "AuthenticationError",
    "PreconditionFailedError",
    "TransientIOError",
    "IntegrityError",
    "DatasetError",
    "ConfigError",
    "LocalWriteError",
]


class Bams3Error(Exception):
    """Base class: a failure to report to the user as one line, without a traceback."""

    #: process exit status the CLI uses for this kind of error
    exit_code: int = 1

    def __str__(self) -> str:  # keep messages one line whatever the cause text holds
        text = super().__str__()
        return " ".join(text.split())


class UsageError(Bams3Error, ValueError):
    """The command line or an API call was given arguments that cannot work together."""

    exit_code = 2


class InputFormatError(Bams3Error, ValueError):
    """A file's bytes are not what its format requires."""


class BgzfError(InputFormatError):
    """Bad BGZF framing: bad magic, truncated block, CRC or size mismatch, missing EOF block."""


class BamFormatError(InputFormatError):
    """Bad BAM content inside valid BGZF: bad magic, impossible lengths, truncated record."""


class IndexFormatError(InputFormatError):
    """A .bai/.csi index that cannot be parsed or does not fit its BAM."""


class RegionError(Bams3Error, ValueError):
    """A malformed region string or a contig the file does not have."""

    exit_code = 2


class ObjectNotFoundError(Bams3Error, FileNotFoundError):
    """A file, object, bucket or URL that does not exist (404, NoSuchKey, ENOENT)."""


class AccessDeniedError(Bams3Error, PermissionError):
    """The server refused access (403). Not retried."""


class ExpiredUrlError(AccessDeniedError):
    """A signed URL whose signature has expired (403 with an expiry message)."""


class AuthenticationError(AccessDeniedError):
    """Credentials are missing or wrong (InvalidAccessKeyId, SignatureDoesNotMatch)."""


class PreconditionFailedError(Bams3Error):
    """A conditional write found the object already there or changed (412)."""


class TransientIOError(Bams3Error, OSError):
    """A transient failure (5xx, throttling, dropped connection, timeout) that outlived its retries."""


class IntegrityError(Bams3Error):
    """Bytes that fail a checksum or size check: corrupt, truncated or tampered data."""


class DatasetError(Bams3Error):
    """A BAMS3 dataset that is incomplete, of an unknown version, or inconsistent with its metadata."""


class ConfigError(Bams3Error, ValueError):
    """A configuration file, sample sheet, manifest or plan that fails validation."""

    exit_code = 2


class LocalWriteError(Bams3Error, OSError):
    """A local file could not be written (disk full, quota, read-only filesystem...).

    The message names the file the caller asked for, never the temporary name the
    bytes went to first; ``errno`` keeps the operating system's code (``ENOSPC``...).
    """
