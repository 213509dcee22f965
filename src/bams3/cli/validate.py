"""``bams3 validate``: check a BAMS3 dataset's chunks against its metadata."""
from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "validate",
        help="check every chunk of a BAMS3 dataset against its metadata",
        description=(
            "Read every chunk and check its size, CRC-32, frame table, zstd checksums, record counts, "
            "positions and bins against _metadata.json; with --quick only check that every chunk exists "
            "with its listed size (one listing). Prints one line per problem; exits 1 if there is any."
        ),
    )
    parser.add_argument("dataset", help="the dataset: local folder or s3://bucket/prefix")
    parser.add_argument("--quick", action="store_true", help="only check presence and sizes")
    parser.add_argument("--workers", type=int, default=4, help="chunks checked at once (default: %(default)s)")
    from ._common import add_io_stats_argument

    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dataset.validate import validate
    from ..errors import IntegrityError
    from ..units import format_bytes
    from ._common import print_io_stats

    try:
        report = validate(args.dataset, quick=args.quick, workers=args.workers)
    finally:
        print_io_stats(args)
    for problem in report.problems:
        print(problem)
    if not report.ok:
        raise IntegrityError(f"{report.dataset}: {len(report.problems)} problem(s) in {report.chunks} chunks")
    what = "present with the listed sizes" if report.quick else (
        f"valid ({report.records:,} records, {format_bytes(report.bytes_checked)} read)")
    print(f"{report.dataset}: OK, {report.chunks:,} chunks {what}")
    return 0
