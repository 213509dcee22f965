"""Helpers shared by the verb modules: logging set-up, common flags, printing."""
from __future__ import annotations

import argparse
import logging
import sys

LOG_FORMAT = "%(asctime)s bams3 %(levelname)s %(name)s: %(message)s"


#: libraries whose DEBUG output is about the HTTP exchanges themselves (request lines,
#: headers, signing steps): shown only when the user asks for DEBUG
NOISY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def configure_logging(level: str) -> None:
    """Log to stderr at ``level``; every record passes the redaction filter.

    The filter sits on the handler, so it scrubs every record that is written, whoever
    logged it: at DEBUG, botocore prints request headers (``Authorization: ...
    Signature=...``, ``X-Amz-Security-Token``) and urllib3 request lines with their
    query strings; they reach stderr with the secrets masked. Below DEBUG those
    libraries are quieted to WARNING (or ``level`` if higher): their INFO output is noise
    to a user. Their levels are set on their own loggers because a record that
    propagates to the root handler is not checked against the root logger's level.
    """
    from ..errors import UsageError
    from ..io.redact import RedactingFilter

    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise UsageError(f"unknown log level {level!r} (use DEBUG, INFO, WARNING or ERROR)")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING))


def add_io_stats_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--io-stats",
        action="store_true",
        help="print the number of requests and bytes per operation to stderr when done",
    )


def print_io_stats(args: argparse.Namespace) -> None:
    """Print the I/O counters if the verb was asked to (``--io-stats``)."""
    if getattr(args, "io_stats", False):
        from ..io.metrics import IO_STATS

        print(IO_STATS.format_table(), file=sys.stderr)
