"""``samtools flagstat``: counted over record batches, or straight from a stream.

Every flagstat counter depends only on the 12 FLAG bits, on whether the mate is on
another reference, and on whether MAPQ >= 5. So records are reduced to a histogram over
those 2^14 keys, histograms add up across batches, chunks and shards, and the counters
are derived from the final histogram with the rules of samtools' ``bam_stat.c``
(secondary and supplementary alignments count only in the total, secondary,
supplementary, mapped and duplicates lines; the pair lines count primary alignments).
The text and JSON outputs are byte-identical to samtools 1.16 and later, whose
percentages are computed in single precision (``(float)n / total * 100``).

:func:`flagstat_stream` is what ``bams3 flagstat`` runs: the C walker counts the keys
as it checks each record, and nothing here imports numpy (0.08 s of
a 1.3 s run on a 260 MB BAM).
:class:`FlagstatHistogram` counts numpy record batches (a :class:`BamReader`'s).
"""
from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, BinaryIO

from . import _layout as L
from . import _stream, _walk
from .bgzf import BlockReader

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .reader import BamReader
    from .records import RecordBatch

__all__ = ["FlagstatCounts", "FlagstatHistogram", "flagstat", "flagstat_stream", "HISTOGRAM_SIZE"]

_FLAG_BITS = 12
_FLAG_MASK = (1 << _FLAG_BITS) - 1
_DIFFERENT_REF_BIT = 1 << _FLAG_BITS
_MAPQ5_BIT = 1 << (_FLAG_BITS + 1)
#: histogram keys: 12 flag bits, "mate on another reference", "MAPQ >= 5"
HISTOGRAM_SIZE = 1 << (_FLAG_BITS + 2)
if _walk.FLAGSTAT_KEYS != HISTOGRAM_SIZE:
    raise ImportError("bams3.bam._walk counts another flagstat key layout: rebuild the extension")


class FlagstatHistogram:
    """Counts of records per (flags, mate on another reference, MAPQ >= 5) key.

    ``add`` takes record batches (or bare record arrays); ``+`` merges histograms from
    separate chunks; ``counts()`` gives the flagstat lines.
    """

    __slots__ = ("values",)

    def __init__(self, values: NDArray[np.int64] | None = None) -> None:
        import numpy as np  # here, not at the top: flagstat_stream works without numpy

        self.values = np.zeros(HISTOGRAM_SIZE, dtype=np.int64) if values is None else values

    def add(self, batch: RecordBatch | NDArray) -> None:
        """Count the records of a batch (a ``RecordBatch`` or its ``records`` array)."""
        import numpy as np

        records = batch if isinstance(batch, np.ndarray) else batch.records
        key = records["flag"].astype(np.intp) & _FLAG_MASK
        key |= (records["ref_id"] != records["next_ref_id"]) * _DIFFERENT_REF_BIT
        key |= (records["mapq"] >= 5) * _MAPQ5_BIT
        self.values += np.bincount(key, minlength=HISTOGRAM_SIZE)

    def __add__(self, other: FlagstatHistogram) -> FlagstatHistogram:
        return FlagstatHistogram(self.values + other.values)

    def counts(self) -> FlagstatCounts:
        """The flagstat counters (QC-passed, QC-failed) from this histogram."""
        return counts_from_histogram(self.values.tolist())


