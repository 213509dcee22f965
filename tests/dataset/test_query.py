"""Region queries return exactly what ``samtools view BAM region`` returns: same records, same order."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bams3.dataset import Dataset
from bams3.dataset.export import write_sam
from bams3.errors import RegionError

from .conftest import BIN, samtools_count, samtools_view


def sam_text(dataset: Dataset, region: str) -> str:
    out = io.StringIO()
    write_sam(dataset.header, (b.raw_bytes() for b in dataset.query(region)), out, with_header=False)
    return out.getvalue()


def check(dataset: Dataset, bam: Path, region: str) -> None:
    expected_text = samtools_view(bam, region)
    assert dataset.count(region) == samtools_count(bam, region) == expected_text.count("\n"), region
    assert sam_text(dataset, region) == expected_text, region


SPECIAL = [
    "chr1", "chr2", "chrM", "chrEmpty", "chrEmpty:1-1000",
    # bin edges (bins are 64 Kbp; 1-based inclusive coordinates)
    f"chr1:{BIN}-{BIN}", f"chr1:{BIN + 1}-{BIN + 1}", f"chr1:{BIN}-{BIN + 1}", f"chr1:{2 * BIN + 1}-{3 * BIN}",
    f"chr1:1-{BIN}", f"chr1:{BIN + 1}", "chr1:-1000", "chr1:1-1", "chr1:299900-300000", "chr1:299990",
    "chr1:1000000-2000000",  # past the end of the reference
    "chr2:50k-60k", "chrM:1-16569", "chr1:1,000-2,000",
]


@pytest.mark.parametrize("region", SPECIAL)
def test_special_regions(edge_dataset: Dataset, edge_bam: Path, region: str) -> None:
    check(edge_dataset, edge_bam, region)


@st.composite
def regions(draw: st.DrawFn) -> str:
    name, length = draw(st.sampled_from([("chr1", 300_000), ("chr2", 150_000), ("chrM", 16_569), ("chrEmpty", 40_000)]))
    anchor = draw(st.integers(0, length // BIN).map(lambda k: k * BIN) | st.integers(1, length))
    start = max(1, anchor + draw(st.integers(-200, 200)))
    width = draw(st.sampled_from([0, 1, 150, 1_000, 20_000, 100_000]) | st.integers(0, length))
    return f"{name}:{start}-{start + width}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(region=regions())
def test_random_regions(edge_dataset: Dataset, edge_bam: Path, region: str) -> None:
    check(edge_dataset, edge_bam, region)


@pytest.fixture(scope="module")
def read_edges(edge_bam: Path) -> list[tuple[str, int, int]]:
    """(reference, 0-based start, 0-based exclusive end as htslib computes it) of mapped records."""
    import pysam

    with pysam.AlignmentFile(str(edge_bam)) as bam:
        return [(r.reference_name, r.reference_start, r.reference_end) for r in bam
                if not r.is_unmapped and r.reference_end is not None]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_regions_touching_reads(edge_dataset: Dataset, edge_bam: Path, read_edges: list[tuple[str, int, int]],
                                data: st.DataObject) -> None:
    """Regions that start where a read ends or end where a read starts: htslib's half-open rule."""
    name, start, end = data.draw(st.sampled_from(read_edges))
    one_based = data.draw(st.sampled_from([
        (end + 1, end + 1 + data.draw(st.integers(0, 300))),  # just after the read: excluded
        (end, end),  # the read's last base: included
        (max(1, start - data.draw(st.integers(0, 300))), start),  # just before the read: excluded
        (start + 1, start + 1),  # its first base: included
    ]))
    check(edge_dataset, edge_bam, f"{name}:{one_based[0]}-{one_based[1]}")


def test_regions_at_frame_and_chunk_edges(edge_dataset: Dataset, edge_bam: Path) -> None:
    """Regions that start or end exactly at a frame's or chunk's first or last record: the
    counts taken from the tables without decoding must stop exactly there."""
    meta = edge_dataset.metadata
    names = [r.name for r in edge_dataset.references]
    spans = []
    for chunk in range(len(meta.chunks)):
        ref_id = int(meta.chunks.ref_id[chunk])
        if ref_id < 0:
            continue
        spans.append((names[ref_id], int(meta.chunks.min_pos[chunk]), int(meta.chunks.max_pos[chunk])))
        table = edge_dataset.footer(chunk)
        for frame in range(0, len(table), 7):
            spans.append((names[ref_id], int(table.min_pos[frame]), int(table.max_pos[frame])))
    assert len(spans) > 30
    for name, first, last in spans:
        for start, end in ((first + 1, last + 1), (first + 1, last), (first + 2, last + 1), (first, last + 2)):
            if start <= end:
                check(edge_dataset, edge_bam, f"{name}:{max(start, 1)}-{end}")


def test_query_batches_carry_fields(edge_dataset: Dataset) -> None:
    batches = list(edge_dataset.query("chr1:100000-100100"))
    assert batches
    for batch in batches:
        r = batch.records
        assert ((r["pos"] < 100100) & (r["end"] > 99999)).all()
        assert (r["ref_id"] == 0).all()


@pytest.mark.parametrize("region, message", [
    ("chrX:1-100", "unknown reference 'chrX'"),
    ("chr1:abc", "malformed region"),
    ("chr1:200-100", "before start"),
    ("", "empty"),
])
def test_bad_regions(edge_dataset: Dataset, region: str, message: str) -> None:
    with pytest.raises(RegionError, match=message):
        edge_dataset.count(region)
