"""Rule report_samples_table: the per-sample summary table (bams3.report.write_samples_table)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    import logging

    from bams3.jsondocs import get_json
    from bams3.report import write_samples_table

    sm = snakemake  # noqa: F821
    rows = write_samples_table([get_json(path) for path in sm.input.summaries], tsv=sm.output.tsv, html=sm.output.html)
    logging.getLogger("bams3.report").info("summary table of %d samples", len(rows))


run(main)
