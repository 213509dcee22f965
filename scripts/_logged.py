"""What every rule script shares: logging into the rule's log, bams3 errors as one line.

A script first points ``sys.stderr`` at ``snakemake.log[0]`` (before any import that
can fail), then hands its ``main`` to :func:`run`. A :class:`bams3.errors.Bams3Error`
(bad input, missing object, corrupt BAM) ends the job with its one-line message in the
log and a non-zero exit, which Snakemake reports as the failed job; anything else is a
bug and keeps its traceback.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable


def run(main: Callable[[], None], *, level: str = "INFO") -> None:
    """Configure logging to stderr (the rule log) and run ``main``; exit non-zero on a bams3 error."""
    os.environ.setdefault("BAMS3_PROGRESS", "log")
    from bams3.cli._common import configure_logging
    from bams3.errors import Bams3Error

    configure_logging(level)
    try:
        main()
    except Bams3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        logging.shutdown()
        sys.exit(exc.exit_code)
