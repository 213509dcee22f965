"""The report's tables: the per-sample summary, and the staging and publishing summaries.

Each table is built from the JSON documents the workflow already writes (the chunks
stage's ``summary.json``, staging's ``staged.json``, publishing's ``report.json``) and is
written twice: as TSV for programs (raw numbers, one row per sample or object) and as an
HTML page for people (formatted numbers, notes on what each column means).
"""
from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..units import format_bytes
from ._html import page, table, write_page

#: objects listed one by one in the publishing summary (the TSV-like totals cover the rest)
MAX_LISTED_OBJECTS = 500

__all__ = ["SAMPLE_COLUMNS", "sample_row", "write_samples_table", "write_stage_summary", "write_sync_summary",
           "write_cohort_summary"]

#: cells of a cohort matrix shown on the page (the TSV has them all)
MAX_MATRIX_ROWS = 200
MAX_MATRIX_COLUMNS = 40

#: (key, heading, numeric) of the per-sample table, in column order
SAMPLE_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("sample", "Sample", False),
    ("total_reads", "Reads", True),
    ("mapped", "Mapped", True),
    ("mapped_percent", "Mapped %", True),
    ("properly_paired_percent", "Properly paired % (of paired)", True),
    ("duplicates", "Duplicates", True),
    ("duplicates_percent", "Duplicates %", True),
    ("secondary", "Secondary", True),
    ("supplementary", "Supplementary", True),
    ("qc_failed", "QC-failed", True),
    ("mean_mapq", "Mean MAPQ", True),
    ("total_bases", "Bases (primary)", True),
    ("chunks", "Chunks", True),
    ("chunk_size", "Reads per chunk", True),
    ("shards", "Shard jobs", True),
    ("plan_method", "Planned from", False),
    ("bam_bytes", "BAM size (bytes)", True),
    ("bytes_read", "BAM bytes read", True),
    ("bytes_fetched", "Bytes fetched remotely", True),
    ("requests", "Requests", True),
)


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def sample_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    """One sample's row from its chunks ``summary.json`` (flagstat counts are QC-passed + QC-failed)."""
    passed, failed = summary["flagstat"]["QC-passed reads"], summary["flagstat"]["QC-failed reads"]

    def both(key: str) -> int:
        return int(passed[key]) + int(failed[key])

    total = both("total")
    io, plan = summary.get("io", {}), summary.get("plan", {})
    return {
        "sample": summary.get("sample") or "",
        "total_reads": total,
        "mapped": both("mapped"),
        "mapped_percent": _percent(both("mapped"), total),
        "properly_paired_percent": _percent(both("properly paired"), both("paired in sequencing")),
        "duplicates": both("duplicates"),
        "duplicates_percent": _percent(both("duplicates"), total),
        "secondary": both("secondary"),
        "supplementary": both("supplementary"),
        "qc_failed": int(failed["total"]),
        "mean_mapq": summary.get("avg_mapping_quality"),
        "total_bases": summary.get("total_bases"),
        "chunks": summary["total_chunks"],
        "chunk_size": summary["chunk_size"],
        "shards": plan.get("shards"),
        "plan_method": plan.get("method"),
        "bam_bytes": plan.get("bam_size"),
        "bytes_read": io.get("bytes_consumed"),
        "bytes_fetched": io.get("bytes_fetched"),
        "requests": io.get("requests"),
    }


