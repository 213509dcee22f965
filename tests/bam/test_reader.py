"""BamReader against pysam: every field, virtual offset and byte of every record."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pysam
import pytest

from bams3.bam import bgzf
from bams3.bam.bgzf import VirtualPosition
from bams3.bam.bgzf_writer import BgzfWriter
from bams3.bam.header import BamHeader
from bams3.bam.reader import BamReader, read_header
from bams3.errors import BamFormatError, RegionError
from tests.bam import oracle


def read_all(path: Path, *, threads: int = 1, target_bytes: int = 8 << 20) -> tuple[BamHeader, np.ndarray, list]:
    with open(path, "rb") as f, BamReader(f, name=str(path), threads=threads) as reader:
        batches = list(reader.batches(target_bytes=target_bytes))
        header = reader.header
    rows = np.concatenate([b.records for b in batches]) if batches else np.empty(0)
    return header, rows, batches


def assert_fields_match(rows: np.ndarray, expected: oracle.PysamView) -> None:
    assert len(rows) == len(expected.names)
    for field in oracle.FIELDS:
        want = expected.fields[field]
        got = rows[field].astype(np.int64)
        if field == "n_cigar":
            # a CIGAR over 65535 ops is stored as 2 placeholder ops; pysam shows the real one
            want = np.where(want > 65535, 2, want)
        mismatch = np.flatnonzero(got != want)
        assert len(mismatch) == 0, (field, mismatch[:5], got[mismatch[:5]], want[mismatch[:5]])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("target_bytes", [50_000, 8 << 20])
def test_fields_and_virtual_offsets_match_pysam(edge_bam: Path, edge_oracle: oracle.PysamView, threads: int, target_bytes: int) -> None:
    header, rows, batches = read_all(edge_bam, threads=threads, target_bytes=target_bytes)
    assert_fields_match(rows, edge_oracle)
    if target_bytes == 50_000:
        assert len(batches) > 10  # records were carried across many batch boundaries


@pytest.mark.parametrize("threads", [1, 2])
def test_fallback_inflate_matches_pysam(edge_bam: Path, edge_oracle: oracle.PysamView, threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libdeflate in the C helper, blocks are inflated one by one by the deflate package."""
    monkeypatch.setattr(bgzf, "_INFLATE_FRAMES", bgzf._inflate_frames_py)
    _, rows, batches = read_all(edge_bam, threads=threads, target_bytes=60_000)
    assert len(batches) > 10
    assert_fields_match(rows, edge_oracle)


@pytest.mark.parametrize("preset", ["tiny", "medium", "unsorted"])
def test_other_presets_match_pysam(presets: dict[str, Path], preset: str) -> None:
    _, rows, _ = read_all(presets[preset], target_bytes=1 << 20)
    assert_fields_match(rows, oracle.pysam_view(presets[preset]))


def test_long_cigar_end_comes_from_cg_tag(edge_bam: Path, edge_oracle: oracle.PysamView) -> None:
    i = edge_oracle.names.index("longcigar")
    _, rows, _ = read_all(edge_bam)
    assert rows["n_cigar"][i] == 2
    assert rows["end"][i] == rows["pos"][i] + 35_000 == edge_oracle.fields["end"][i]


def test_header_matches_pysam(edge_bam: Path, edge_oracle: oracle.PysamView) -> None:
    with open(edge_bam, "rb") as f:
        header = read_header(f, name=str(edge_bam))
    with pysam.AlignmentFile(str(edge_bam)) as bam:
        assert [(r.name, r.length) for r in header.references] == list(zip(bam.references, bam.lengths))
    assert header.text == edge_oracle.header_text
    assert header.ref_id("chrM") == 3
    assert header.ref_name(-1) == "*"
    with pytest.raises(RegionError, match="chrX"):
        header.ref_id("chrX")


def test_raw_bytes_are_the_uncompressed_stream(edge_bam: Path) -> None:
    stream = oracle.uncompressed_stream(edge_bam)
    header, rows, batches = read_all(edge_bam, target_bytes=100_000)
    assert stream.startswith(header.raw)
    records = b"".join(b.raw_bytes() for b in batches)
    assert header.raw + records == stream
    # single-record access agrees with the batch slices
    b = batches[3]
    assert b"".join(b.raw(i) for i in range(len(b))) == b.raw_bytes()
    # a non-contiguous selection still concatenates the selected records
    assert b[::2].raw_bytes() == b"".join(b.raw(i) for i in range(0, len(b), 2))


