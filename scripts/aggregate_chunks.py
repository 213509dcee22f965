"""Rule aggregate_chunks: number the shards' chunks and write the sample's tables and summary."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    import logging
    from pathlib import Path

    from bams3.chunks import SampleOutputs, ShardOutput, aggregate_shards, load_plan

    sm = snakemake  # noqa: F821
    chunk_dir = sm.output.get("chunk_files")
    summary = aggregate_shards(
        load_plan(sm.input.plan),
        [ShardOutput(Path(c), Path(i)) for c, i in zip(sm.input.chunks, sm.input.infos, strict=True)],
        SampleOutputs(
            jsonl=Path(sm.output.jsonl),
            summary=Path(sm.output.summary),
            parquet=Path(sm.output.parquet),
            chunk_dir=None if chunk_dir is None else Path(chunk_dir),
        ),
        sample=sm.params.sample,
    )
    logging.getLogger("bams3.aggregate").info(
        "%s: %d chunks, %d reads", sm.params.sample, summary["total_chunks"], summary["total_reads"]
    )


run(main)
