"""Helpers shared by the verb modules: logging set-up, common flags, printing."""
from __future__ import annotations

import argparse
import logging
import sys

LOG_FORMAT = "%(asctime)s bams3 %(levelname)s %(name)s: %(message)s"


class _RedactingFilter(logging.Filter):
    """Last line of defence: scrub signatures from every log record, whoever formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        from ..io.redact import redact_text

        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str) -> None:
    """Log to stderr at ``level``; every record passes the redaction filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(_RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # boto's own debug output would print request headers (credentials); keep it quiet.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))


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
