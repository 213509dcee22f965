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

__all__ = ["SAMPLE_COLUMNS", "sample_row", "write_samples_table", "write_stage_summary", "write_sync_summary"]

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
