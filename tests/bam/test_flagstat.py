"""flagstat: the same text and JSON as samtools (pysam's bundled samtools is the oracle)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest

from bams3.bam.flagstat import FlagstatCounts, FlagstatHistogram, flagstat, flagstat_stream
from bams3.bam.reader import BamReader


def bams3_flagstat(path: Path, *, threads: int = 1, target_bytes: int = 2 << 20, stream: bool = False) -> FlagstatCounts:
    with open(path, "rb") as f:
        if stream:  # what the CLI runs: the C walker counts, no record rows
            return flagstat_stream(f, name=str(path), threads=threads, target_bytes=target_bytes)
        with BamReader(f, name=str(path), threads=threads) as reader:
            return flagstat(reader, target_bytes=target_bytes)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("preset", ["tiny", "edge_cases", "medium", "unsorted"])
def test_text_and_json_equal_samtools(presets: dict[str, Path], preset: str, threads: int, stream: bool) -> None:
    path = presets[preset]
    counts = bams3_flagstat(path, threads=threads, target_bytes=300_000, stream=stream)
    assert counts.format_text() == pysam.flagstat(str(path))
    expected_json = pysam.flagstat("-O", "json", str(path))
    assert counts.format_json() == expected_json
    assert counts.to_json() == json.loads(expected_json)


def test_edge_cases_exercise_every_line(edge_bam: Path) -> None:
    """The preset is only a good oracle test if every counter is non-trivial."""
    counts = bams3_flagstat(edge_bam)
    for name, (passed, _) in vars(counts).items():
        assert passed > 0, name
    assert counts.total[1] > 0 and counts.mapped[1] > 0  # QC failures too


def build_bam(path: Path, n_unmapped: int, n_mapped: int) -> Path:
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "c1", "LN": 1000}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i in range(n_mapped + n_unmapped):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.query_sequence = f"r{i}", "ACGT"
            if i < n_mapped:
                a.flag, a.reference_id, a.reference_start, a.cigarstring, a.mapping_quality = 0, 0, 5 + i, "4M", 30
            else:
                a.flag, a.reference_id, a.reference_start = 4, -1, -1
            out.write(a)
    return path


def test_percentages_use_single_precision_like_samtools(tmp_path: Path) -> None:
    """1/160 is 0.625: samtools computes (float)1/160*100 = 0.625000..., printed 0.63 (double gives 0.62)."""
    path = build_bam(tmp_path / "pct.bam", n_unmapped=159, n_mapped=1)
    text = bams3_flagstat(path).format_text()
    assert "1 + 0 mapped (0.63% : N/A)\n" in text
    assert bams3_flagstat(path, stream=True).format_text() == text
    assert "0 + 0 properly paired (N/A : N/A)\n" in text
    assert text == pysam.flagstat(str(path))
    doc = bams3_flagstat(path).to_json()
    assert doc["QC-passed reads"]["mapped %"] == 0.63 and doc["QC-failed reads"]["mapped %"] is None


def test_exact_percent_line(tmp_path: Path) -> None:
    path = build_bam(tmp_path / "p95.bam", n_unmapped=1, n_mapped=19)
    assert "19 + 0 mapped (95.00% : N/A)\n" in bams3_flagstat(path).format_text()


def test_histograms_add_up_across_chunks(edge_bam: Path) -> None:
    whole = FlagstatHistogram()
    parts = [FlagstatHistogram(), FlagstatHistogram()]
    with open(edge_bam, "rb") as f, BamReader(f, name="x") as reader:
        for i, batch in enumerate(reader.batches(target_bytes=100_000)):
            whole.add(batch)
            parts[i % 2].add(batch.records)
    assert (parts[0] + parts[1]).counts() == whole.counts()
    assert parts[0].counts() + parts[1].counts() == whole.counts()
    assert np.array_equal((parts[0] + parts[1]).values, whole.values)


# --- the CLI verb ------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bams3", "flagstat", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BAMS3_LOG_LEVEL": "WARNING"},
    )


def test_cli_text_json_and_threads(edge_bam: Path) -> None:
    result = run_cli(str(edge_bam))
    assert result.returncode == 0, result.stderr
    assert result.stdout == pysam.flagstat(str(edge_bam))
    result = run_cli("--json", "--threads", "2", str(edge_bam))
    assert result.returncode == 0, result.stderr
    assert result.stdout == pysam.flagstat("-O", "json", str(edge_bam))


def test_cli_io_stats_go_to_stderr(tiny_bam: Path) -> None:
    result = run_cli("--io-stats", str(tiny_bam))
    assert result.returncode == 0, result.stderr
    assert result.stdout == pysam.flagstat(str(tiny_bam))
    assert result.stderr.strip()


def test_cli_rejects_zero_threads(tiny_bam: Path) -> None:
    result = run_cli("--threads", "0", str(tiny_bam))
    assert result.returncode == 2 and "must be at least 1" in result.stderr
