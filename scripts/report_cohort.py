"""Rule report_cohort: the cohort's tables as one page (bams3.report.write_cohort_summary)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    from bams3.jsondocs import get_json
    from bams3.report import write_cohort_summary

    sm = snakemake  # noqa: F821
    write_cohort_summary(get_json(sm.input.summary), matrix=sm.input.matrix, html=sm.output.html,
                         depth_matrix=sm.input.get("depth_matrix"))


run(main)
