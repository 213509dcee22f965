"""What pysam (htslib) reads from a BAM: the reference the bams3.bam tests compare against."""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

#: the columns compared with bams3's RECORD_DTYPE rows (same names)
FIELDS = ("ref_id", "pos", "end", "flag", "mapq", "next_ref_id", "next_pos", "tlen", "l_seq", "n_cigar", "voffset")


@dataclass(frozen=True, eq=False)
class PysamView:
    """Every record's fields as pysam gives them, in file order, plus names and SAM lines."""

    fields: dict[str, np.ndarray]
    names: list[str]
    sam_lines: list[str]
    header_text: str


def pysam_view(path: Path) -> PysamView:
    columns: dict[str, list[int]] = {name: [] for name in FIELDS}
    names: list[str] = []
    lines: list[str] = []
    with pysam.AlignmentFile(str(path), "rb", check_sq=False) as bam:
        header_text = str(bam.header)
        vo = bam.tell()
        for a in bam:
            end = a.reference_end
            columns["ref_id"].append(a.reference_id)
            columns["pos"].append(a.reference_start)
            # pysam gives None when unmapped or without CIGAR; htslib's bam_endpos is then pos + 1
            columns["end"].append(end if end is not None else a.reference_start + 1)
            columns["flag"].append(a.flag)
            columns["mapq"].append(a.mapping_quality)
            columns["next_ref_id"].append(a.next_reference_id)
            columns["next_pos"].append(a.next_reference_start)
            columns["tlen"].append(a.template_length)
            columns["l_seq"].append(a.query_length if a.query_sequence is not None else 0)
            columns["n_cigar"].append(len(a.cigartuples or ()))
            columns["voffset"].append(vo)
            names.append(a.query_name)
            lines.append(a.to_string())
            vo = bam.tell()
    fields = {name: np.array(values, dtype=np.int64) for name, values in columns.items()}
    return PysamView(fields=fields, names=names, sam_lines=lines, header_text=header_text)


def uncompressed_stream(path: Path) -> bytes:
    """The whole inflated BAM stream (BGZF is valid multi-member gzip)."""
    return gzip.decompress(Path(path).read_bytes())
