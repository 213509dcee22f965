"""Rule report_sample_plots: one sample's QC figures (bams3.report.write_sample_plots)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    import logging

    from bams3.report import SamplePlots, write_sample_plots

    sm = snakemake  # noqa: F821
    profile = write_sample_plots(
        chunk_table=sm.input.chunks,
        plan=sm.input.plan,
        summary=sm.input.summary,
        outputs=SamplePlots(
            reads_along_genome=sm.output.reads_along_genome,
            mapq_along_genome=sm.output.mapq_along_genome,
            mapq_histogram=sm.output.mapq_histogram,
            read_fractions=sm.output.read_fractions,
        ),
        sample=sm.params.sample,
    )
    logging.getLogger("bams3.report").info(
        "%s: %d windows of %d bp along %d references", sm.params.sample, len(profile.reads), profile.window,
        len(profile.references))


run(main)
