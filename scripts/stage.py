"""Snakemake script of ``checkpoint stage_data``: stage the request, write staged.json."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - injected by Snakemake

import logging  # noqa: E402

from bams3.cli._common import configure_logging  # noqa: E402
from bams3.errors import Bams3Error  # noqa: E402
from bams3.stage import DataStagingManager, read_request, write_response  # noqa: E402

configure_logging("INFO")
try:
    manager = DataStagingManager(
        run_dir=snakemake.output.run_dir,  # noqa: F821
        cache_dir=snakemake.params.cache_dir or None,  # noqa: F821
        jobs=snakemake.threads,  # noqa: F821
        on_error=snakemake.params.on_error,  # noqa: F821
        decompress=bool(snakemake.params.decompress),  # noqa: F821
        keep=True,  # the run directory is this rule's output
        show_progress=True,
    )
    response = manager.stage(read_request(snakemake.input.request))  # noqa: F821
    write_response(response, snakemake.output.staged)  # noqa: F821
except Bams3Error as exc:
    logging.getLogger("bams3.stage").error("%s", exc)
    sys.exit(1)
