"""``bams3 scan``: plan, per-chunk statistics and aggregation of one BAM in one process."""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "scan",
        help="per-chunk statistics of a whole BAM in one process (plan + shards + aggregation)",
        description=(
            "Compute the per-chunk statistics of a BAM (path, s3:// or https:// URL) without downloading "
            "it, and write into DIR: plan.json, chunk_stats.jsonl (one object per chunk, ids "
            "1..total_chunks), chunk_stats.parquet, optionally chunk_files/chunk_<id>.json, and summary.json "
            "(totals equal to samtools flagstat). With an index the shards run in parallel; without one "
            "the BAM is read once, with --workers threads inflating."
        ),
    )
    parser.add_argument("bam", help="the BAM: path, file://, s3:// or https:// URL")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    from .plan import add_planning_arguments

    add_planning_arguments(parser)
    parser.add_argument("--workers", type=int,
                        help="shards processed at once, or inflate threads without an index (default: 2)")
    parser.add_argument("--pool", choices=("thread", "process"),
                        help="run shards in processes or in threads (default: processes)")
    parser.add_argument("--chunk-files", action="store_true", help="also write chunk_files/chunk_<id>.json, one file per chunk")
    parser.add_argument("--no-parquet", action="store_true", help="do not write chunk_stats.parquet")
    parser.add_argument("--sample", help="sample name recorded in summary.json")
    parser.add_argument("--no-progress", action="store_true", help="do not report progress")
    from ._common import add_io_stats_argument

    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..chunks import scan
    from ..errors import UsageError
    from ._common import print_io_stats
    from .plan import planning_options

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    # the library holds the defaults: pass only what was given
    tuning = {name: value for name, value in (("workers", args.workers), ("pool", args.pool)) if value is not None}
    try:
        result = scan(
            args.bam,
            args.output,
            **planning_options(args),
            **tuning,
            parquet=not args.no_parquet,
            chunk_files=args.chunk_files,
            sample=args.sample,
            progress=not args.no_progress,
        )
    finally:
        print_io_stats(args)
    s = result.summary
    print(
        f"bams3 scan: {args.output}: {s['total_chunks']:,} chunks, {s['total_reads']:,} reads "
        f"({s['mapped_reads']:,} mapped) from {s['plan']['shards']:,} shards planned from {s['plan']['method']}; "
        f"summary in {result.outputs.summary}",
        file=sys.stderr,
    )
    return 0