def counts_from_histogram(values: Sequence[int]) -> FlagstatCounts:
    """The flagstat counters of a histogram over the 2^14 keys (samtools ``bam_stat.c``).

    Only the keys present are visited (a few hundred at most in real data).
    """
    passed, failed = [0] * len(_NAMES), [0] * len(_NAMES)
    for key, n in enumerate(values):
        if not n:
            continue
        flag = key & _FLAG_MASK
        c = failed if flag & L.FLAG_QC_FAIL else passed
        mapped = not flag & L.FLAG_UNMAPPED
        c[_TOTAL] += n
        if flag & L.FLAG_DUPLICATE:
            c[_DUPLICATES] += n
        if mapped:
            c[_MAPPED] += n
        if flag & L.FLAG_SECONDARY:
            c[_SECONDARY] += n
            continue
        if flag & L.FLAG_SUPPLEMENTARY:
            c[_SUPPLEMENTARY] += n
            continue
        c[_PRIMARY] += n
        if flag & L.FLAG_DUPLICATE:
            c[_PRIMARY_DUPLICATES] += n
        if mapped:
            c[_PRIMARY_MAPPED] += n
        if not flag & L.FLAG_PAIRED:
            continue
        c[_PAIRED] += n
        if flag & L.FLAG_READ1:
            c[_READ1] += n
        if flag & L.FLAG_READ2:
            c[_READ2] += n
        if not mapped:
            continue
        if flag & L.FLAG_PROPER_PAIR:
            c[_PROPERLY_PAIRED] += n
        if flag & L.FLAG_MATE_UNMAPPED:
            c[_SINGLETONS] += n
            continue
        c[_BOTH_MAPPED] += n
        if key & _DIFFERENT_REF_BIT:
            c[_MATE_OTHER_REF] += n
            if key & _MAPQ5_BIT:
                c[_MATE_OTHER_REF_MAPQ5] += n
    return FlagstatCounts(**{name: (p, f) for name, p, f in zip(_NAMES, passed, failed)})


@dataclass(frozen=True)
class FlagstatCounts:
    """The ``samtools flagstat`` counters, each a ``(QC-passed, QC-failed)`` pair."""

    total: tuple[int, int]
    primary: tuple[int, int]
    secondary: tuple[int, int]
    supplementary: tuple[int, int]
    duplicates: tuple[int, int]
    primary_duplicates: tuple[int, int]
    mapped: tuple[int, int]
    primary_mapped: tuple[int, int]
    paired: tuple[int, int]
    read1: tuple[int, int]
    read2: tuple[int, int]
    properly_paired: tuple[int, int]
    both_mapped: tuple[int, int]
    singletons: tuple[int, int]
    mate_other_ref: tuple[int, int]
    mate_other_ref_mapq5: tuple[int, int]

    def __add__(self, other: FlagstatCounts) -> FlagstatCounts:
        return FlagstatCounts(
            **{
                f.name: (getattr(self, f.name)[0] + getattr(other, f.name)[0], getattr(self, f.name)[1] + getattr(other, f.name)[1])
                for f in fields(self)
            }
        )

    def format_text(self) -> str:
        """The report exactly as ``samtools flagstat`` prints it (with the final newline)."""
        lines = []
        for key, label, of in _LINES:
            passed, failed = getattr(self, key)
            line = f"{passed} + {failed} {label}"
            if of is not None:
                total = getattr(self, of)
                line += f" ({_percent(passed, total[0]) or 'N/A'} : {_percent(failed, total[1]) or 'N/A'})"
            lines.append(line)
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, dict[str, int | float | None]]:
        """The document ``samtools flagstat -O json`` prints, as a dict (keys in its order)."""
        return {group: dict(items) for group, items in self._json_items()}

    def format_json(self) -> str:
        """The JSON text exactly as ``samtools flagstat -O json`` prints it."""
        groups = []
        for group, items in self._json_items():
            body = ", \n".join(f'  "{key}": {_json_value(value)}' for key, value in items)
            groups.append(f' "{group}": {{ \n{body} \n }}')
        return "{\n" + ",\n".join(groups) + "\n}\n"

    def _json_items(self) -> list[tuple[str, list[tuple[str, int | float | None]]]]:
        out = []
        for column, group in ((0, "QC-passed reads"), (1, "QC-failed reads")):
            items: list[tuple[str, int | float | None]] = []
            for key, label, of in _LINES:
                items.append((_JSON_KEYS.get(key, label), getattr(self, key)[column]))
                if of is not None:
                    pct = _percent(getattr(self, key)[column], getattr(self, of)[column])
                    items.append((f"{_JSON_KEYS.get(key, label)} %", None if pct is None else float(pct[:-1])))
            out.append((group, items))
        return out


#: (counter, text label, counter it is a percentage of)
_LINES: tuple[tuple[str, str, str | None], ...] = (
    ("total", "in total (QC-passed reads + QC-failed reads)", None),
    ("primary", "primary", None),
    ("secondary", "secondary", None),
    ("supplementary", "supplementary", None),
    ("duplicates", "duplicates", None),
    ("primary_duplicates", "primary duplicates", None),
    ("mapped", "mapped", "total"),
    ("primary_mapped", "primary mapped", "primary"),
    ("paired", "paired in sequencing", None),
    ("read1", "read1", None),
    ("read2", "read2", None),
    ("properly_paired", "properly paired", "paired"),
    ("both_mapped", "with itself and mate mapped", None),
    ("singletons", "singletons", "paired"),
    ("mate_other_ref", "with mate mapped to a different chr", None),
    ("mate_other_ref_mapq5", "with mate mapped to a different chr (mapQ>=5)", None),
)
#: where the JSON key differs from the text label
_JSON_KEYS = {"total": "total", "mate_other_ref_mapq5": "with mate mapped to a different chr (mapQ >= 5)"}

