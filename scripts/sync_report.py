"""Snakemake script of ``rule publish``: merge the batch reports into results/publish/report.json."""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - injected by Snakemake

import logging  # noqa: E402

from bams3.cli._common import configure_logging  # noqa: E402
from bams3.errors import Bams3Error  # noqa: E402
from bams3.jsondocs import get_json, put_json  # noqa: E402
from bams3.sync import SyncPlan, SyncReport  # noqa: E402

configure_logging("INFO")
try:
    plan = SyncPlan.from_dict(get_json(snakemake.input.plan))  # noqa: F821
    reports = [SyncReport.from_dict(get_json(path)) for path in snakemake.input.reports]  # noqa: F821
    merged = SyncReport.merge(plan.source, plan.destination, reports)
    put_json(snakemake.output.report, merged.to_dict())  # noqa: F821
    logging.getLogger("bams3.sync").info("%s", merged.summary_line())
except Bams3Error as exc:
    logging.getLogger("bams3.sync").error("%s", exc)
    sys.exit(1)
