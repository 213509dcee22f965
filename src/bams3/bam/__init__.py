"""BGZF and BAM: blocks and virtual positions, the header, batched record decoding,
BAI/CSI indexes, a BGZF writer, and flagstat.

Layers (each knows only the one below): :mod:`~bams3.bam.bgzf` (frames, blocks,
:class:`VirtualPosition`) -> :mod:`~bams3.bam.header` and :mod:`~bams3.bam.records`
-> :mod:`~bams3.bam.reader`; :mod:`~bams3.bam.bai` reads indexes;
:mod:`~bams3.bam.bgzf_writer` writes BGZF; :mod:`~bams3.bam.flagstat` counts.
Nothing here opens files or URLs: every reader takes a binary stream (``bams3.io``
supplies local, S3 and HTTP ones).

The names below are imported on first use, so ``import bams3.bam`` costs nothing and
using any of them costs numpy and the C helper (plus the ``deflate`` package for
:class:`BgzfWriter`, or to inflate when the helper was built without libdeflate), never
pandas or boto3.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "VirtualPosition",
    "Block",
    "iter_blocks",
    "BgzfWriter",
    "BamHeader",
    "Reference",
    "read_header",
    "BamReader",
    "RecordBatch",
    "RECORD_DTYPE",
    "BamIndex",
    "Chunk",
    "read_index",
    "FlagstatCounts",
    "flagstat",
]

_WHERE = {
    "VirtualPosition": "bgzf",
    "Block": "bgzf",
    "iter_blocks": "bgzf",
    "BgzfWriter": "bgzf_writer",
    "BamHeader": "header",
    "Reference": "header",
    "read_header": "reader",
    "BamReader": "reader",
    "RecordBatch": "records",
    "RECORD_DTYPE": "records",
    "BamIndex": "bai",
    "Chunk": "bai",
    "read_index": "bai",
    "FlagstatCounts": "flagstat",
    "flagstat": "flagstat",
}

if TYPE_CHECKING:
    from .bai import BamIndex, Chunk, read_index
    from .bgzf import Block, VirtualPosition, iter_blocks
    from .bgzf_writer import BgzfWriter
    from .flagstat import FlagstatCounts, flagstat
    from .header import BamHeader, Reference
    from .reader import BamReader, read_header
    from .records import RECORD_DTYPE, RecordBatch


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