def test_reencoding_with_bgzf_writer_gives_the_same_bam(edge_bam: Path, edge_oracle: oracle.PysamView, tmp_path: Path) -> None:
    header, _, batches = read_all(edge_bam, target_bytes=200_000)
    out = tmp_path / "copy.bam"
    with open(out, "wb") as f, BgzfWriter(f, level=1) as writer:
        writer.write(header.raw)
        writer.flush()
        for batch in batches:
            writer.write(batch.raw_bytes())
    copy = oracle.pysam_view(out)
    assert copy.header_text == edge_oracle.header_text
    assert copy.sam_lines == edge_oracle.sam_lines


def test_variable_fields_match_pysam(edge_bam: Path) -> None:
    _, _, batches = read_all(edge_bam, target_bytes=1 << 30)
    (batch,) = batches
    names = batch.read_names()
    with pysam.AlignmentFile(str(edge_bam)) as bam:
        for i, a in enumerate(bam):
            assert names[i].decode() == a.query_name
            if i % 7:
                continue
            assert batch.sequence(i) == (a.query_sequence or "")
            if a.cigartuples and len(a.cigartuples) < 65536:
                assert batch.cigar_string(i) == a.cigarstring
            quals = batch.qualities(i)
            if a.query_qualities is None:
                assert len(quals) == 0 or np.all(quals == 0xFF)
            else:
                assert quals.tolist() == list(a.query_qualities)
    spans = batch.spans()
    assert np.all(spans.name < spans.cigar) and np.all(spans.aux <= spans.end)


def test_virtual_range_reads_exactly_the_records_in_it(edge_bam: Path, edge_oracle: oracle.PysamView) -> None:
    vos = edge_oracle.fields["voffset"]
    data = edge_bam.read_bytes()
    with open(edge_bam, "rb") as f:
        header = read_header(f, name="x")
    rng = np.random.default_rng(5)
    cuts = sorted(set(rng.integers(0, len(vos), 12).tolist()) | {0, len(vos)})
    for a, b in zip(cuts, cuts[1:]):
        start = VirtualPosition.from_int(int(vos[a]))
        end = VirtualPosition.from_int(int(vos[b])) if b < len(vos) else None
        # a ranged stream: starts at the start block, stops one max-size block after the end block
        stop = len(data) if end is None else end.compressed + 65536
        stream = io.BytesIO(data[start.compressed : stop])
        with BamReader.from_virtual_range(stream, start, end, header=header, name="range", threads=1 + a % 2) as reader:
            got = np.concatenate([bt.records for bt in reader.batches(target_bytes=30_000)] or [np.empty(0, dtype=[("voffset", "u8")])])
        assert got["voffset"].tolist() == vos[a:b].tolist()


def test_virtual_range_ending_mid_file_never_reads_past_the_end_block(edge_bam: Path, edge_oracle: oracle.PysamView) -> None:
    vos = edge_oracle.fields["voffset"]
    data = edge_bam.read_bytes()
    with open(edge_bam, "rb") as f:
        header = read_header(f, name="x")
    start, end = VirtualPosition.from_int(int(vos[100])), VirtualPosition.from_int(int(vos[3000]))
    # cut the stream just after the block holding `end` (+ the next block's first bytes)
    end_block_size = int.from_bytes(data[end.compressed + 16 : end.compressed + 18], "little") + 1
    stream = io.BytesIO(data[start.compressed : end.compressed + end_block_size + 10])
    with BamReader.from_virtual_range(stream, start, end, header=header, name="range") as reader:
        n = sum(len(b) for b in reader.batches(target_bytes=1 << 20))
    assert n == 2900


def test_reference_id_outside_the_header_is_an_error(tiny_bam: Path, tmp_path: Path) -> None:
    stream = bytearray(oracle.uncompressed_stream(tiny_bam))
    with open(tiny_bam, "rb") as f:
        header = read_header(f, name="x")
    first = len(header.raw)
    stream[first + 4 : first + 8] = (7).to_bytes(4, "little", signed=True)  # refID of record 0
    bad = tmp_path / "badref.bam"
    with open(bad, "wb") as f, BgzfWriter(f) as w:
        w.write(bytes(stream))
    with pytest.raises(BamFormatError, match=r"badref\.bam: record at virtual offset 0:\d+ has ref_id 7, but the header lists 3 references"):
        read_all(bad)


def test_stream_ending_inside_a_record_is_an_error(tiny_bam: Path, tmp_path: Path) -> None:
    stream = oracle.uncompressed_stream(tiny_bam)
    bad = tmp_path / "cut.bam"
    with open(bad, "wb") as f, BgzfWriter(f) as w:
        w.write(stream[:-10])
    with pytest.raises(BamFormatError, match=r"cut\.bam: truncated BAM record at virtual offset"):
        read_all(bad)


