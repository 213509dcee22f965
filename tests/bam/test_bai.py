"""BAI and CSI parsing and region queries, checked against pysam/htslib."""
from __future__ import annotations

import io
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pysam
import pytest

from bams3.bam.bai import BamIndex, Chunk, merge_chunks, parse_index, read_index, reg2bins
from bams3.bam.bgzf import VirtualPosition
from bams3.bam.reader import BamReader, read_header
from bams3.errors import IndexFormatError


def load(path: Path) -> BamIndex:
    with open(path, "rb") as f:
        return read_index(f, name=path.name)


def index_path(bam: Path) -> Path:
    for suffix in (".bai", ".csi"):
        candidate = bam.with_name(bam.name + suffix)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(bam)


@pytest.mark.parametrize("which", ["bai", "csi"])
def test_per_reference_counts_match_pysam(which: str, edge_bam: Path, edge_bam_csi: Path) -> None:
    bam = edge_bam if which == "bai" else edge_bam_csi
    index = load(index_path(bam))
    assert index.kind == which
    with pysam.AlignmentFile(str(bam)) as f:
        stats = f.get_index_statistics()
        assert [index.mapped_unmapped(i) for i in range(len(stats))] == [(s.mapped, s.unmapped) for s in stats]
        assert index.n_no_coor == f.nocoordinate
    with open(bam, "rb") as f:
        index.check_header(read_header(f, name="x"), name="x")
    if which == "csi":
        assert (index.min_shift, index.depth) == (12, 3)  # samtools sizes the depth to the longest reference


def test_metadata_spans_and_linear_index(edge_bam: Path) -> None:
    index = load(index_path(edge_bam))
    with open(edge_bam, "rb") as f, BamReader(f, name="x") as reader:
        rows = np.concatenate([b.records for b in reader.batches()])
    for ref_id, ref in enumerate(index.references):
        mine = rows[rows["ref_id"] == ref_id]
        if len(mine) == 0:
            assert ref.metadata is None and len(ref.bins) == 0
            continue
        assert ref.metadata is not None
        assert int(ref.metadata.start) == int(mine["voffset"][0])
        # the linear index never points past the first record overlapping its window
        windows = mine["pos"] >> 14
        mapped = (mine["flag"] & 4) == 0
        for w in np.unique(windows[mapped])[:50]:
            assert int(ref.linear[w]) <= int(mine["voffset"][mapped & (windows == w)][0])


def fetch_keys(bam: Path, contig: str, beg: int, end: int) -> Counter:
    with pysam.AlignmentFile(str(bam)) as f:
        return Counter((a.query_name, a.flag, a.reference_start) for a in f.fetch(contig, beg, end))


def chunk_keys(bam: Path, index: BamIndex, ref_id: int, beg: int, end: int) -> Counter:
    header = read_header(open(bam, "rb"), name="x")
    found: Counter = Counter()
    with open(bam, "rb") as f:
        for chunk in index.query_chunks(ref_id, beg, end):
            f.seek(chunk.start.compressed)
            with BamReader.from_virtual_range(f, chunk.start, chunk.end, header=header, name="x") as reader:
                for batch in reader.batches():
                    r = batch.records
                    hit = (r["ref_id"] == ref_id) & (r["pos"] < end) & (r["end"] > beg)
                    names = batch[hit].read_names()
                    found.update(zip((n.decode() for n in names), r["flag"][hit].tolist(), r["pos"][hit].tolist()))
    return found


@pytest.mark.parametrize("which", ["bai", "csi"])
def test_query_chunks_cover_exactly_what_pysam_fetches(which: str, edge_bam: Path, edge_bam_csi: Path) -> None:
    bam = edge_bam if which == "bai" else edge_bam_csi
    index = load(index_path(bam))
    header = read_header(open(bam, "rb"), name="x")
    rng = np.random.default_rng(17)
    regions = [(0, 65_000, 66_000), (0, 131_000, 131_100), (0, 0, 300_000), (1, 149_000, 200_000), (2, 0, 40_000), (3, 0, 16_569)]
    for _ in range(25):
        ref_id = int(rng.integers(0, header.n_references))
        length = header.references[ref_id].length
        beg = int(rng.integers(0, length))
        regions.append((ref_id, beg, beg + int(rng.choice([1, 150, 2_000, 40_000]))))
    for ref_id, beg, end in regions:
        contig = header.references[ref_id].name
        assert chunk_keys(bam, index, ref_id, beg, end) == fetch_keys(bam, contig, beg, end), (contig, beg, end)


