"""Rule plan_chunks: cut one BAM into shards (bams3.chunks.make_plan) and write the plan."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    import logging

    from bams3.chunks import ShardSizing, make_plan, save_plan
    from bams3.units import parse_bytes
    from bams3.workflow.samples import job_bam

    p = snakemake.params  # noqa: F821
    # the real (maybe signed) URLs come from the sheet, never from params (Snakemake stores those)
    bam = job_bam(snakemake.config, p.sample, shown_bam=p.bam, shown_index=p.index)  # noqa: F821
    sizing = ShardSizing(
        reads=p.shard_reads,
        bytes=None if p.shard_bytes is None else parse_bytes(p.shard_bytes),
    )
    plan = make_plan(
        bam.bam,
        index_url=bam.index,
        use_index=p.use_index,
        chunk_size=p.chunk_size,
        sizing=sizing,
        threads=snakemake.threads,  # noqa: F821
    )
    save_plan(plan, snakemake.output.plan)  # noqa: F821
    logging.getLogger("bams3.plan").info(
        "%s: %d shards, %d reads, about %d chunks (plan from %s, %d requests, %d bytes fetched)",
        plan.bam_url, len(plan.shards), plan.total_reads, plan.total_chunks,
        plan.method, plan.planning_requests, plan.planning_bytes_read,
    )


run(main)
