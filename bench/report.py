"""Turn measured cases into a Markdown section of docs/BENCHMARKS.md and a JSON file.

Each benchmark owns the text between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``
in docs/BENCHMARKS.md; re-running one benchmark replaces only its own section (a new one is
appended), so the hand-written introduction and the other results stay as they were. The raw
numbers (every sample) go to ``bench/results/NAME.json``, small enough to commit, so a ratio in the
doc can always be traced back to the runs behind it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .machine import Machine
from .runner import CaseResult, Measured


@dataclass
class BenchResult:
    """Everything one benchmark run produced, ready to be written out."""

    name: str
    title: str
    invocation: str
    dataset: str
    machine: Machine
    load_end: tuple[float, float, float]
    repeats: int
    warmup: bool
    started: str
    cases: list[CaseResult]
    notes: list[str] = field(default_factory=list)
    #: extra numbers a benchmark wants in the JSON (bytes fetched, requests, ...)
    extra: dict[str, Any] = field(default_factory=dict)
    #: the benchmark BAM's manifest, when the benchmark ran on it (None: ``dataset`` says what it used)
    data_manifest: dict[str, Any] | None = None


#: above this 1-minute load per core, a section warns that other work competed with the run
BUSY_LOAD_PER_CORE = 0.5


def _fmt_s(seconds: float) -> str:
    """Three significant-ish digits: 0.873, 1.19, 26.8."""
    if seconds < 1:
        return f"{seconds:.3f}"
    return f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"


def _ratio(case: CaseResult, m: Measured) -> str:
    if m is case.anchor:
        return "1.00 (anchor)"
    return f"**{case.ratio(m):.2f}**"


def _cpu_ratio(case: CaseResult, m: Measured) -> str:
    """CPU seconds relative to the anchor's: the work done, whatever else shares the machine."""
    if m is case.anchor:
        return "1.00"
    return f"{case.cpu_ratio(m):.2f}"


def table(result: BenchResult) -> str:
    """The Markdown table: one row per command, grouped by case."""
    head = (
        "| case | command | min s | median s | × anchor (median) | CPU s (median) | × anchor (CPU) "
        "| peak RSS MiB |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|"
    )
    rows = []
    for case in result.cases:
        for m in case.measured:
            rows.append(
                f"| {case.case.name} | `{m.command.label}` | {_fmt_s(m.min_s)} | {_fmt_s(m.median_s)} | "
                f"{_ratio(case, m)} | {_fmt_s(m.median_cpu_s)} | {_cpu_ratio(case, m)} | {m.peak_rss_mib:.0f} |"
            )
    return "\n".join([head, *rows])


def section(result: BenchResult) -> str:
    """The body of the benchmark's section in docs/BENCHMARKS.md (between its markers)."""
    commands = "\n".join(
        f"$ {m.command.shell()}" for case in result.cases for m in case.measured
    )
    runs = f"{result.repeats} timed run{'s' if result.repeats != 1 else ''} per command"
    runs += ", after one untimed warm-up run each (page cache warm, never flushed)" if result.warmup else ""
    parts = [
        f"## {result.title}",
        "",
        f"_Written by `{result.invocation}` on {result.started}; "
        f"raw samples in `bench/results/{result.name}.json`. Do not edit between the markers._",
        "",
        f"- **Data:** {result.dataset}",
        f"- **Machine:** {result.machine.markdown(result.load_end)}",
        f"- **Method:** {runs}, commands interleaved; every output checked against the anchor's.",
        "",
        table(result),
        "",
        "Exact commands (run from the repository root):",
        "",
        "```",
        commands,
        "```",
    ]
    notes = list(result.notes)
    busiest = max(result.machine.load_start[0], result.load_end[0])
    if busiest > BUSY_LOAD_PER_CORE * result.machine.nproc:
        notes.append(
            f"**The machine was busy** (1-minute load up to {busiest:.1f} on {result.machine.nproc} cores): "
            "other work competed for the cores, so wall times and their ratios are noisier than usual; "
            "the CPU-time ratio is the steadier comparison in this run."
        )
    if notes:
        parts += ["", *[f"- {note}" for note in notes]]
    return "\n".join(parts)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


DOC_HEADER = "# Benchmarks\n\nSee `python -m bench --help`.\n"


def update_doc(doc: Path, name: str, body: str) -> None:
    """Replace (or append) the section of ``name`` in ``doc``, leaving every other byte alone."""
    start, end = _markers(name)
    text = doc.read_text() if doc.exists() else DOC_HEADER
    block = f"{start}\n{body}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = doc.with_suffix(doc.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(doc)


def write_json(results_dir: Path, result: BenchResult) -> Path:
    """``bench/results/NAME.json``: machine, data set, every sample of every command."""
    results_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": result.name,
        "invocation": result.invocation,
        "started": result.started,
        "repeats": result.repeats,
        "warmup": result.warmup,
        "machine": result.machine.as_dict(),
        "load_end": result.load_end,
        "dataset": (
            {k: result.data_manifest.get(k) for k in ("key", "bytes", "reads", "bgzf_blocks", "md5", "tools")}
            if result.data_manifest is not None else {"description": result.dataset}
        ),
        "cases": [
            {
                "case": case.case.name,
                "rows": [
                    {
                        **m.as_dict(),
                        "ratio_to_anchor_median": round(case.ratio(m), 4),
                        "ratio_to_anchor_min": round(m.min_s / case.anchor.min_s, 4),
                        "cpu_ratio_to_anchor_median": round(case.cpu_ratio(m), 4),
                    }
                    for m in case.measured
                ],
            }
            for case in result.cases
        ],
        "notes": result.notes,
        "extra": result.extra,
    }
    path = results_dir / f"{result.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return path


def summary_lines(results: Sequence[BenchResult]) -> list[str]:
    """One line per candidate row for the terminal: what changed at a glance."""
    lines = []
    for result in results:
        for case in result.cases:
            for m in case.measured[1:]:
                lines.append(
                    f"{result.name:10s} {case.case.name:12s} {m.command.label:32s} "
                    f"{case.ratio(m):5.2f}x {case.anchor.command.label}  ({_fmt_s(m.median_s)} s vs "
                    f"{_fmt_s(case.anchor.median_s)} s), peak {m.peak_rss_mib:.0f} MiB"
                )
    return lines
