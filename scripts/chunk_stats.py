"""Rule chunk_stats: the per-chunk statistics of one shard (bams3.chunks.run_shard)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    import logging

    from bams3.chunks import load_plan, run_shard
    from bams3.workflow.samples import job_bam

    p = snakemake.params  # noqa: F821
    # the real (maybe signed) URL comes from the sheet, never from params (Snakemake stores those)
    bam = job_bam(snakemake.config, p.sample, shown_bam=p.bam)  # noqa: F821
    plan = load_plan(snakemake.input.plan)  # noqa: F821
    report = run_shard(
        bam.bam,
        plan,
        int(snakemake.wildcards.shard),  # noqa: F821
        snakemake.output.chunks,  # noqa: F821
        info_output=snakemake.output.info,  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
    )
    logging.getLogger("bams3.chunk_stats").info("shard %d: %s", report.shard, report.to_dict())


run(main)
