"""Object keys inside a BAMS3 dataset prefix (docs/FORMAT.md, "Object layout").

A dataset is a prefix holding ``_metadata.json`` and, under ``chunks/<run_id>/``, one object
per chunk. Keys are *derived* from the chunk's reference index and bin through the key
encoding named in the metadata (the way zarr derives chunk keys from grid coordinates), so the
metadata needs no key column: that keeps ``_metadata.json`` small for a whole genome.

The run id in every chunk key is what makes a rerun safe: a conversion writes its chunks under
a fresh run id, and only the run named by the committed metadata is part of the dataset; chunks
of an interrupted or superseded run are never read, whatever they contain.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import DatasetError

__all__ = [
    "METADATA_KEY",
    "CHUNKS_PREFIX",
    "UNPLACED_REF_ID",
    "RUN_ID_PATTERN",
    "ChunkKeyEncoding",
    "new_run_id",
    "run_id_time",
]

#: the commit marker and the only object a reader looks for first
METADATA_KEY = "_metadata.json"
#: every run's chunks live below this prefix
CHUNKS_PREFIX = "chunks/"
#: ``ref_id`` of chunks holding reads without a reference (BAM refID -1)
UNPLACED_REF_ID = -1
#: ``20261123T101500Z-1a2b3c4d``: UTC start time (sortable, tells a person when) and 32 random bits
RUN_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)
_RUN_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
KEY_ENCODING_NAME = "bams3.chunk_key.v1"


def new_run_id(now: datetime | None = None) -> str:
    """A fresh run id: the UTC time the conversion started and 32 random bits."""
    now = now or datetime.now(timezone.utc)
    return f"{now.astimezone(timezone.utc).strftime(_RUN_TIME_FORMAT)}-{secrets.token_hex(4)}"


def run_id_time(run_id: str) -> datetime | None:
    """The start time encoded in ``run_id``, or None when it is not a run id."""
    if not _RUN_ID.match(run_id):
        return None
    return datetime.strptime(run_id.split("-", 1)[0], _RUN_TIME_FORMAT).replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class ChunkKeyEncoding:
    """How a chunk's (ref_id, bin) becomes an object key: ``chunks/<run_id>/<ref_id>/<bin>.bch``.

    Reads without a reference (``ref_id`` -1) go to ``chunks/<run_id>/unplaced/<seq>.bch``.
    The encoding only ever produces keys below ``chunks/<run_id>/``; the run id is checked
    against :data:`RUN_ID_PATTERN` so that tampered metadata cannot point a reader at objects
    outside the dataset prefix.
    """

    run_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.run_id, str) or not _RUN_ID.match(self.run_id):
            raise DatasetError(f"invalid run id {self.run_id!r} in the chunk key encoding")

    @property
    def prefix(self) -> str:
        """The folder (relative to the dataset) that holds every chunk of this run."""
        return f"{CHUNKS_PREFIX}{self.run_id}/"

    def encode(self, ref_id: int, bin_: int) -> str:
        """The key of one chunk, relative to the dataset prefix.

        >>> ChunkKeyEncoding("20261123T101500Z-1a2b3c4d").encode(0, 12)
        'chunks/20261123T101500Z-1a2b3c4d/0/12.bch'
        >>> ChunkKeyEncoding("20261123T101500Z-1a2b3c4d").encode(-1, 0)
        'chunks/20261123T101500Z-1a2b3c4d/unplaced/0.bch'
        """
        ref_id, bin_ = int(ref_id), int(bin_)
        if ref_id == UNPLACED_REF_ID:
            if bin_ < 0:
                raise DatasetError(f"invalid unplaced chunk number {bin_}")
            return f"{self.prefix}unplaced/{bin_}.bch"
        if ref_id < 0 or bin_ < -1:
            raise DatasetError(f"invalid chunk coordinates ref_id={ref_id} bin={bin_}")
        return f"{self.prefix}{ref_id}/{bin_}.bch"

    def to_dict(self) -> dict[str, object]:
        return {"name": KEY_ENCODING_NAME, "configuration": {"run_id": self.run_id}}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "ChunkKeyEncoding":
        if data.get("name") != KEY_ENCODING_NAME:
            raise DatasetError(f"unknown chunk key encoding {data.get('name')!r}")
        configuration = data.get("configuration")
        if not isinstance(configuration, dict):
            raise DatasetError("chunk key encoding without a configuration")
        return cls(run_id=configuration.get("run_id"))  # type: ignore[arg-type]
