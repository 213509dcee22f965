"""scan: ``bams3 scan`` (per-chunk statistics of a whole BAM) against ``samtools flagstat``.

``bams3 scan BAM --chunk-size 1000 -o DIR`` plans the BAM's chunks from its index, computes
per-chunk statistics over every shard and aggregates them into ``summary.json``, whose
``flagstat`` object must equal ``samtools flagstat -O json`` exactly. samtools flagstat is the
cheapest full pass that gives the same totals, so it is the anchor: the ratio is what the per-chunk
statistics (thousands of chunks, Parquet, JSONL) cost beyond counting flags.

One case per ``--workers`` value, each anchored by the same single-threaded samtools flagstat (so
the anchor is sampled once per case, interleaved with that case's bams3 run).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .context import Context
from .machine import REPO_ROOT
from .report import BenchResult
from .runner import Case, Command

NAME = "scan"
TITLE = "scan: per-chunk statistics of a whole local BAM"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunk-size", type=int, default=1000, help="reads per chunk (default: %(default)s)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], metavar="N",
                        help="bams3 scan --workers values, one case each (default: 1 2)")


def _flagstat_check(out_dir: Path):
    """Anchor stdout is samtools' JSON; the candidate's answer is ``out_dir/summary.json``."""

    def check(anchor: Path, _candidate: Path) -> str | None:
        try:
            want = json.loads(anchor.read_text())
            got = json.loads((REPO_ROOT / out_dir / "summary.json").read_text())["flagstat"]
        except (OSError, ValueError, KeyError) as exc:
            return f"cannot read the flagstat counts: {exc}"
        if want == got:
            return None
        diffs = [
            f"{sec}/{k}: samtools {want[sec].get(k)!r}, bams3 {got.get(sec, {}).get(k)!r}"
            for sec in want for k in want[sec] if want[sec].get(k) != got.get(sec, {}).get(k)
        ]
        return "\n".join(diffs[:20]) or "different keys"

    return check


def run(ctx: Context, args: argparse.Namespace) -> BenchResult:
    ctx.require_verb("scan")
    bam = ctx.rel(ctx.dataset().bam)
    bams3 = ctx.rel(ctx.bams3)
    out_root = Path(ctx.rel(ctx.scratch / NAME))
    anchor = Command("samtools flagstat -O json", (ctx.samtools, "flagstat", "-O", "json", bam), "samtools")
    cases = []
    for n in args.workers:
        out = out_root / f"scan-w{n}"
        cmd = Command(
            f"bams3 scan --workers {n}",
            (bams3, "scan", bam, "--chunk-size", str(args.chunk_size), "-o", str(out), "--workers", str(n),
             "--no-progress"),
            "bams3", threads=n,
        )
        cases.append(Case(f"{n} worker{'s' if n != 1 else ''}", anchor=anchor, candidates=(cmd,),
                          check=_flagstat_check(out)))
    result = ctx.measure(NAME, TITLE, cases, notes=[
        "Ratios are the bams3 median over the samtools median of the same case: below 1.00 bams3 is faster. "
        "The anchor is single-threaded `samtools flagstat` in every case.",
        f"bams3 scan writes {args.chunk_size}-read chunk statistics (`chunk_stats.jsonl`, "
        "`chunk_stats.parquet`, `plan.json`) and `summary.json`; on every run, `summary.json`'s `flagstat` "
        "object is compared key by key with `samtools flagstat -O json` (all counts and percentages equal).",
        "With an index, `--workers N` runs N shards at once in processes (here the planner makes 2 shards "
        "of at most 2M reads / 256 MiB).",
        "CPU and peak RSS come from the rusage of the `bams3` process and the children it waits for: with "
        "`--workers 2` the shard processes' CPU is not charged to it (0.3 s of CPU for a 3 s full pass), so "
        "that row's CPU ratio understates the work; compare wall times there.",
    ])
    peak = max(m.peak_rss_mib for c in result.cases for m in c.measured if m.command.tool == "bams3")
    result.extra["bams3_peak_rss_mib"] = round(peak, 1)
    return result