def test_query_of_a_reference_without_reads_is_empty(edge_bam: Path) -> None:
    index = load(index_path(edge_bam))
    assert index.query_chunks(2, 0, 40_000) == []  # chrEmpty
    assert index.query_chunks(0, 500, 500) == []
    with pytest.raises(IndexError):
        index.query_chunks(9, 0, 10)


def test_small_query_reads_little(medium_bam: Path) -> None:
    """A 1 kbp query maps to a few chunks, not to most of the file."""
    index = load(index_path(medium_bam))
    chunks = index.query_chunks(0, 100_000, 101_000)
    spanned = sum(c.end.compressed - c.start.compressed + 65536 for c in chunks)
    assert 0 < spanned < medium_bam.stat().st_size / 4


def test_reg2bins_and_merge_examples() -> None:
    assert reg2bins(0, 1).tolist() == [0, 1, 9, 73, 585, 4681]
    assert reg2bins(5, 5).tolist() == []
    assert len(reg2bins(0, 1 << 29)) == 1 + 8 + 64 + 512 + 4096 + 32768
    vp = VirtualPosition
    assert merge_chunks([Chunk(vp(10, 0), vp(20, 0)), Chunk(vp(5, 0), vp(12, 3))]) == [Chunk(vp(5, 0), vp(20, 0))]
    assert merge_chunks([Chunk(vp(10, 0), vp(20, 5)), Chunk(vp(20, 9), vp(30, 0))]) == [Chunk(vp(10, 0), vp(30, 0))]
    assert merge_chunks([Chunk(vp(10, 0), vp(20, 5)), Chunk(vp(21, 0), vp(30, 0))]) == [
        Chunk(vp(10, 0), vp(20, 5)),
        Chunk(vp(21, 0), vp(30, 0)),
    ]


# --- bad indexes -----------------------------------------------------------------------------


def bad(data: bytes, match: str) -> None:
    with pytest.raises(IndexFormatError, match=match) as info:
        parse_index(data, name="sample.bam.bai")
    assert str(info.value).startswith("sample.bam.bai: ") and "\n" not in str(info.value)


def test_wrong_magic() -> None:
    bad(b"BAM\x01" + bytes(20), r"not a BAI or CSI index \(magic b'BAM\\x01'\)")


def test_truncated_bai(edge_bam: Path) -> None:
    data = index_path(edge_bam).read_bytes()
    for cut in (6, 50, len(data) // 2, len(data) - 20):
        with pytest.raises(IndexFormatError, match="truncated or corrupt index|runs past the end"):
            parse_index(data[:cut], name="x.bai")


def test_impossible_counts() -> None:
    bad(b"BAI\x01" + struct.pack("<i", -1), "negative references -1")
    bad(b"BAI\x01" + struct.pack("<ii", 1, 1_000_000), "1000000 bins runs past the end")
    bad(b"BAI\x01" + struct.pack("<iiIi", 1, 1, 4681, 5), "bin 4681 declares 5 chunks")
    bad(b"BAI\x01" + struct.pack("<iiIi", 1, 1, 40000, 0), "bin number 40000 is above the largest possible")
    bad(b"BAI\x01" + struct.pack("<iiIi", 1, 1, 37450, 1) + bytes(16), "pseudo-bin has 1 chunks")
    bad(b"CSI\x01" + struct.pack("<iii", 14, 40, 0), "impossible CSI geometry")


def test_truncated_compressed_csi(edge_bam_csi: Path) -> None:
    data = index_path(edge_bam_csi).read_bytes()
    bad(data[:-40], "truncated|missing BGZF EOF")


def test_index_of_another_bam(edge_bam: Path, tiny_bam: Path) -> None:
    index = load(index_path(edge_bam))
    header = read_header(open(tiny_bam, "rb"), name="tiny.bam")
    with pytest.raises(IndexFormatError, match="lists 4 references but the BAM header has 3"):
        index.check_header(header, name="edge_cases.bam.bai")


def test_read_index_from_stream(edge_bam: Path) -> None:
    data = index_path(edge_bam).read_bytes()
    a = read_index(io.BytesIO(data), name="x")
    b = parse_index(data, name="x")
    assert [len(r.bins) for r in a.references] == [len(r.bins) for r in b.references]
