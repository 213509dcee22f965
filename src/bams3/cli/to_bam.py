"""``bams3 to-bam``: a BAMS3 dataset (or one region of it) back to a sorted BAM."""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "to-bam",
        help="write a BAMS3 dataset, or a region of it, as a BAM",
        description=(
            "Write the whole dataset (byte for byte the source BAM's header and records; only the BGZF "
            "blocking may differ) or the records overlapping --region as a coordinate-sorted BAM. OUTPUT "
            "is a local path or an s3:// URL; it appears only once complete."
        ),
    )
    parser.add_argument("dataset", help="the dataset: local folder or s3://bucket/prefix")
    parser.add_argument("output", help="the BAM to write (local path or s3:// URL)")
    parser.add_argument("--region", help="only the records overlapping this region (samtools syntax)")
    parser.add_argument("--index", action="store_true", help="also write OUTPUT.bai (local output only)")
    parser.add_argument("--level", type=int, default=6, help="deflate level 0-12 (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=8, help="requests in flight (default: %(default)s)")
    from ._common import add_io_stats_argument

    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dataset.export import write_bam
    from ..dataset.reader import Dataset
    from ..errors import UsageError
    from ._common import print_io_stats

    if not 0 <= args.level <= 12:
        raise UsageError(f"--level must be 0-12, got {args.level}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    try:
        dataset = Dataset.open(args.dataset, max_concurrency=args.workers)
        if args.region is not None:
            dataset.resolve(args.region)  # a bad region fails before anything is written
        records = write_bam(dataset, args.output, region=args.region, index=args.index, level=args.level)
    finally:
        print_io_stats(args)
    print(f"bams3 to-bam: wrote {records:,} records to {args.output}", file=sys.stderr)
    return 0
