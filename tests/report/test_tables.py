"""The report's pages: what they show for failures, big cohorts, and empty samples."""
from __future__ import annotations

from pathlib import Path

from bams3.report import sample_row, write_cohort_summary, write_stage_summary, write_sync_summary

ZERO = dict.fromkeys(("total", "mapped", "duplicates", "properly paired", "paired in sequencing", "secondary",
                      "supplementary"), 0)


def test_a_sample_without_reads_has_no_percentages() -> None:
    row = sample_row({"sample": "empty", "flagstat": {"QC-passed reads": ZERO, "QC-failed reads": ZERO},
                      "total_chunks": 0, "chunk_size": 1000, "avg_mapping_quality": None})
    assert row["total_reads"] == 0 and row["mapped_percent"] is None and row["bytes_read"] is None


def test_cohort_page_with_depths_failures_and_a_big_matrix(tmp_path: Path) -> None:
    regions = [f"r{j}" for j in range(50)]
    lines = ["sample\t" + "\t".join(regions)] + [f"s{i}\t" + "\t".join(str(i * j) for j in range(50))
                                                 for i in range(250)]
    (tmp_path / "matrix.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "depth.tsv").write_text("sample\tr0\ns0\t31.25\n")
    summary = {
        "samples": {"total": 251, "succeeded": 250, "failed": 1},
        "failed": [{"sample": "lost", "dataset": "s3://b/lost.bams3", "error": "no _metadata.json"}],
        "regions": [{"region": "r0", "contig": "chr1", "start": 0, "end": 1000, "length": 1000,
                     "count": {"total": 12345, "median": 50.0, "min": 0, "max": 99}}],
        "cost": {"requests": 1234, "bytes_transferred": 5 * 2**20, "whole_bam_download": {"bytes": 30 * 2**40}},
    }
    write_cohort_summary(summary, matrix=tmp_path / "matrix.tsv", depth_matrix=tmp_path / "depth.tsv",
                         html=tmp_path / "cohort.html")
    page = (tmp_path / "cohort.html").read_text()
    assert "Cohort: 250 of 251 samples x 1 regions" in page
    assert "Showing the first 200 samples and 40 regions; matrix.tsv holds them all." in page
    assert ">s199<" in page and ">s200<" not in page and ">r39<" in page and ">r40<" not in page
    assert "Mean depth per sample and region" in page and ">31.25<" in page
    assert "lost" in page and "no _metadata.json" in page and ">1-1,000<" in page and ">12,345<" in page
    assert "30.0 TiB" in page and "5.0 MiB" in page


def test_staging_and_publishing_pages_list_failures(tmp_path: Path) -> None:
    write_stage_summary({"success": False, "result": {
        "status": "partial", "staged_files": ["a.fa"], "run_dir": str(tmp_path / "missing-run-dir"),
        "failed_files": [{"name": "b.bam", "url": "https://h/b.bam?<redacted>", "error": "403 forbidden",
                          "kind": "AccessDeniedError"}], "plugin_params": {}}}, html=tmp_path / "stage.html")
    page = (tmp_path / "stage.html").read_text()
    assert "Staging: partial" in page and "Failed files" in page and "AccessDeniedError" in page
    assert "n/a" in page  # the staged file is gone: no size, no crash
    copied = [{"key": f"f{i:04d}", "bytes": 10, "reason": "new"} for i in range(600)]
    write_sync_summary({"source": "results", "destination": "s3://b/run/", "summary": {
        "copied": {"count": 600, "bytes": 6000}, "skipped": {"count": 0, "bytes": 0},
        "deleted": {"count": 0, "bytes": 0}, "failed": {"count": 1, "bytes": 5}},
        "copied": copied, "failed": [{"key": "x.bam", "bytes": 5, "reason": "dst/x.bam: cannot write"}]},
        html=tmp_path / "sync.html")
    page = (tmp_path / "sync.html").read_text()
    assert "Failed objects" in page and "cannot write" in page
    assert "The first 500 of 600; report.json lists them all." in page and ">f0499<" in page and ">f0500<" not in page