def test_header_only_bam_has_no_batches(tiny_bam: Path, tmp_path: Path) -> None:
    with open(tiny_bam, "rb") as f:
        header = read_header(f, name="x")
    path = tmp_path / "header-only.bam"
    with open(path, "wb") as f, BgzfWriter(f) as w:
        w.write(header.raw)
    got_header, rows, batches = read_all(path)
    assert got_header == header and batches == [] and len(rows) == 0


def test_large_header_spanning_many_blocks(tmp_path: Path) -> None:
    refs = [{"SN": f"contig_{i:06d}_with_a_long_name", "LN": 1000 + i} for i in range(30_000)]
    path = tmp_path / "many-refs.bam"
    with pysam.AlignmentFile(str(path), "wb", header={"HD": {"VN": "1.6"}, "SQ": refs}) as out:
        a = pysam.AlignedSegment(out.header)
        a.query_name, a.flag, a.reference_id, a.reference_start = "r1", 0, 29_999, 10
        a.cigarstring, a.query_sequence = "4M", "ACGT"
        out.write(a)
    header, rows, _ = read_all(path)
    assert header.n_references == 30_000
    assert header.references[-1].name == "contig_029999_with_a_long_name"
    assert rows["ref_id"].tolist() == [29_999] and rows["end"].tolist() == [14]


def test_tiny_records_outgrow_the_first_row_guess(tmp_path: Path) -> None:
    """Records of ~40 bytes (unmapped, no sequence): the walker's rows must grow mid-batch."""
    path = tmp_path / "tiny-records.bam"
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": "c1", "LN": 1000}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i in range(6_000):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.flag, a.reference_id, a.reference_start = f"r{i % 10}", 4, -1, -1
            out.write(a)
    _, rows, batches = read_all(path, target_bytes=100_000)
    first_guess = (100_000 + 65_536) // 128 + 64  # rows _BatchBuffer allocates up front
    assert len(batches) >= 2 and max(len(b) for b in batches) > first_guess
    assert_fields_match(rows, oracle.pysam_view(path))


def test_memory_stays_bounded_by_slab_and_batch(medium_bam: Path) -> None:
    """Reading all records holds about one slab and one batch, not the file."""
    import tracemalloc

    total = 0
    tracemalloc.start()
    try:
        with open(medium_bam, "rb") as f, BamReader(f, name="m") as reader:
            for batch in reader.batches(target_bytes=1 << 20):
                total += len(batch.buffer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # measured: ~13 MB held (a 4 MiB slab and its carry, a run of blocks, one batch)
    assert total > 60_000_000  # the data read is several times what may be held
    assert peak < 20_000_000, peak


def test_virtual_range_ending_inside_a_record_that_crosses_a_block(edge_bam: Path, tmp_path: Path) -> None:
    """A range may end mid-record: the record that starts before the end is read whole,
    which takes the next block, and nothing after it."""
    # samtools starts a new block rather than split a record; our writer splits them freely
    path = tmp_path / "split.bam"
    with open(path, "wb") as f, BgzfWriter(f) as writer:
        writer.write(oracle.uncompressed_stream(edge_bam))
    expected = oracle.pysam_view(path)
    for target_bytes in (40_000, 1 << 20):  # records split across blocks and across batches
        assert_fields_match(read_all(path, target_bytes=target_bytes)[1], expected)
    vos = expected.fields["voffset"]
    blocks = vos >> 16
    data = path.read_bytes()
    with open(path, "rb") as f:
        header = read_header(f, name="x")
    # record i starts in one block and ends inside the next (record i + 1 starts mid-block there)
    crossing = np.flatnonzero((blocks[1:] != blocks[:-1]) & ((vos[1:] & 0xFFFF) > 0))
    assert len(crossing) > 20
    for i in crossing[[3, 10, -2]].tolist():
        start = VirtualPosition.from_int(int(vos[i - 2]))
        end = VirtualPosition.from_int(int(vos[i]) + 1)  # one byte into record i
        next_block = int(blocks[i + 1])
        next_size = int.from_bytes(data[next_block + 16 : next_block + 18], "little") + 1
        stream = data[start.compressed : next_block + next_size]  # ends with the block record i needs
        for threads in (1, 2):
            reader = BamReader.from_virtual_range(io.BytesIO(stream), start, end, header=header, name="r", threads=threads)
            with reader:
                got = np.concatenate([b.records for b in reader.batches(target_bytes=1 << 20)])
            assert got["voffset"].tolist() == vos[i - 2 : i + 1].tolist()
