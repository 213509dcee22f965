"""The cohort benchmark's generator and runner (tests/cohort/bench_cohort.py) on a small cohort."""
from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cohort import bench_cohort


def test_benchmark_runs_and_reports(tmp_path: Path, capsys: object) -> None:
    before = os.environ.get("AWS_ENDPOINT_URL_S3")
    out = tmp_path / "rows.jsonl"
    assert bench_cohort.main(["--samples", "3,6", "--regions", "4", "--jobs", "1,4", "--distinct", "2",
                              "--pairs", "300", "--latency-ms", "2", "--json", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["samples"], r["jobs"]) for r in rows] == [(3, 1), (3, 4), (6, 1), (6, 4)]
    assert all(r["failed"] == 0 and r["requests"] > r["samples"] for r in rows)
    # the same work whatever the parallelism: requests grow with samples, not with jobs
    assert rows[0]["requests"] == rows[1]["requests"] < rows[2]["requests"] == rows[3]["requests"]
    assert 0 < rows[0]["bytes_in"] < rows[0]["whole_bam_bytes"]
    assert "| samples | regions | jobs |" in capsys.readouterr().out  # type: ignore[attr-defined]
    assert os.environ.get("AWS_ENDPOINT_URL_S3") == before  # the environment is restored