def _write_tsv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    tmp.replace(path)


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key in ("bam_bytes", "bytes_read", "bytes_fetched"):
        return format_bytes(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_samples_table(summaries: Sequence[Mapping[str, Any]], *, tsv: str | Path, html: str | Path) -> list[dict[str, Any]]:
    """Write the per-sample table (one row per summary, sorted by sample) as TSV and HTML; return the rows."""
    rows = sorted((sample_row(s) for s in summaries), key=lambda r: r["sample"])
    keys = [key for key, _, _ in SAMPLE_COLUMNS]
    _write_tsv(tsv, keys, [[row[k] for k in keys] for row in rows])
    body = table([heading for _, heading, _ in SAMPLE_COLUMNS], [[_shown(k, row[k]) for k in keys] for row in rows],
                 numeric=[numeric for _, _, numeric in SAMPLE_COLUMNS])
    note = ("Read counts are samtools flagstat's (QC-passed + QC-failed records; secondary and supplementary "
            "alignments count as reads, as in flagstat). Mean MAPQ is over mapped records with a MAPQ (255 = "
            "unavailable is left out). 'BAM bytes read' is the compressed BAM the shard jobs consumed; "
            "'Bytes fetched remotely' what crossed the network (0 for local files); requests include planning.")
    write_page(html, page(f"Samples: {len(rows)}", [(None, note, body)]))
    return rows


def write_stage_summary(response: Mapping[str, Any], *, html: str | Path) -> None:
    """The staging outcome (``staged.json``): every file staged with its size, every failure with its reason."""
    result = response["result"]
    staged = []
    for name in result["staged_files"]:
        path = Path(result["run_dir"] or ".") / name
        size = path.stat().st_size if path.is_file() else None
        staged.append([name, "n/a" if size is None else format_bytes(size), str(path)])
    failed = [[f["name"], f["kind"], f["error"], f["url"]] for f in result.get("failed_files", [])]
    sections: list[tuple[str | None, str | None, str]] = [
        ("Staged files", f"{len(staged)} file(s) in {result['run_dir']}; tool parameters refer to these paths.",
         table(["Name", "Size", "Local path"], staged, numeric=[False, True, False])),
    ]
    if failed:
        sections.append(("Failed files", "URLs are shown without their signatures.",
                         table(["Name", "Error type", "Reason", "URL"], failed)))
    write_page(html, page(f"Staging: {result['status']}", sections))


def write_sync_summary(report: Mapping[str, Any], *, html: str | Path) -> None:
    """The publishing outcome (a sync ``report.json``): totals per action, and every failed object."""
    summary = report["summary"]
    totals = [[action, f"{summary[action]['count']:,}", format_bytes(summary[action]["bytes"])]
              for action in ("copied", "skipped", "deleted", "failed")]
    sections: list[tuple[str | None, str | None, str]] = [
        ("Totals", "Skipped objects were already identical at the destination.",
         table(["Action", "Objects", "Bytes"], totals, numeric=[False, True, True])),
    ]
    if report.get("failed"):
        sections.append(("Failed objects", "Rerun the workflow to retry them: what was copied is skipped.",
                         table(["Path", "Reason"], [[f["key"], f["reason"]] for f in report["failed"]])))
    copied = report.get("copied", [])
    if copied:
        note = (f"The first {MAX_LISTED_OBJECTS:,} of {len(copied):,}; report.json lists them all."
                if len(copied) > MAX_LISTED_OBJECTS else None)
        rows = [[c["key"], format_bytes(c["bytes"])] for c in copied[:MAX_LISTED_OBJECTS]]
        sections.append(("Copied objects", note, table(["Path", "Bytes"], rows, numeric=[False, True])))
    write_page(html, page(f"Published {report['source']} to {report['destination']}", sections))


def _read_matrix(path: str | Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return (rows[0], rows[1:]) if rows else ([], [])


def _matrix_section(path: str | Path, heading: str, note: str) -> tuple[str, str, str]:
    header, rows = _read_matrix(path)
    cut_rows, cut_cols = len(rows) > MAX_MATRIX_ROWS, len(header) > MAX_MATRIX_COLUMNS + 1
    header, rows = header[: MAX_MATRIX_COLUMNS + 1], [row[: MAX_MATRIX_COLUMNS + 1] for row in rows[:MAX_MATRIX_ROWS]]
    if cut_rows or cut_cols:
        note += (f" Showing the first {len(rows):,} samples and {len(header) - 1:,} regions; "
                 f"{Path(path).name} holds them all.")
    shown = [[row[0]] + [_number(cell) for cell in row[1:]] for row in rows]
    return heading, note, table(header, shown, numeric=[False] + [True] * (len(header) - 1))


def _number(cell: str) -> str:
    try:
        value = float(cell)
    except ValueError:
        return cell
    return f"{int(value):,}" if value.is_integer() else f"{value:,.2f}"


def write_cohort_summary(summary: Mapping[str, Any], *, matrix: str | Path, html: str | Path,
                         depth_matrix: str | Path | None = None) -> None:
    """The cohort's tables as a page: counts per sample and region, per-region totals, failures, cost.

    Reads what the cohort stage wrote (``summary.json``, ``matrix.tsv``, ``depth_matrix.tsv``), so
    the page shows the same numbers as those files.
    """
    samples = summary["samples"]
    sections: list[tuple[str | None, str | None, str]] = [
        _matrix_section(matrix, "Reads per sample and region",
                        "Records overlapping each region, as samtools view -c counts them."),
    ]
    if depth_matrix is not None:
        sections.append(_matrix_section(depth_matrix, "Mean depth per sample and region",
                                        "Aligned bases over the region's length, as samtools depth -a -J."))
    regions = [[r["region"], r["contig"], f"{r['start'] + 1:,}-{r['end']:,}", f"{r['length']:,}",
                _shown("count", r["count"].get("total")), _shown("count", r["count"].get("median")),
                _shown("count", r["count"].get("min")), _shown("count", r["count"].get("max"))]
               for r in summary.get("regions", [])]
    sections.append(("Regions", "Positions 1-based, inclusive. Statistics over the samples that succeeded.",
                     table(["Region", "Reference", "Positions", "Length (bp)", "Total reads", "Median", "Min",
                            "Max"], regions, numeric=[False, False, True, True, True, True, True, True])))
    if summary.get("failed"):
        sections.append(("Failed samples", "Left out of the tables above; URLs are shown without signatures.",
                         table(["Sample", "Dataset", "Error"], [[f["sample"], f["dataset"], f["error"]]
                                                                for f in summary["failed"]])))
    cost = summary.get("cost", {})
    whole = cost.get("whole_bam_download", {}).get("bytes")
    cost_rows = [["Requests", f"{cost.get('requests', 0):,}"],
                 ["Bytes transferred", format_bytes(cost.get("bytes_transferred", 0))],
                 ["Downloading the source BAMs instead", "n/a" if not whole else format_bytes(whole)]]
    sections.append(("What the queries cost", None, table(["", ""], cost_rows, numeric=[False, True])))
    title = f"Cohort: {samples['succeeded']:,} of {samples['total']:,} samples x {len(regions):,} regions"
    write_page(html, page(title, sections))
