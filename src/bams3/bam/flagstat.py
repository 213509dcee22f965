"""``samtools flagstat``, counted with numpy over record batches.

Every flagstat counter depends only on the 12 FLAG bits, on whether the mate is on
another reference, and on whether MAPQ >= 5. So each batch is reduced to a histogram
over those 2^14 keys (one ``np.bincount``), histograms add up across batches, chunks
and shards, and the counters are derived from the final histogram with the rules of
samtools' ``bam_stat.c`` (secondary and supplementary alignments count only in the
total, secondary, supplementary, mapped and duplicates lines; the pair lines count
primary alignments). The text and JSON outputs are byte-identical to samtools 1.16 and
later, whose percentages are computed in single precision (``(float)n / total * 100``).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from . import _layout as L

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .reader import BamReader
    from .records import RecordBatch

__all__ = ["FlagstatCounts", "FlagstatHistogram", "flagstat", "HISTOGRAM_SIZE"]

_FLAG_BITS = 12
_FLAG_MASK = (1 << _FLAG_BITS) - 1
_DIFFERENT_REF_BIT = 1 << _FLAG_BITS
_MAPQ5_BIT = 1 << (_FLAG_BITS + 1)
#: histogram keys: 12 flag bits, "mate on another reference", "MAPQ >= 5"
HISTOGRAM_SIZE = 1 << (_FLAG_BITS + 2)


class FlagstatHistogram:
    """Counts of records per (flags, mate on another reference, MAPQ >= 5) key.

    ``add`` takes record batches (or bare record arrays); ``+`` merges histograms from
    separate chunks; ``counts()`` gives the flagstat lines.
    """

    __slots__ = ("values",)

    def __init__(self, values: NDArray[np.int64] | None = None) -> None:
        self.values = np.zeros(HISTOGRAM_SIZE, dtype=np.int64) if values is None else values

    def add(self, batch: RecordBatch | NDArray) -> None:
        """Count the records of a batch (a ``RecordBatch`` or its ``records`` array)."""
        records = batch if isinstance(batch, np.ndarray) else batch.records
        key = records["flag"].astype(np.intp) & _FLAG_MASK
        key |= (records["ref_id"] != records["next_ref_id"]) * _DIFFERENT_REF_BIT
        key |= (records["mapq"] >= 5) * _MAPQ5_BIT
        self.values += np.bincount(key, minlength=HISTOGRAM_SIZE)

    def __add__(self, other: FlagstatHistogram) -> FlagstatHistogram:
        return FlagstatHistogram(self.values + other.values)

    def counts(self) -> FlagstatCounts:
        """The flagstat counters (QC-passed, QC-failed) from this histogram."""
        keys = np.arange(HISTOGRAM_SIZE)
        flag = keys & _FLAG_MASK

        def has(bit: int) -> NDArray[np.bool_]:
            return (flag & bit) != 0

        mapped = ~has(L.FLAG_UNMAPPED)
        primary = ~has(L.FLAG_SECONDARY) & ~has(L.FLAG_SUPPLEMENTARY)
        paired = primary & has(L.FLAG_PAIRED)
        both_mapped = paired & mapped & ~has(L.FLAG_MATE_UNMAPPED)
        other_ref = both_mapped & ((keys & _DIFFERENT_REF_BIT) != 0)
        masks = {
            "total": np.ones(HISTOGRAM_SIZE, dtype=bool),
            "primary": primary,
            "secondary": has(L.FLAG_SECONDARY),
            "supplementary": ~has(L.FLAG_SECONDARY) & has(L.FLAG_SUPPLEMENTARY),
            "duplicates": has(L.FLAG_DUPLICATE),
            "primary_duplicates": primary & has(L.FLAG_DUPLICATE),
            "mapped": mapped,
            "primary_mapped": primary & mapped,
            "paired": paired,
            "read1": paired & has(L.FLAG_READ1),
            "read2": paired & has(L.FLAG_READ2),
            "properly_paired": paired & has(L.FLAG_PROPER_PAIR) & mapped,
            "both_mapped": both_mapped,
            "singletons": paired & mapped & has(L.FLAG_MATE_UNMAPPED),
            "mate_other_ref": other_ref,
            "mate_other_ref_mapq5": other_ref & ((keys & _MAPQ5_BIT) != 0),
        }
        failed = has(L.FLAG_QC_FAIL)
        values = self.values
        return FlagstatCounts(
            **{name: (int(values[mask & ~failed].sum()), int(values[mask & failed].sum())) for name, mask in masks.items()}
        )


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


def _percent(n: int, total: int) -> str | None:
    """samtools' ``"%.2f%%"`` of ``(float)n / total * 100.0``, or None when total is 0."""
    if total == 0:
        return None
    ratio = np.float32(n) / np.float32(total)  # C: (float)n / total, all in single precision
    return f"{float(ratio) * 100.0:.2f}%"


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
