# Per-chunk statistics: plan each BAM into shards (checkpoint), one job per shard, aggregate.
# The BAM is never an input: its URL is a param and every job reads byte ranges of it.
# One checkpoint per sample lets a sample's shards start as soon as its plan exists; measured
# on 200 samples x 10 shards it schedules faster than one global planning checkpoint
# (SNAKEMAKE_NOTES.md), and the plan is read back through the checkpoint's .open(), which
# works when the plan lives in remote storage.


checkpoint plan_chunks:
    output:
        plan=f"{chunk_dir()}/plan.json",
    log:
        "logs/chunks/plan/{sample}.log",
    benchmark:
        "benchmarks/chunks/plan/{sample}.tsv"
    threads: config["chunks"]["threads"]
    resources:
        mem_mb=lambda wc, attempt: 1024 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
    params:
        # URLs are never params (Snakemake stores params in .snakemake/metadata and they may be
        # signed): the script resolves them from the sheet (bams3.workflow.samples.job_bam).
        sample="{sample}",
        # redacted: a moved BAM or index changes it (and plans again), a renewed signature does not
        bam=get_bam_redacted,
        index=get_index_redacted,
        # not used by the script: a changed local BAM changes it, and Snakemake plans again
        bam_version=get_bam_version,
        chunk_size=CHUNK_SIZE,
        shard_reads=config["chunks"]["shard_reads"],
        shard_bytes=config["chunks"]["shard_bytes"],
        use_index=config["chunks"]["use_index"],
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/plan_chunks.py"


rule chunk_stats:
    input:
        plan=f"{chunk_dir()}/plan.json",
    output:
        chunks=temp(f"{chunk_dir()}/shards/{{shard}}.jsonl"),
        info=temp(f"{chunk_dir()}/shards/{{shard}}.info.json"),
    log:
        "logs/chunks/stats/{sample}/{shard}.log",
    benchmark:
        "benchmarks/chunks/stats/{sample}/{shard}.tsv"
    threads: config["chunks"]["threads"]
    resources:
        mem_mb=lambda wc, attempt: 1024 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        sample="{sample}",
        # redacted (the script resolves the real URL); the plan names the BAM's size and ETag
        bam=get_bam_redacted,
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/chunk_stats.py"


rule aggregate_chunks:
    input:
        unpack(get_aggregate_chunks_input),
    output:
        jsonl=f"{chunk_dir()}/chunk_stats.jsonl",
        parquet=f"{chunk_dir()}/chunk_stats.parquet",
        summary=report(
            f"{chunk_dir()}/summary.json",
            caption="../report/chunk_summary.rst",
            category="Chunk statistics",
            labels={"sample": "{sample}", "file": "summary"},
        ),
        **({"chunk_files": directory(f"{chunk_dir()}/chunk_files")} if config["chunks"]["chunk_files"] else {}),
    log:
        "logs/chunks/aggregate/{sample}.log",
    benchmark:
        "benchmarks/chunks/aggregate/{sample}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1024 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        sample="{sample}",
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/aggregate_chunks.py"
