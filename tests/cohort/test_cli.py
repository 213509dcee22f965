"""``bams3 cohort`` on the command line: inputs, outputs, exit codes, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bams3.cli import main

from .conftest import Cohort, samtools_count


def _root(cohort: Cohort) -> str:
    return str(Path(cohort.samples[0].url).parent)


def test_help_explains_itself() -> None:
    text = subprocess.run([sys.executable, "-m", "bams3", "cohort", "--help"], capture_output=True, text=True,
                          check=True).stdout
    for words in ("samtools view -c", "--jobs", "BED", "0-based", "summary.json", "--fail-fast", "exit status"):
        assert words in " ".join(text.split()), words


def test_prefix_regions_and_bed(local_cohort: Cohort, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bed = tmp_path / "panel.bed"
    bed.write_text("track name=panel\nchr1\t999\t5000\tgeneA\nchr2\t0\t100\tgeneB\n")
    out = tmp_path / "out"
    code = main(["cohort", _root(local_cohort), "-r", "chrM:1-500", "-R", str(bed), "-o", str(out), "--jobs", "3",
                 "--no-progress", "--io-stats"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "4 samples x 3 regions" in captured.out and "4 succeeded, 0 failed" in captured.out
    assert "requests" in captured.out and "of downloading the BAMs" in captured.out
    assert "total" in captured.err  # the --io-stats table
    matrix = pd.read_csv(out / "matrix.tsv", sep="\t", index_col="sample")
    assert list(matrix.columns) == ["chrM:1-500", "geneA", "geneB"]
    for sample in matrix.index:
        bam = local_cohort.bam(sample)
        assert matrix.loc[sample].tolist() == [samtools_count(bam, "chrM:1-500"), samtools_count(bam, "chr1:1000-5000"),
                                               samtools_count(bam, "chr2:1-100")]
    assert (out / "plot.png").stat().st_size > 1000
    cost = json.loads((out / "summary.json").read_text())["cost"]
    assert cost["by_operation"]["file list"]["requests"] >= 1  # listing the prefix is part of the cost
    assert cost["by_operation"]["file get"]["requests"] >= 4


def test_a_failed_sample_exits_1_with_one_line(local_cohort: Cohort, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "datasets.txt"
    listing.write_text(f"{local_cohort.samples[0].url}\nghost\t{tmp_path / 'ghost.bams3'}\n")
    code = main(["cohort", "-f", str(listing), "-r", "chr1:1-1000", "-o", str(tmp_path / "out"), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    lines = [line for line in captured.err.splitlines() if "ghost" in line]
    assert lines == [f"bams3 cohort: sample ghost failed: {tmp_path / 'ghost.bams3'}/: not a complete BAMS3 dataset "
                     "(no _metadata.json: wrong path, or a conversion that did not finish)"]
    assert "Traceback" not in captured.err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["samples"] == {"total": 2, "succeeded": 1, "failed": 1}


def test_fail_fast_writes_nothing(local_cohort: Cohort, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["cohort", local_cohort.samples[0].url, str(tmp_path / "ghost.bams3"), "-r", "chr1",
                 "-o", str(tmp_path / "out"), "--fail-fast", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip().startswith("bams3 cohort: error: ") and "ghost.bams3" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["-r", "chr1:5-2"], "end 2 is before start 5"),
    ([], "give regions with -r REGION or -R FILE"),
    (["-r", "chr1", "--jobs", "0"], "--jobs must be at least 1"),
    (["-R", "/nonexistent/panel.bed"], "region file not found"),
])
def test_usage_errors(local_cohort: Cohort, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                      message: str) -> None:
    code = main(["cohort", _root(local_cohort), *args, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_outputs_to_s3(s3_cohort: object, s3_server: object, capsys: pytest.CaptureFixture[str]) -> None:
    cohort: Cohort = s3_cohort()  # type: ignore[operator]
    bucket = cohort.samples[0].url.split("/")[2]
    code = main(["cohort", f"s3://{bucket}/cohort/", "-r", "chr2:1-20000", "-o", f"s3://{bucket}/results/panel",
                 "--coverage", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    client = s3_server.client()  # type: ignore[attr-defined]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="results/panel/")["Contents"]}
    assert keys == {f"results/panel/{n}" for n in ("table.tsv", "table.parquet", "matrix.tsv", "depth_matrix.tsv",
                                                   "plot.png", "summary.json")}
    summary = json.loads(client.get_object(Bucket=bucket, Key="results/panel/summary.json")["Body"].read())
    assert summary["regions"][0]["count"]["total"] == sum(samtools_count(cohort.bam(s.name), "chr2:1-20000")
                                                          for s in cohort.samples)
