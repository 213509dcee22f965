"""``bams3 stats``: a BAMS3 dataset's summary, from its _metadata.json alone (one GET)."""
from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "stats",
        help="summary of a BAMS3 dataset from its metadata alone",
        description=(
            "Print a BAMS3 dataset's format, source, read and base counts, mean coverage, chunking, "
            "compression and storage size. Reads only _metadata.json (one GET)."
        ),
    )
    parser.add_argument("dataset", help="the dataset: local folder or s3://bucket/prefix")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    from ._common import add_io_stats_argument

    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dataset.reader import Dataset
    from ..dataset.summary import format_stats
    from ._common import print_io_stats

    try:
        stats = Dataset.open(args.dataset).stats()
    finally:
        print_io_stats(args)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0
