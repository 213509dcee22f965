"""``bams3 stage``: stage a data manifest into a run directory, print the resolved parameters."""
from __future__ import annotations

import argparse
import sys

from ._common import add_io_stats_argument, print_io_stats


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "stage",
        help="download the files of a data manifest into a run directory and resolve tool parameters",
        description=(
            "Read a request {\"params\": {...}, \"data_manifest\": {name: url, ...}}, stage every manifest "
            "entry into a fresh run directory (parallel, resumable, through a content cache), and write the "
            "response JSON with the parameters rewritten to local paths. Without --keep the run directory "
            "is removed after the response is written (the cache stays warm). Exit status: 0 when every "
            "file was staged, 1 when some failed (--on-error continue) or on an error, 2 on a bad request."
        ),
    )
    parser.add_argument("request", nargs="?", default="-",
                        help="request JSON file, or - for stdin (default: -)")
    parser.add_argument("-o", "--output", default="-", help="where to write the response JSON (default: stdout)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workdir", help="directory in which the unique run directory is made (default: $TMPDIR)")
    where.add_argument("--run-dir", help="stage into exactly this directory (must be missing or empty)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (skip clean-up)")
    parser.add_argument("-j", "--jobs", type=int, default=4, help="files downloaded at once (default: %(default)s)")
    parser.add_argument("--on-error", choices=["fail", "continue"], default="fail",
                        help="fail: stop at the first failure; continue: stage the rest and report the "
                             "failures in the response (default: %(default)s)")
    parser.add_argument("--cache-dir", help="content cache root (default: $BAMS3_CACHE_DIR or ~/.cache/bams3)")
    parser.add_argument("--no-cache", action="store_true", help="download everything; do not use the cache")
    parser.add_argument("--decompress", action="store_true",
                        help="decompress entries whose URL ends in .gz or .zst (an entry's own "
                             "\"decompress\" wins)")
    parser.add_argument("--no-progress", action="store_true", help="do not report progress")
    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import Bams3Error, UsageError
    from ..stage import DataStagingManager, StageResponse, read_request, write_response

    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    request = read_request(args.request)
    manager = DataStagingManager(
        workdir=args.workdir, run_dir=args.run_dir, cache_dir=args.cache_dir, use_cache=not args.no_cache,
        jobs=args.jobs, on_error=args.on_error, decompress=args.decompress, keep=args.keep,
        show_progress=not args.no_progress,
    )
    with manager:
        try:
            response = manager.stage(request)
        except Bams3Error as exc:
            run_dir = str(manager.run_dir) if manager.run_dir else None
            write_response(StageResponse.from_error(exc, params=request.params, run_dir=run_dir), args.output)
            raise
        finally:
            print_io_stats(args)
        write_response(response, args.output)
        if args.keep and manager.run_dir is not None:
            print(f"bams3 stage: kept {manager.run_dir}", file=sys.stderr)
    return 0 if response.success else 1
