"""flagstat: ``bams3 flagstat`` against ``samtools flagstat`` on the local realistic BAM.

The simplest full pass over a BAM: every block inflated, every record's flags counted. It bounds
what any bams3 statistic over a whole file can cost, and its output is an exact oracle (the text
must be byte-identical to samtools', percentages included).

Two cases: one thread each (samtools' default, ``-@ 0``; bams3's default), and ``--threads N`` for
bams3 against ``samtools flagstat -@ N``. Both count these as BGZF inflate threads beside the main
thread that walks the records, so at N = 2 each may keep three threads busy; on a two-core machine
the third cannot run anyway.
"""
from __future__ import annotations

import argparse

from .context import Context
from .report import BenchResult
from .runner import Case, Command

NAME = "flagstat"
TITLE = "flagstat: full pass over a local BAM"
#: the bar the developers' guide sets for bams3's flagstat memory
RSS_TARGET_MIB = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads", type=int, default=2, metavar="N",
        help="threads for the second case: bams3 --threads N vs samtools -@ N (default: %(default)s)",
    )


def run(ctx: Context, args: argparse.Namespace) -> BenchResult:
    ctx.require_verb("flagstat")
    bam = ctx.rel(ctx.dataset().bam)
    bams3 = ctx.rel(ctx.bams3)
    n = args.threads
    cases = [
        Case(
            "1 thread",
            anchor=Command("samtools flagstat", (ctx.samtools, "flagstat", bam), "samtools"),
            candidates=(Command("bams3 flagstat", (bams3, "flagstat", bam), "bams3"),),
        ),
        Case(
            f"{n} threads",
            anchor=Command(f"samtools flagstat -@ {n}", (ctx.samtools, "flagstat", "-@", str(n), bam),
                           "samtools", threads=n),
            candidates=(Command(f"bams3 flagstat --threads {n}", (bams3, "flagstat", "--threads", str(n), bam),
                                "bams3", threads=n),),
        ),
    ]
    result = ctx.measure(NAME, TITLE, cases, notes=[
        "Ratios are the bams3 median over the samtools median of the same case: below 1.00 bams3 is faster.",
        f"Threads mean the same in both tools: samtools `-@ {n}` and bams3 `--threads {n}` add {n} BGZF "
        "inflate threads beside the main thread that walks the records (without the option, the main "
        "thread inflates too). Outputs are compared byte for byte with samtools' on every run.",
        f"bams3's peak memory target is {RSS_TARGET_MIB} MiB whatever the size of the BAM.",
    ])
    peak = max(m.peak_rss_mib for case in result.cases for m in case.measured if m.command.tool == "bams3")
    result.extra["bams3_peak_rss_mib"] = round(peak, 1)
    result.extra["bams3_rss_within_target"] = peak < RSS_TARGET_MIB
    if peak >= RSS_TARGET_MIB:
        ctx.log(f"[bench] WARNING: bams3 flagstat peaked at {peak:.0f} MiB (target < {RSS_TARGET_MIB} MiB)")
    return result
