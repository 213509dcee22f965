"""``bams3 <verb>``: the command line.

Each verb lives in its own module under :mod:`bams3.cli` with two functions:
``add_parser(subparsers)`` declares its arguments (argparse only, nothing heavy at
import time) and ``run(args) -> int`` calls into the library. Building the parser
therefore imports every verb module but none of the library; a verb pays for numpy,
boto3 or pandas only when it runs (start-up cost matters: see docs/BENCHMARKS.md).

Errors: a :class:`bams3.errors.Bams3Error` becomes one line on stderr and its
``exit_code``; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from .. import __version__

#: verb modules in the order ``bams3 --help`` lists them; a name missing on disk is skipped
VERB_MODULES: tuple[str, ...] = (
    "flagstat",
    "plan",
    "chunk_stats",
    "scan",
    "convert",
    "query",
    "stats",
    "to_bam",
    "validate",
    "cohort",
    "stage",
    "sync",
    "json_docs",
    "watch",
    "handle",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser (also used to generate docs/CLI.md)."""
    parser = argparse.ArgumentParser(
        prog="bams3",
        description=(
            "Work with huge BAM files on disk, in S3 or behind signed HTTPS URLs without "
            "downloading them: flagstat, chunked statistics, the BAMS3 dataset format "
            "(convert, query, stats, to-bam, validate), cohort queries, staging and sync."
        ),
        epilog=(
            "Paths may be local files, file://, s3://bucket/key (credentials and endpoint from the "
            "standard AWS chain, including AWS_ENDPOINT_URL_S3) or http(s):// URLs (signed URLs are "
            "redacted in every message). Run 'bams3 VERB --help' for a verb's options."
        ),
    )
    parser.add_argument("--version", action="version", version=f"bams3 {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("BAMS3_LOG_LEVEL", "WARNING"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="verbosity of the log on stderr (default: %(default)s, or $BAMS3_LOG_LEVEL)",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bams3`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from ._common import configure_logging

    configure_logging(args.log_level)
    from ..errors import Bams3Error

    try:
        return int(args.func(args) or 0)
    except Bams3Error as exc:
        print(f"bams3 {args.verb}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"bams3 {args.verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `bams3 query ... | head`: the reader went away; not an error worth a message.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 0
    finally:
        logging.shutdown()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