#: the counters in FlagstatCounts' order, and their positions (counts_from_histogram)
_NAMES = tuple(f.name for f in fields(FlagstatCounts))
(
    _TOTAL, _PRIMARY, _SECONDARY, _SUPPLEMENTARY, _DUPLICATES, _PRIMARY_DUPLICATES, _MAPPED, _PRIMARY_MAPPED,
    _PAIRED, _READ1, _READ2, _PROPERLY_PAIRED, _BOTH_MAPPED, _SINGLETONS, _MATE_OTHER_REF, _MATE_OTHER_REF_MAPQ5,
) = range(len(_NAMES))


_FLOAT32 = struct.Struct("<f")


def _float32(x: float) -> float:
    """``x`` rounded to single precision, as C's ``(float)x``."""
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


def _percent(n: int, total: int) -> str | None:
    """samtools' ``"%.2f%%"`` of ``(float)n / total * 100.0``, or None when total is 0.

    C computes ``(float)n / (float)total`` in single precision; dividing the two floats
    in double precision and rounding to single gives the same result (double has more
    than twice single's precision, so the double rounding is exact for a division).
    """
    if total == 0:
        return None
    ratio = _float32(_float32(n) / _float32(total))
    return f"{ratio * 100.0:.2f}%"


def _json_value(value: int | float | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def flagstat(reader: BamReader | Iterable[RecordBatch], **batch_options: int) -> FlagstatCounts:
    """Flagstat counters of all records of a reader (or of any iterable of batches).

    Parameters
    ----------
    reader
        A :class:`~bams3.bam.reader.BamReader` (its remaining records are read) or an
        iterable of :class:`~bams3.bam.records.RecordBatch`.
    batch_options
        Passed to ``reader.batches()`` (``target_bytes``).
    """
    histogram = FlagstatHistogram()
    batches = reader.batches(**batch_options) if hasattr(reader, "batches") else reader
    for batch in batches:
        histogram.add(batch)
    return histogram.counts()


def flagstat_stream(
    fileobj: BinaryIO, *, name: str, threads: int = 1, target_bytes: int = 2 * 1024 * 1024
) -> FlagstatCounts:
    """Flagstat counters of a whole BAM stream, without building record rows or importing numpy.

    Each run of inflated blocks is walked by the C walker, which checks every record as
    :class:`~bams3.bam.reader.BamReader` does (same errors) and counts its histogram key.

    Parameters
    ----------
    fileobj
        Binary stream at the start of the BAM file.
    name
        File or URL (redacted) named in error messages.
    threads
        BGZF inflate threads.
    target_bytes
        Inflated bytes walked per C call.

    Raises
    ------
    BgzfError, BamFormatError
        As :meth:`BamReader.batches <bams3.bam.reader.BamReader.batches>`.
    """
    with BlockReader(fileobj, name=name, threads=threads, gap=_stream.CARRY_GAP) as blocks:
        header, carry, table = _stream.read_header(blocks, name=name)
        # each buffer is done with once counted: its memory is reused for a later run
        buffers = _stream.RecordBuffers(blocks, carry, table, name=name, ranged=False, recycle=True)
        histogram = array("q", bytes(8 * HISTOGRAM_SIZE))
        n_references = header.n_references
        blocks.start_read_ahead(target_bytes)
        while (got := buffers.next(target_bytes)) is not None:
            buffer, table = got
            try:
                _, next_pos = _walk.count_flags(buffer, 0, len(buffer), L.MAX_RECORD_BYTES, n_references, histogram)
            except (_walk.WalkError, _walk.RefIdError) as exc:
                raise _stream.record_error(exc, table, name=name, n_references=n_references) from None
            buffers.consumed(buffer, table, next_pos)
    return counts_from_histogram(histogram)
