"""Index plans at the edges: big headers, BAMs of unplaced reads only, index names, shard boundaries."""
from __future__ import annotations

import shutil
from pathlib import Path

import pysam
import pytest

from bams3.chunks import ShardSizing, find_index, make_plan
from bams3.chunks._planner import HEADER_PROBE_BYTES, index_candidates, read_header_and_first_record

from ._checks import check_outputs, record_voffsets, run_plan


def _write_sam_bam(path: Path, header: dict, reads: list[str]) -> Path:
    """A coordinate-sorted, indexed BAM from SAM lines (pysam/samtools write it)."""
    sam = path.with_suffix(".sam")
    with pysam.AlignmentFile(str(sam), "w", header=header):
        pass
    with open(sam, "a") as out:
        out.write("".join(line + "\n" for line in reads))
    pysam.sort("-o", str(path), str(sam), catch_stdout=False)
    pysam.index(str(path))
    return path


def test_a_header_bigger_than_the_probe(tmp_path: Path) -> None:
    refs = [{"SN": f"contig_{i:06d}_" + "x" * 40, "LN": 5000 + i} for i in range(8000)]
    reads = [f"r{i}\t0\t{refs[i % 7]['SN']}\t{100 + i}\t60\t10M\t*\t0\t0\tACGTACGTAC\tIIIIIIIIII" for i in range(300)]
    reads += [f"u{i}\t4\t*\t0\t0\t*\t*\t0\t0\tACGT\tIIII" for i in range(50)]
    bam = _write_sam_bam(tmp_path / "big-header.bam", {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": refs}, reads)
    header, first = read_header_and_first_record(str(bam), bam.stat().st_size)
    assert len(header.references) == 8000 and len(header.raw) > HEADER_PROBE_BYTES
    assert int(first) == int(record_voffsets(bam)[0])
    plan = make_plan(str(bam), chunk_size=40, sizing=ShardSizing(reads=100, bytes=None))
    assert plan.method == "index"
    check_outputs(bam, tmp_path / "run", run_plan(str(bam), plan, tmp_path / "run"), chunk_size=40)


def test_a_bam_of_unplaced_reads_only(tmp_path: Path) -> None:
    reads = [f"u{i}\t77\t*\t0\t0\t*\t*\t0\t0\tACGTACGT\tIIIIIIII" for i in range(120)]
    bam = _write_sam_bam(tmp_path / "unplaced.bam", {"HD": {"VN": "1.6", "SO": "coordinate"},
                                                     "SQ": [{"SN": "chr1", "LN": 10_000}]}, reads)
    plan = make_plan(str(bam), chunk_size=50)
    assert plan.method == "index" and plan.total_reads == 120 and len(plan.shards) == 1
    assert plan.shards[0].start == record_voffsets(bam)[0] or int(plan.shards[0].start) == int(record_voffsets(bam)[0])
    check_outputs(bam, tmp_path / "run", run_plan(str(bam), plan, tmp_path / "run"), chunk_size=50)


def _linear_without_unmapped(bai: Path, bam: Path) -> int:
    """Rewrite a one-reference BAI's linear index the way older indexers built it: mapped reads only.

    samtools 1.x puts placed unmapped mates in the linear index; samtools 0.1.x and some
    other indexers did not, so a window's entry can point past an unmapped mate placed at
    its start. Returns the number of entries changed.
    """
    import struct

    import numpy as np

    from bams3.bam.reader import BamReader

    with open(bam, "rb") as handle, BamReader(handle, name="x") as reader:
        rows = np.concatenate([b.records for b in reader.batches()])
    mapped = rows[(rows["flag"] & 4) == 0]
    data = bytearray(bai.read_bytes())
    pos = 8
    (n_bin,) = struct.unpack_from("<i", data, pos)
    pos += 4
    for _ in range(n_bin):
        _, n_chunk = struct.unpack_from("<Ii", data, pos)
        pos += 8 + 16 * n_chunk
    (n_intv,) = struct.unpack_from("<i", data, pos)
    pos += 4
    changed = 0
    for w in range(n_intv):
        overlapping = mapped[(mapped["pos"] < (w + 1) * 16384) & (mapped["end"] > w * 16384)]
        if len(overlapping):
            value = int(overlapping["voffset"].min())
            if struct.unpack_from("<Q", data, pos + 8 * w)[0] != value:
                struct.pack_into("<Q", data, pos + 8 * w, value)
                changed += 1
    bai.write_bytes(bytes(data))
    return changed


def test_unmapped_mates_at_the_start_of_a_shard_window(tmp_path: Path) -> None:
    """A linear index without the placed unmapped mates (older indexers) must not lose them at shard starts."""
    import numpy as np

    rng = np.random.default_rng(3)

    def seq(n: int) -> str:
        return "".join(rng.choice(list("ACGT"), n))

    reads = []
    for w in range(1, 12):  # in each 16 kbp window: an unmapped mate placed first, then its mapped mate
        pos = w * 16384 + 1
        reads.append(f"p{w}\t133\tchr1\t{pos}\t0\t*\t=\t{pos}\t0\t{seq(100)}\t*")
        reads.append(f"p{w}\t73\tchr1\t{pos}\t60\t100M\t=\t{pos}\t0\t{seq(100)}\t*")
        # enough incompressible reads that each window spans several BGZF blocks
        reads += [f"m{w}_{i}\t0\tchr1\t{pos + 100 + i}\t60\t100M\t*\t0\t0\t{seq(100)}\t*" for i in range(2000)]
    bam = _write_sam_bam(tmp_path / "mates.bam", {"HD": {"VN": "1.6", "SO": "coordinate"},
                                                 "SQ": [{"SN": "chr1", "LN": 300_000}]}, reads)
    assert _linear_without_unmapped(Path(str(bam) + ".bai"), bam) >= 10
    plan = make_plan(str(bam), chunk_size=500, sizing=ShardSizing(reads=2000, bytes=None))
    assert plan.method == "index" and len(plan.shards) >= 3
    assert any(s.first is not None and s.first.pos % 16384 == 0 and s.first.pos > 0 for s in plan.shards)
    check_outputs(bam, tmp_path / "run", run_plan(str(bam), plan, tmp_path / "run"), chunk_size=500)


def test_index_names_samtools_would_find(bams: dict[Path, Path], tmp_path: Path) -> None:
    assert index_candidates("s3://b/x.bam") == ["s3://b/x.bam.bai", "s3://b/x.bam.csi", "s3://b/x.bai", "s3://b/x.csi"]
    assert index_candidates("https://h/x.bam?X-Amz-Signature=abc") == []
    bam = tmp_path / "sample.bam"
    shutil.copy(bams["tiny"], bam)
    assert find_index(str(bam)) is None
    assert make_plan(str(bam)).method == "scan"
    shutil.copy(str(bams["tiny"]) + ".bai", tmp_path / "sample.bai")
    assert find_index(str(bam)) == str(tmp_path / "sample.bai")
    assert make_plan(str(bam)).method == "index"


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_tiny_chunks_and_shards(bams: dict[str, Path], tmp_path: Path, chunk_size: int) -> None:
    plan = make_plan(str(bams["tiny"]), chunk_size=chunk_size, sizing=ShardSizing(reads=1, bytes=None))
    check_outputs(bams["tiny"], tmp_path, run_plan(str(bams["tiny"]), plan, tmp_path), chunk_size=chunk_size)
