"""``bams3 chunk-stats``: per-chunk statistics of one shard of a plan."""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "chunk-stats",
        help="per-chunk statistics of one shard of a plan (reads only that shard's bytes)",
        description=(
            "Read only the byte range of shard K of a plan made by `bams3 plan` and write one JSON "
            "object per chunk (JSON Lines): read counts, mapping quality, positions, flag counts and the "
            "samtools flagstat counters. The output appears only if the whole shard succeeds. Chunk ids "
            "are final when the plan fixes them (plans made by a streaming pass); otherwise they are null "
            "and the aggregation (`bams3 scan`, or the workflow) numbers the chunks."
        ),
    )
    parser.add_argument("bam", help="the BAM the plan was made from: path, file://, s3:// or https:// URL")
    parser.add_argument("--plan", required=True, help="the plan (JSON from `bams3 plan`)")
    parser.add_argument("--shard", required=True, type=int, metavar="K", help="shard number, 0-based")
    parser.add_argument("-o", "--output", required=True, help="where to write the chunks (JSON Lines)")
    parser.add_argument("--info", metavar="PATH", help="also write the shard's report (reads, chunks, bytes) as JSON")
    parser.add_argument("--threads", type=int, default=1, help="BGZF inflate threads (default: %(default)s)")
    from ._common import add_io_stats_argument

    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..chunks import load_plan, run_shard
    from ..units import format_bytes
    from ._common import print_io_stats

    plan = load_plan(args.plan)
    try:
        report = run_shard(args.bam, plan, args.shard, args.output, info_output=args.info, threads=args.threads)
    finally:
        print_io_stats(args)
    fetched = max(report.bytes_fetched, report.bytes_consumed)
    print(
        f"bams3 chunk-stats: {args.output}: shard {report.shard}: {report.chunks:,} chunks, {report.reads:,} reads, "
        f"{format_bytes(fetched)} read in {report.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0
