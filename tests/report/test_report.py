"""`snakemake --report` after a real run: what the HTML and ZIP reports hold, and whether it is right."""
from __future__ import annotations

import base64
import csv
import json
import struct
import zipfile
from pathlib import Path

import pysam

from bams3.report import SAMPLE_COLUMNS

from .conftest import SAMPLES, ReportRun

FIGURES = {
    "reads_along_genome": ("reads along the genome", "read density"),
    "mapq_along_genome": ("mean MAPQ along the genome", "Mean mapping quality"),
    "mapq_histogram": ("MAPQ histogram", "MAPQ distribution"),
    "read_fractions": ("read fractions", "Read fractions"),
}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_html_report_embeds_every_figure_with_caption_category_and_labels(report_run: ReportRun) -> None:
    results, categories = report_run.embedded("results"), report_run.embedded("categories")
    assert set(categories["Quality control"]) == set(SAMPLES)  # one subcategory per sample
    for sample in SAMPLES:
        shown = categories["Quality control"][sample]
        assert sorted(shown) == sorted(f"results/report/{sample}/{name}.png" for name in FIGURES)
        for name, (label, caption_start) in FIGURES.items():
            key = f"results/report/{sample}/{name}.png"
            entry = results[key]
            assert entry["mime_type"] == "image/png" and entry["labels"] == {"sample": sample, "figure": label}
            assert caption_start in entry["caption"] and f"<strong>{sample}</strong>" in entry["caption"]
            embedded = base64.b64decode(entry["data_uri"].split("base64,", 1)[1])
            assert embedded == (report_run.workdir / key).read_bytes()  # the figure itself, not a stub
            width, height = png_size(embedded)
            assert width >= 800 and height >= 400
    assert sorted(categories["Samples"]["Other"]) == ["results/report/samples.html", "results/report/samples.tsv"]
    assert sorted(categories["Staging and publishing"]["Other"]) == ["results/report/publishing.html",
                                                                     "results/report/staging.html"]
    assert "chunks of 200" in results["results/report/samples.html"]["caption"]


def test_zip_report_holds_the_same_files(report_run: ReportRun) -> None:
    with zipfile.ZipFile(report_run.zip) as archive:
        names = archive.namelist()
        assert "report/report.html" in names
        pngs = {Path(n).name for n in names if n.endswith(".png")}
        assert pngs == {f"{name}.png" for name in FIGURES} | {"plot.png"}  # plot.png: the cohort heatmap
        assert sum(n.endswith(".png") for n in names) == len(FIGURES) * len(SAMPLES) + 1
        assert any(n.endswith("/samples.tsv") for n in names) and any(n.endswith("/staging.html") for n in names)


def test_samples_table_matches_samtools_flagstat(report_run: ReportRun) -> None:
    with open(report_run.results / "report" / "samples.tsv", encoding="utf-8") as handle:
        rows = {row["sample"]: row for row in csv.DictReader(handle, delimiter="\t")}
    assert list(next(iter(rows.values()))) == [key for key, _, _ in SAMPLE_COLUMNS]
    assert sorted(rows) == sorted(SAMPLES)
    for sample, bam in report_run.bams.items():
        flagstat = json.loads(pysam.flagstat("-O", "json", str(bam)))
        passed, failed = flagstat["QC-passed reads"], flagstat["QC-failed reads"]
        row = rows[sample]
        assert int(row["total_reads"]) == passed["total"] + failed["total"]
        assert int(row["mapped"]) == passed["mapped"] + failed["mapped"]
        assert int(row["duplicates"]) == passed["duplicates"] + failed["duplicates"]
        assert int(row["qc_failed"]) == failed["total"]
        summary = json.loads((report_run.results / "chunks" / sample / "summary.json").read_text())
        # chunks of 200 reads; a shard's last chunk may be shorter
        assert int(row["chunks"]) == summary["total_chunks"] >= -(-int(row["total_reads"]) // 200)
        assert int(row["bytes_read"]) >= bam.stat().st_size * 0.9
    assert {rows["tumour"]["plan_method"], rows["normal-1"]["plan_method"]} == {"index", "scan"}
    html = (report_run.results / "report" / "samples.html").read_text()
    assert "<table>" in html and "tumour" in html and "normal-1" in html
    assert f"{int(rows['tumour']['total_reads']):,}" in html  # numbers formatted for people


def test_staging_and_publishing_summaries(report_run: ReportRun) -> None:
    staging = (report_run.results / "report" / "staging.html").read_text()
    assert "Staging: success" in staging and "ref.fa" in staging and "7.8 KiB" in staging
    publishing = (report_run.results / "report" / "publishing.html").read_text()
    report = json.loads((report_run.results / "publish" / "report.json").read_text())
    assert f"s3://{report_run.bucket}/run-1" in publishing
    assert report["summary"]["copied"]["count"] > 0 and "chunks/tumour/summary.json" in publishing


def test_cohort_heatmap_and_tables_are_in_the_report(report_run: ReportRun) -> None:
    results, categories = report_run.embedded("results"), report_run.embedded("categories")
    cohort = set(categories["Cohort"]["Other"])
    assert {"results/cohort/plot.png", "results/cohort/matrix.tsv", "results/report/cohort.html"} <= cohort
    heatmap = base64.b64decode(results["results/cohort/plot.png"]["data_uri"].split("base64,", 1)[1])
    assert png_size(heatmap)[0] >= 400
    page = (report_run.results / "report" / "cohort.html").read_text()
    with open(report_run.results / "cohort" / "matrix.tsv", encoding="utf-8") as handle:
        matrix = list(csv.reader(handle, delimiter="\t"))
    assert "Cohort: 2 of 2 samples x 3 regions" in page
    for row in matrix[1:]:
        assert row[0] in page and all(f">{int(float(cell)):,}<" in page for cell in row[1:])
    assert "What the queries cost" in page and "Downloading the source BAMs instead" in page
    assert "reads overlapping each region for every sample" in results["results/report/cohort.html"]["caption"]
