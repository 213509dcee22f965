"""Snakemake script of ``rule sync_batch``: copy one batch of the plan, write its report.

A batch with failed objects fails the job (after trying them all when
``sync/allow_partial_failure`` is set), so that rerunning the workflow retries it.
"""
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 - injected by Snakemake

import logging  # noqa: E402
from dataclasses import replace  # noqa: E402

from bams3.cli._common import configure_logging  # noqa: E402
from bams3.errors import Bams3Error  # noqa: E402
from bams3.jsondocs import dump_json, get_json, put_json  # noqa: E402
from bams3.sync import SyncPlan, run_batch  # noqa: E402

configure_logging("INFO")
log = logging.getLogger("bams3.sync")
try:
    plan = SyncPlan.from_dict(get_json(snakemake.input.plan))  # noqa: F821
    request = plan.request_for(snakemake.params.index,  # noqa: F821
                               allow_partial_failure=snakemake.params.allow_partial_failure)  # noqa: F821
    request = replace(request, options=request.options.evolve(jobs=snakemake.threads))  # noqa: F821
    report = run_batch(request)
    log.info("%s", report.summary_line())
    if not report.ok:
        sys.stderr.write(dump_json(report.to_dict()).decode())
        log.error("%d object(s) failed; rerun the workflow to retry them", report.count("failed"))
        sys.exit(1)
    put_json(snakemake.output.report, report.to_dict())  # noqa: F821
except Bams3Error as exc:
    partial = getattr(exc, "report", None)
    if partial is not None:
        sys.stderr.write(dump_json(partial.to_dict()).decode())
    log.error("%s", exc)
    sys.exit(1)
