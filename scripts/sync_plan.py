"""Snakemake script of ``checkpoint sync_plan``: plan the batches that publish the results folder."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - injected by Snakemake

import logging  # noqa: E402

from bams3.cli._common import configure_logging  # noqa: E402
from bams3.errors import Bams3Error  # noqa: E402
from bams3.jsondocs import put_json  # noqa: E402
from bams3.sync import PlanRequest, SyncOptions, plan  # noqa: E402
from bams3.units import parse_bytes  # noqa: E402

configure_logging("INFO")
params = snakemake.params  # noqa: F821
try:
    options = SyncOptions.from_dict({
        "jobs": int(params.jobs),
        "compare": params.compare,
        "filters": [{"exclude": pattern} for pattern in params.exclude],
    })
    result = plan(PlanRequest(params.source, params.destination, parse_bytes(params.batch_bytes), options))
    put_json(snakemake.output.plan, result.to_dict())  # noqa: F821
    logging.getLogger("bams3.sync").info(
        "%d batch(es), %d bytes to copy, %d object(s) unchanged", len(result.batches), result.total_bytes,
        result.skipped_count)
except Bams3Error as exc:
    logging.getLogger("bams3.sync").error("%s", exc)
    sys.exit(1)
