"""``bams3 plan``, ``bams3 chunk-stats`` and ``bams3 scan`` from the command line."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bams3.chunks import load_plan
from bams3.cli import main

from .conftest import samtools_flagstat


def test_plan_then_chunk_stats_per_shard(bams: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bam = str(bams["edge_cases"])
    assert main(["plan", bam, "-o", str(tmp_path / "plan.json"), "--chunk-size", "500", "--shard-reads", "2000"]) == 0
    assert "shards" in capsys.readouterr().err
    plan = load_plan(tmp_path / "plan.json")
    assert plan.method == "index" and plan.chunk_size == 500 and plan.sizing.reads == 2000 and plan.sizing.bytes is None
    reads = 0
    for k in range(len(plan.shards)):
        out = tmp_path / f"{k}.jsonl"
        assert main(["chunk-stats", bam, "--plan", str(tmp_path / "plan.json"), "--shard", str(k), "-o", str(out),
                     "--info", str(tmp_path / f"{k}.json")]) == 0
        reads += sum(json.loads(line)["stats"]["total_reads"] for line in out.read_text().splitlines())
    assert reads == plan.total_reads
    assert main(["plan", bam, "-o", str(tmp_path / "scan.json"), "--no-index", "--shard-bytes", "200KiB"]) == 0
    assert load_plan(tmp_path / "scan.json").method == "scan"


def test_scan_writes_every_output(bams: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["scan", str(bams["medium"]), "-o", str(out), "--workers", "2", "--chunk-files", "--sample", "m",
                 "--no-progress"]) == 0
    assert "summary in" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sample"] == "m" and summary["flagstat"] == samtools_flagstat(bams["medium"])
    assert {p.name for p in out.iterdir()} == {"plan.json", "chunk_stats.jsonl", "chunk_stats.parquet", "chunk_files",
                                               "summary.json"}
    assert len(list((out / "chunk_files").iterdir())) == summary["total_chunks"]


def test_errors_are_one_line_and_leave_no_output(bams: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bam = tmp_path / "bad.bam"
    data = bytearray(bams["medium"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    bam.write_bytes(bytes(data))
    shutil.copy(str(bams["medium"]) + ".bai", str(bam) + ".bai")
    assert main(["scan", str(bam), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("bams3 scan: error: ") and str(bam) in err and "\n" not in err
    assert not (tmp_path / "out" / "summary.json").exists() and not (tmp_path / "out" / "chunk_stats.jsonl").exists()
    assert main(["chunk-stats", str(bam), "--plan", str(tmp_path / "out" / "plan.json"), "--shard", "999",
                 "-o", str(tmp_path / "x.jsonl")]) == 2
    assert "no shard 999" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "missing.bam"), "-o", str(tmp_path / "p.json")]) == 1
    assert "missing.bam" in capsys.readouterr().err and not (tmp_path / "p.json").exists()
