"""scan: ``bams3 scan`` (per-chunk statistics of a whole BAM) against ``samtools flagstat``.

``bams3 scan BAM --chunk-size 1000 -o DIR`` plans the BAM's chunks from its index, computes
per-chunk statistics over every shard and aggregates them into ``summary.json``, whose
``flagstat`` object must equal ``samtools flagstat -O json`` exactly. samtools flagstat is the
cheapest full pass that gives the same totals, so it is the anchor: the ratio is what the per-chunk
statistics (thousands of chunks, Parquet, JSONL) cost beyond counting flags.

One case per ``--workers`` value, each anchored by the same single-threaded samtools flagstat (so
the anchor is sampled once per case, interleaved with that case's bams3 run). A last case runs the
Snakemake workflow's chunk statistics for the same BAM (``snakemake --cores N`` up to the sample's
``summary.json``: the checkpoint, one job per shard, the aggregation), from an empty working
directory every run; its time over ``bams3 scan --workers N`` is what the workflow's scheduling,
per-job start-up and file hand-offs cost.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

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
    parser.add_argument("--workflow-cores", type=int, default=2, metavar="N",
                        help="snakemake --cores of the workflow case; 0 skips it (default: %(default)s)")


def _workflow_case(ctx: Context, args: argparse.Namespace, anchor: Command, bam: Path) -> Case:
    """``snakemake`` up to the sample's summary.json, from a fresh working directory each run."""
    workdir = ctx.scratch / NAME / "workflow"
    config = workdir.parent / "workflow-config.yaml"
    workdir.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({
        "bam_urls": [str(bam.resolve())],
        "output_dir": "results",
        "chunks": {"chunk_size": args.chunk_size},
        "dataset": {"activate": False},
    }))
    sample = bam.name.removesuffix(".bam")
    snakemake = Path(ctx.bams3).parent / "snakemake"  # the venv's, beside bams3
    cores = args.workflow_cores
    cmd = Command(
        f"snakemake --cores {cores}",
        (str(snakemake) if snakemake.exists() else "snakemake", f"results/chunks/{sample}/summary.json",
         "--snakefile", "workflow/Snakefile", "--directory", ctx.rel(workdir), "--configfile", ctx.rel(config),
         "--cores", str(cores), "--workflow-profile", "none", "--quiet", "all"),
        "snakemake", threads=cores,
        prepare=lambda: shutil.rmtree(workdir, ignore_errors=True),
    )
    return Case(f"workflow, {cores} cores", anchor=anchor, candidates=(cmd,),
                check=_flagstat_check(Path(ctx.rel(workdir)) / "results" / "chunks" / sample))


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
    if args.workflow_cores:
        cases.append(_workflow_case(ctx, args, anchor, ctx.dataset().bam))
    notes = [
        "Ratios are the bams3 median over the samtools median of the same case: below 1.00 bams3 is faster. "
        "The anchor is single-threaded `samtools flagstat` in every case.",
        f"bams3 scan writes {args.chunk_size}-read chunk statistics (`chunk_stats.jsonl`, "
        "`chunk_stats.parquet`, `plan.json`) and `summary.json`; on every run, `summary.json`'s `flagstat` "
        "object is compared key by key with `samtools flagstat -O json` (all counts and percentages equal).",
        "With an index, `--workers N` runs N shards at once in processes (here the planner makes 2 shards "
        "of at most 2M reads / 256 MiB).",
        "CPU and peak RSS come from the rusage of the `bams3` process and the children it waits for: with "
        "`--workers 2` the shard processes' CPU is not charged to it (it plans and aggregates; the shards "
        "do the inflating), so that row's CPU ratio understates the work; compare wall times there.",
    ]
    if args.workflow_cores:
        notes.append(
            f"The workflow case runs `snakemake --cores {args.workflow_cores}` up to the sample's `summary.json` "
            "(plan checkpoint, one job per shard, aggregation; no dataset, report or cohort) in a working "
            "directory emptied before every run; its `summary.json` is checked like scan's. Its CPU and RSS are "
            "Snakemake's own process (jobs run as child processes), so compare wall times; the overhead over "
            "`bams3 scan` with as many workers is in `extra.workflow_overhead`.")
    result = ctx.measure(NAME, TITLE, cases, notes=notes)
    peak = max(m.peak_rss_mib for c in result.cases for m in c.measured if m.command.tool == "bams3")
    result.extra["bams3_peak_rss_mib"] = round(peak, 1)
    if args.workflow_cores:
        _workflow_overhead(result, args.workflow_cores)
    return result


def _workflow_overhead(result: BenchResult, cores: int) -> None:
    """Workflow median wall time against ``bams3 scan --workers cores`` (and 1), in ``extra`` and the notes."""
    by_label = {m.command.label: m for c in result.cases for m in c.measured}
    workflow = by_label.get(f"snakemake --cores {cores}")
    if workflow is None:
        return
    overhead = {}
    for n in sorted({1, cores}):
        scan = by_label.get(f"bams3 scan --workers {n}")
        if scan is not None:
            overhead[f"vs_scan_workers_{n}"] = {
                "ratio": round(workflow.median_s / scan.median_s, 3),
                "extra_s": round(workflow.median_s - scan.median_s, 2),
            }
    result.extra["workflow_overhead"] = overhead
    same = overhead.get(f"vs_scan_workers_{cores}")
    if same:
        result.notes.append(
            f"Workflow overhead: `snakemake --cores {cores}` took {same['ratio']:.2f}x the wall time of "
            f"`bams3 scan --workers {cores}` ({same['extra_s']:+.1f} s median).")
