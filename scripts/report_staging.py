"""Rule report_staging: what the staging step did (bams3.report.write_stage_summary)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    from bams3.jsondocs import get_json
    from bams3.report import write_stage_summary

    sm = snakemake  # noqa: F821
    write_stage_summary(get_json(sm.input.staged), html=sm.output.html)


run(main)
