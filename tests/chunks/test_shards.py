"""Plans, shard jobs and aggregation on local BAMs: every read in exactly one chunk, totals = samtools."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bams3.chunks import ShardSizing, load_plan, make_plan, plan_by_scan, plan_from_index, run_shard, scan
from bams3.errors import Bams3Error, BgzfError, IndexFormatError, IntegrityError
from tests.helpers.bamgen import write_bam

from ._checks import check_outputs, run_plan
from .conftest import samtools_flagstat


@pytest.mark.parametrize("preset", ["tiny", "edge_cases", "medium"])
@pytest.mark.parametrize("method", ["index", "scan"])
def test_shards_tile_the_bam_and_totals_equal_samtools(bams: dict[str, Path], tmp_path: Path, preset: str, method: str) -> None:
    bam = bams[preset]
    chunk_size = 250
    sizing = ShardSizing(reads=1000, bytes=None)
    plan = (plan_from_index(str(bam), str(bam) + ".bai", chunk_size=chunk_size, sizing=sizing) if method == "index"
            else plan_by_scan(str(bam), chunk_size=chunk_size, sizing=sizing))
    assert plan.method == method and plan.total_reads == sum(samtools_flagstat(bam)[g]["total"]
                                                             for g in ("QC-passed reads", "QC-failed reads"))
    if preset != "tiny":
        assert len(plan.shards) > 1
    summary = run_plan(str(bam), plan, tmp_path)
    rows = check_outputs(bam, tmp_path, summary, chunk_size=chunk_size)
    if method == "scan":  # shards cut at chunk boundaries: every chunk but the last is full
        assert all(r["stats"]["total_reads"] == chunk_size for r in rows[:-1])
        assert plan.total_chunks == len(rows)


@pytest.mark.parametrize("csi", [False, True])
def test_index_plans_hold_with_byte_targets_and_csi(tmp_path: Path, csi: bool) -> None:
    bam = write_bam(tmp_path / "x.bam", n_pairs=3000, seed=11, edge_cases=True, long_reads=6, csi=csi,
                    references=(("chr1", 400_000), ("chr2", 90_000), ("chrEmpty", 50_000), ("chr3", 70_000)),
                    no_reads_on=("chrEmpty",))
    plan = make_plan(str(bam), chunk_size=100, sizing=ShardSizing(reads=None, bytes=20_000))
    assert plan.method == "index" and plan.index_format == ("csi" if csi else "bai") and len(plan.shards) > 3
    work = tmp_path / "run"
    check_outputs(bam, work, run_plan(str(bam), plan, work), chunk_size=100)


def test_the_big_bam_in_one_process(big_bam: Path, tmp_path: Path) -> None:
    result = scan(str(big_bam), tmp_path / "out", workers=2, progress=False, chunk_files=True,
                  sizing=ShardSizing(reads=100_000, bytes=None))
    assert result.summary["plan"]["method"] == "index" and result.summary["plan"]["shards"] > 4
    check_outputs(big_bam, tmp_path / "out", result.summary, chunk_size=1000)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no work files left


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_shard_pools_give_the_same_outputs_as_one_worker(big_bam: Path, tmp_path: Path, pool: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from bams3.chunks import _scan

    sizing = ShardSizing(reads=150_000, bytes=None)
    one = scan(str(big_bam), tmp_path / "one", workers=1, progress=False, sizing=sizing)
    # the test BAM is small enough that a process pool would not be started for it
    assert big_bam.stat().st_size < _scan._PROCESS_POOL_MIN_BYTES_PER_WORKER
    monkeypatch.setattr(_scan, "_PROCESS_POOL_MIN_BYTES_PER_WORKER", 0)
    many = scan(str(big_bam), tmp_path / "many", workers=2, pool=pool, progress=False, sizing=sizing)
    assert one.summary["plan"]["shards"] > 2
    for name in ("chunk_stats.jsonl", "summary.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes()


def test_without_an_index_one_pass_plans_and_counts(unsorted_bam: Path, tmp_path: Path) -> None:
    result = scan(str(unsorted_bam), tmp_path / "out", chunk_size=300, progress=False, chunk_files=True,
                  sizing=ShardSizing(reads=1000, bytes=None))
    plan = load_plan(result.plan)
    assert plan.method == "scan" and len(plan.shards) > 1
    rows = check_outputs(unsorted_bam, tmp_path / "out", result.summary, chunk_size=300)
    # the single pass numbers chunks the way the plan's shards would
    assert [r["chunk_info"]["shard"] for r in rows] == sorted(r["chunk_info"]["shard"] for r in rows)
    assert rows[-1]["chunk_info"]["shard"] == len(plan.shards) - 1


def test_a_header_only_bam(tmp_path: Path) -> None:
    import pysam

    bam = tmp_path / "empty.bam"
    with pysam.AlignmentFile(str(bam), "wb", header={"HD": {"VN": "1.6", "SO": "coordinate"},
                                                     "SQ": [{"SN": "chr1", "LN": 1000}]}):
        pass
    pysam.index(str(bam))
    for use_index in (True, False):
        out = tmp_path / f"out-{use_index}"
        result = scan(str(bam), out, use_index=use_index, progress=False)
        assert result.summary["total_reads"] == 0 and result.summary["total_chunks"] == 0
        assert (out / "chunk_stats.jsonl").read_text() == ""
        assert result.summary["flagstat"] == samtools_flagstat(bam)


def _corrupt_middle(src: Path, dst: Path) -> int:
    """Copy ``src`` with one byte flipped in the deflate data of a block in the middle; return its offset."""
    data = bytearray(src.read_bytes())
    at = len(data) // 2
    data[at] ^= 0xFF
    dst.write_bytes(bytes(data))
    shutil.copy(str(src) + ".bai", str(dst) + ".bai")
    return at


def test_a_corrupt_block_fails_its_shard_in_one_line_and_leaves_nothing(bams: dict[str, Path], tmp_path: Path) -> None:
    bam = tmp_path / "corrupt.bam"
    _corrupt_middle(bams["medium"], bam)
    plan = make_plan(str(bam), chunk_size=1000, sizing=ShardSizing(reads=20_000, bytes=None))  # header + index: fine
    failures = []
    for k in range(len(plan.shards)):
        out, info = tmp_path / f"{k}.jsonl", tmp_path / f"{k}.info.json"
        try:
            run_shard(str(bam), plan, k, out, info_output=info)
        except Bams3Error as exc:
            failures.append((k, exc))
            assert not out.exists() and not info.exists()
        else:
            assert out.exists() and info.exists()
    assert len(failures) in (1, 2)  # the shard(s) whose byte range holds the damaged block
    for _, exc in failures:
        assert isinstance(exc, BgzfError) and str(bam) in str(exc) and "\n" not in str(exc)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_a_truncated_bam_is_refused_when_planning(bams: dict[str, Path], tmp_path: Path) -> None:
    data = bams["medium"].read_bytes()
    bam = tmp_path / "truncated.bam"
    bam.write_bytes(data[: len(data) * 2 // 3])
    shutil.copy(str(bams["medium"]) + ".bai", str(bam) + ".bai")
    with pytest.raises(IndexFormatError, match="truncated"):
        make_plan(str(bam))
    with pytest.raises(BgzfError, match="truncated"):
        make_plan(str(bam), use_index=False)


def test_a_bam_replaced_after_planning_is_refused(bams: dict[str, Path], tmp_path: Path) -> None:
    bam = tmp_path / "x.bam"
    shutil.copy(bams["edge_cases"], bam)
    plan = make_plan(str(bam), use_index=False)
    bam.write_bytes(bams["tiny"].read_bytes())
    with pytest.raises(IntegrityError, match="changed since the chunk plan"):
        run_shard(str(bam), plan, 0, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_key_ranges_on_an_unsorted_bam_fail_clearly(unsorted_bam: Path, tmp_path: Path) -> None:
    """Key-range shards rely on coordinate order; records out of order give a one-line error, no output."""
    from dataclasses import replace

    scanned = plan_by_scan(str(unsorted_bam), sizing=ShardSizing(reads=10**9, bytes=None))
    whole = replace(scanned.shards[0], reads=None)
    keyed = replace(scanned, method="index", index_url="made-up.bai", index_format="bai", shards=(whole,))
    with pytest.raises(Bams3Error, match="not coordinate-sorted") as caught:
        run_shard(str(unsorted_bam), keyed, 0, tmp_path / "o.jsonl")
    assert "\n" not in str(caught.value) and not (tmp_path / "o.jsonl").exists()


def test_shard_reports_count_what_was_read(bams: dict[str, Path], tmp_path: Path) -> None:
    bam = bams["medium"]
    plan = make_plan(str(bam), sizing=ShardSizing(reads=50_000, bytes=None))
    report = run_shard(str(bam), plan, 0, tmp_path / "0.jsonl", info_output=tmp_path / "0.info.json")
    info = json.loads((tmp_path / "0.info.json").read_text())
    assert info == report.to_dict() and report.reads > 0
    start, end = plan.shards[0].byte_range(plan.bam_size)
    assert 0 < report.bytes_consumed <= end - start
