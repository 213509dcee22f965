"""``bams3 query``: the records of a BAMS3 dataset overlapping a region (as samtools view would)."""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "query",
        help="records of a BAMS3 dataset overlapping a region",
        description=(
            "Print the records overlapping REGION as SAM text, exactly as 'samtools view BAM REGION' "
            "would (same records, same order), fetching only the chunk frames that can overlap it. "
            "REGION uses samtools syntax: chr1, chr1:1000000-2000000, chr20:10M-11M, {HLA-A*01:01}:1-100."
        ),
    )
    parser.add_argument("dataset", help="the dataset: local folder or s3://bucket/prefix")
    parser.add_argument("region", help="region, samtools syntax (1-based, inclusive)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--count", action="store_true",
                      help="print only the number of records (as samtools view -c), from metadata where exact")
    what.add_argument("--show", type=int, metavar="N", help="print only the first N records")
    what.add_argument("-o", "--output", metavar="FILE",
                      help="write the records to FILE instead: .bam (BAM) or .sam (SAM with header)")
    parser.add_argument("--with-header", action="store_true", help="print the SAM header before the records")
    parser.add_argument("--workers", type=int, default=8, help="requests in flight (default: %(default)s)")
    from ._common import add_io_stats_argument

    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dataset.export import raw_records, write_bam, write_sam, write_sam_file
    from ..dataset.reader import Dataset
    from ..errors import UsageError
    from ..regions import parse_region
    from ._common import print_io_stats

    if args.show is not None and args.show < 0:
        raise UsageError(f"--show must be 0 or more, got {args.show}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.output and not args.output.lower().endswith((".bam", ".sam")):
        raise UsageError(f"{args.output}: -o takes a .bam or .sam file name")
    parse_region(args.region)  # a malformed region fails before any request
    try:
        dataset = Dataset.open(args.dataset, max_concurrency=args.workers)
        dataset.resolve(args.region)
        if args.count:
            print(dataset.count(args.region))
        elif args.output and args.output.lower().endswith(".bam"):
            write_bam(dataset, args.output, region=args.region)
        elif args.output:
            write_sam_file(dataset.header, raw_records(dataset.query(args.region)), args.output)
        else:
            write_sam(dataset.header, raw_records(dataset.query(args.region), limit=args.show), sys.stdout,
                      with_header=args.with_header)
            sys.stdout.flush()
    finally:
        print_io_stats(args)
    return 0
