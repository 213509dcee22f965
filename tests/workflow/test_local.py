"""The workflow end to end on local BAMs: outputs, logs, reruns, failures and recovery."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from .conftest import samtools_flagstat, snakemake, write_sheet

CHUNKS = {"chunk_size": 400, "shard_reads": 1600}


def _check_sample(results: Path, bam: Path) -> dict:
    summary = json.loads((results / "summary.json").read_text())
    assert summary["flagstat"] == samtools_flagstat(bam)
    rows = [json.loads(line) for line in (results / "chunk_stats.jsonl").read_text().splitlines()]
    assert [r["chunk_info"]["chunk_id"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["chunk_info"]["total_chunks"] for r in rows} == {len(rows)} == {summary["total_chunks"]}
    assert sum(r["stats"]["total_reads"] for r in rows) == summary["total_reads"]
    assert pq.read_table(results / "chunk_stats.parquet").num_rows == len(rows)
    return summary


def test_a_sheet_of_local_bams(wf_bams: dict[str, Path], tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "samples.tsv", [
        {"sample": "tiny", "bam": str(wf_bams["tiny"])},
        {"sample": "edge.cases-1", "bam": str(wf_bams["edge_cases"]), "index": str(wf_bams["edge_cases"]) + ".bai"},
        {"sample": "noindex", "bam": f"file://{wf_bams['noindex']}"},
    ])
    config = {"samples": str(sheet), "output_dir": "out", "chunks": {**CHUNKS, "chunk_files": True}}
    run = snakemake(tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    for sample, bam, method in (("tiny", "tiny", "index"), ("edge.cases-1", "edge_cases", "index"), ("noindex", "noindex", "scan")):
        results = tmp_path / "out" / "chunks" / sample
        summary = _check_sample(results, wf_bams[bam])
        assert summary["plan"]["method"] == method and summary["sample"] == sample
        assert len(list((results / "chunk_files").glob("chunk_*.json"))) == summary["total_chunks"]
        assert not (results / "shards").exists() or not any((results / "shards").iterdir())  # temp() shard files
        plan = json.loads((results / "plan.json").read_text())
        for k in range(len(plan["shards"])):
            assert (tmp_path / "logs" / "chunks" / "stats" / sample / f"{k}.log").exists()
            assert (tmp_path / "benchmarks" / "chunks" / "stats" / sample / f"{k}.tsv").exists()
    assert json.loads((tmp_path / "out/chunks/edge.cases-1/plan.json").read_text())["shards"].__len__() > 1
    again = snakemake(tmp_path, config)
    assert again.returncode == 0 and "Nothing to be done" in again.stderr


def test_bam_urls_instead_of_a_sheet_and_bad_names(wf_bams: dict[str, Path], tmp_path: Path) -> None:
    config = {"bam_urls": [str(wf_bams["tiny"])], "samples": None, "chunks": CHUNKS}
    run = snakemake(tmp_path, config)
    assert run.returncode == 0, run.stderr[-4000:]
    _check_sample(tmp_path / "results" / "chunks" / "tiny", wf_bams["tiny"])

    for bad in ("../escape", ".hidden", "a/b", "x y"):
        sheet = write_sheet(tmp_path / "bad.tsv", [{"sample": bad, "bam": str(wf_bams["tiny"])}])
        failed = snakemake(tmp_path, {"samples": str(sheet)}, "-n")
        assert failed.returncode != 0 and "instance['sample']" in failed.stdout + failed.stderr, bad
    twice = write_sheet(tmp_path / "twice.tsv", [{"sample": "a", "bam": str(wf_bams["tiny"])}] * 2)
    failed = snakemake(tmp_path, {"samples": str(twice)}, "-n")
    assert failed.returncode != 0 and "repeated: a" in failed.stdout + failed.stderr
    failed = snakemake(tmp_path, {"samples": None, "chunks": {"chunk_size": 0}}, "-n")
    assert failed.returncode != 0 and "chunk_size" in failed.stdout + failed.stderr


def test_a_corrupt_bam_fails_its_shard_job_and_a_fixed_one_completes(wf_bams: dict[str, Path], tmp_path: Path) -> None:
    good = wf_bams["edge_cases"]
    bam = tmp_path / "data" / "s.bam"
    bam.parent.mkdir()
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a block in the middle: a CRC / deflate error there
    bam.write_bytes(bytes(data))
    shutil.copy(str(good) + ".bai", str(bam) + ".bai")
    config = {"samples": str(write_sheet(tmp_path / "s.tsv", [{"sample": "s", "bam": str(bam)}])),
              "chunks": {"chunk_size": 400, "shard_reads": 1600}}

    failed = snakemake(tmp_path, config)
    assert failed.returncode != 0
    assert "Error in rule chunk_stats" in failed.stderr
    logs = list((tmp_path / "logs" / "chunks" / "stats" / "s").glob("*.log"))
    errors = [line for log in logs for line in log.read_text().splitlines() if line.startswith("error: ")]
    assert len(errors) >= 1 and all(str(bam) in e and "BGZF block" in e for e in errors)
    results = tmp_path / "results" / "chunks" / "s"
    plan = json.loads((results / "plan.json").read_text())
    made = sorted(p.name for p in (results / "shards").iterdir()) if (results / "shards").exists() else []
    assert len(made) < 2 * len(plan["shards"])  # the failed shard left no output (not even a partial file)
    assert not [n for n in made if "partial" in n] and not (results / "summary.json").exists()

    shutil.copy(good, bam)  # the fixed input (a new file: the plan is made again)
    fixed = snakemake(tmp_path, config)
    assert fixed.returncode == 0, fixed.stderr[-4000:]
    _check_sample(results, good)
