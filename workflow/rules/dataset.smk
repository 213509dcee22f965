# BAMS3 datasets (docs/FORMAT.md): convert each sample's BAM into <dataset root>/<sample>.bams3.
#
#   <dataset root>/<sample>.bams3/            the dataset (local folder or s3:// prefix), written straight
#                                             to its destination through bams3.io while the BAM streams in
#   results/datasets/{sample}.receipt.json    the rule's output: dataset URL, run id, object count, bytes,
#                                             records, SHA-256 of the committed _metadata.json
#
# A dataset of a 100 GB BAM is not a Snakemake output: a directory() output on S3 would be written to
# local disk first and uploaded afterwards. The small receipt is the output instead; the dataset is
# committed (its _metadata.json written last) before the receipt exists, and a rerun replaces it.
#
# config:
#   dataset:
#     activate: false        # get_final_output adds get_dataset_outputs(sample) for every sample
#     root: ""               # where datasets go: a local folder or s3://bucket/prefix;
#                            # empty: "<output_dir>/datasets" (local runs only: with a default
#                            # storage prefix set an explicit s3:// root)
#     chunk_size: 1M         # genomic bin per chunk, in bases (K/M suffixes)
#     workers: 2             # compression/upload threads (also the rule's threads)
#     format: 2              # BAMS3 format version (1 or 2)
#     level: null            # zstd level 1-19; null: the format's default
#
# Settings, paths and input functions: rules/common.smk, section "bams3 datasets" (snakemake --lint
# wants functions apart from rules).


rule convert_dataset:
    output:
        receipt=f"{OUT}/datasets/{{sample}}.receipt.json",
    log:
        "logs/dataset/convert/{sample}.log",
    benchmark:
        "benchmarks/dataset/convert/{sample}.tsv"
    threads: get_dataset_setting("workers", 2)
    resources:
        mem_mb=lambda wc, threads, attempt: (512 + 128 * threads) * attempt,
        runtime=lambda wc, attempt: 240 * attempt,
    params:
        # never the URL itself (Snakemake stores params in .snakemake/metadata and it may be
        # signed): redacted, and the script resolves the real URL (bams3.workflow.samples.job_bam)
        sample="{sample}",
        bam=lambda wc: redact_url(get_bam_url(wc)),
        # not used by the script: a changed local BAM changes it, and Snakemake converts again
        bam_version=get_bam_version,
        dataset=get_dataset_url,
        chunk_size=get_dataset_setting("chunk_size", "1M"),
        format=get_dataset_setting("format", 2),
        level=get_dataset_setting("level", None),
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/convert.py"
