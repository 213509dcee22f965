"""Unusual inputs: signed HTTPS sources, empty BAMs, placed reads without a position, many unplaced
reads, and memory that does not grow with the input."""
from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import pysam
import pytest

from bams3.dataset import Dataset, convert
from bams3.dataset.export import write_bam
from bams3.errors import AccessDeniedError
from tests.helpers.httpserver import SignedFileServer

from .conftest import FRAME, convert_small, records_stream, samtools_count


def test_signed_https_source(http_server: SignedFileServer, edge_bam: Path, tmp_path: Path) -> None:
    shutil.copy(edge_bam, http_server.root / "sample.bam")
    url = http_server.signed_url("sample.bam", expires_in=300)
    dataset = convert_small(url, tmp_path / "h.bams3")
    assert "Signature" not in dataset.metadata.source_url and "Expires" not in dataset.metadata.source_url
    out = tmp_path / "back.bam"
    write_bam(dataset, str(out))
    assert records_stream(out) == records_stream(edge_bam)


def test_expired_https_source(http_server: SignedFileServer, edge_bam: Path, tmp_path: Path) -> None:
    shutil.copy(edge_bam, http_server.root / "sample.bam")
    with pytest.raises(AccessDeniedError):
        convert_small(http_server.signed_url("sample.bam", expires_in=-10), tmp_path / "x.bams3")
    assert not (tmp_path / "x.bams3" / "_metadata.json").exists()


def _write(path: Path, records: list[dict], references: list[tuple[str, int]], *, index: bool = True) -> Path:
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": ln} for n, ln in references]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for fields in records:
            record = pysam.AlignedSegment(out.header)
            record.query_name = fields["name"]
            record.flag = fields.get("flag", 0)
            record.reference_id = fields["ref"]
            record.reference_start = fields["pos"]
            record.cigarstring = fields.get("cigar")
            record.query_sequence = "ACGTACGTAC"
            record.query_qualities = pysam.qualitystring_to_array("IIIIIIIIII")
            record.mapping_quality = 0 if record.flag & 4 else 60
            out.write(record)
    if index:
        pysam.index(str(path))
    return path


def test_header_only_bam(fmt: int, tmp_path: Path) -> None:
    bam = _write(tmp_path / "empty.bam", [], [("chr1", 1000)])
    dataset = convert_small(bam, tmp_path / "e.bams3", format=fmt)
    assert len(dataset.metadata.chunks) == 0 and dataset.count("chr1") == 0
    assert list(dataset.query("chr1:1-100")) == []
    out = tmp_path / "back.bam"
    write_bam(dataset, str(out))
    assert records_stream(out) == records_stream(bam)


def test_placed_reads_without_a_position(fmt: int, tmp_path: Path) -> None:
    """refID set, pos -1 (legal; samtools sorts them first): bin -1, never in a region.

    htslib cannot index such a file, so the expected counts are htslib's overlap rule by hand.
    """
    records = [
        {"name": "nopos1", "flag": 4, "ref": 0, "pos": -1},
        {"name": "nopos2", "flag": 4, "ref": 0, "pos": -1},
        {"name": "a", "ref": 0, "pos": 0, "cigar": "10M"},
        {"name": "b", "ref": 0, "pos": 70_000, "cigar": "10M"},
        {"name": "c", "ref": 1, "pos": -1, "flag": 4},
        {"name": "d", "ref": 1, "pos": 5, "flag": 4},  # placed unmapped: end = pos + 1
        {"name": "u", "ref": -1, "pos": -1, "flag": 4},
    ]
    bam = _write(tmp_path / "nopos.bam", records, [("chr1", 100_000), ("chr2", 1_000)], index=False)
    dataset = convert_small(bam, tmp_path / "n.bams3", format=fmt)
    assert sorted(zip(dataset.metadata.chunks.ref_id.tolist(), dataset.metadata.chunks.bin.tolist())) == [
        (-1, 0), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0)]
    expected = {"chr1": 2, "chr1:1-1": 1, "chr1:70001-70001": 1, "chr2": 1, "chr2:6-6": 1, "chr2:5-5": 0,
                "chr2:7-100": 0}
    for region, count in expected.items():
        assert dataset.count(region) == count == sum(len(b) for b in dataset.query(region)), region
    out = tmp_path / "back.bam"
    write_bam(dataset, str(out))
    assert records_stream(out) == records_stream(bam)


def test_reads_past_the_reference_end(fmt: int, tmp_path: Path) -> None:
    """Regions are not clamped to the reference length: htslib's overlap rule holds beyond it."""
    records = [
        {"name": "inside", "ref": 0, "pos": 900, "cigar": "10M"},
        {"name": "overhang", "ref": 0, "pos": 995, "cigar": "10M"},  # ends at 1005 on a 1000 bp reference
    ]
    bam = _write(tmp_path / "overhang.bam", records, [("chr1", 1_000)])
    dataset = convert_small(bam, tmp_path / "o.bams3", format=fmt)
    for region in ("chr1", "chr1:1000", "chr1:1001", "chr1:1003-1010", "chr1:1005-1010", "chr1:1006-1010",
                   "chr1:990-2000", "chr1:2000-3000"):
        assert dataset.count(region) == samtools_count(bam, region), region
        assert sum(len(b) for b in dataset.query(region)) == samtools_count(bam, region), region


def test_many_unplaced_chunks(edge_bam: Path, fmt: int, tmp_path: Path) -> None:
    dataset = convert_small(edge_bam, tmp_path / "u.bams3", unplaced_chunk_bytes=8192, format=fmt)
    unplaced = dataset.metadata.chunks.ref_id == -1
    assert unplaced.sum() > 5
    assert dataset.metadata.chunks.n_records[unplaced].sum() == dataset.metadata.totals.unplaced
    out = tmp_path / "back.bam"
    write_bam(dataset, str(out))
    assert records_stream(out) == records_stream(edge_bam)


def test_memory_does_not_follow_the_input(medium_bam: Path, fmt: int, tmp_path: Path) -> None:
    """Python-side peak memory of a conversion is a few batches and frames, never a chunk: with
    10 Mbp bins chr1 is one ~40 MB chunk, and holding it would push the peak past 50 MB on top of
    the BAM reader's own batch buffers (~30 MB)."""
    tracemalloc.start()
    try:
        convert(str(medium_bam), str(tmp_path / "m.bams3"), bin_size=10_000_000, format=fmt,
                frame_bytes=FRAME if fmt == 1 else 256 * 1024, show_progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chunks = Dataset.open(str(tmp_path / "m.bams3")).metadata.chunks
    assert int(chunks.raw_size.max()) > 35e6
    assert peak < 50e6, f"peak {peak / 1e6:.1f} MB with a {int(chunks.raw_size.max()) / 1e6:.1f} MB chunk"
