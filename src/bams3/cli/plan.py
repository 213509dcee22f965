"""``bams3 plan``: cut a BAM into shards of chunks (the plan the chunk-stats jobs follow)."""
from __future__ import annotations

import argparse
import sys
from typing import Any


def add_planning_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``plan`` and ``scan``: chunk and shard sizes, which index to use."""
    parser.add_argument("--chunk-size", type=int, metavar="READS",
                        help="reads per chunk, the unit of the statistics (default: 1000)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--shard-reads", metavar="N",
                      help="close a shard (one job) at N reads only (default: 2M reads or 256 MiB, whichever first)")
    size.add_argument("--shard-bytes", metavar="SIZE",
                      help="close a shard at SIZE of compressed BAM only, e.g. 256MiB")
    index = parser.add_mutually_exclusive_group()
    index.add_argument("--index", metavar="URL",
                       help="the BAM's .bai/.csi (needed for signed URLs; otherwise looked for next to the BAM)")
    index.add_argument("--no-index", action="store_true",
                       help="ignore any index and plan by one streaming pass over the BAM")


def planning_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for the planners from the shared arguments (defaults stay in the library)."""
    from ..chunks import ShardSizing
    from ..units import parse_bases, parse_bytes

    options: dict[str, Any] = {"index_url": args.index, "use_index": not args.no_index}
    if args.chunk_size is not None:
        options["chunk_size"] = args.chunk_size
    if args.shard_reads is not None:
        options["sizing"] = ShardSizing(reads=parse_bases(args.shard_reads), bytes=None)
    elif args.shard_bytes is not None:
        options["sizing"] = ShardSizing(reads=None, bytes=parse_bytes(args.shard_bytes))
    return options


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "plan",
        help="plan a BAM's chunks and shards (reads only the header and index when there is one)",
        description=(
            "Cut a BAM (path, s3:// or https:// URL) into shards, runs of consecutive chunks of "
            "--chunk-size reads sized for one job, and write the plan as JSON. With a .bai/.csi next to "
            "the BAM (or given with --index) only the header and the index are read; without one, the "
            "BAM is read once, streaming. `bams3 chunk-stats` then processes one shard per call."
        ),
    )
    parser.add_argument("bam", help="the BAM: path, file://, s3:// or https:// URL")
    parser.add_argument("-o", "--output", required=True, help="where to write the plan (JSON)")
    add_planning_arguments(parser)
    parser.add_argument("--threads", type=int, default=1, help="inflate threads for a streaming pass (default: 1)")
    from ._common import add_io_stats_argument

    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..chunks import make_plan, save_plan
    from ..units import format_bytes
    from ._common import print_io_stats

    try:
        plan = make_plan(args.bam, threads=args.threads, **planning_options(args))
    finally:
        print_io_stats(args)
    save_plan(plan, args.output)
    source = f"index {plan.index_url}" if plan.method == "index" else "a streaming pass"
    approx = "" if plan.chunk_ids_final else "about "
    print(
        f"bams3 plan: {args.output}: {len(plan.shards):,} shards, {plan.total_reads:,} reads, "
        f"{approx}{plan.total_chunks:,} chunks of {plan.chunk_size:,} (from {source}; "
        f"{plan.planning_requests} requests, {format_bytes(plan.planning_bytes_read)} fetched)",
        file=sys.stderr,
    )
    return 0
