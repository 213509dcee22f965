# Publishing: sync the results folder to an s3:// destination, one job per batch.
#
#   results/publish/plan.json            checkpoint sync_plan: first-fit-decreasing batches of at
#                                        most sync/batch_bytes (what is unchanged at the destination
#                                        is left out)
#   results/publish/batches/{batch}.json rule sync_batch: one job per batch, its report
#   results/publish/report.json          rule publish (the target): every batch's report merged
#
# A small tree is one batch, so the same three rules serve a laptop run and a cohort of
# thousands of genomes spread over a cluster. A batch job re-checks each object before
# copying, so rerunning the workflow after a failure copies only what is still missing.
# Nothing is deleted at the destination (run 'bams3 sync SRC DST --delete' by hand for that).
#
# config:
#   sync:
#     activate: false                  # the lead's get_final_output adds "results/publish/report.json"
#     destination: s3://bucket/run-1/   # required when activated
#     source: results                   # the folder to publish
#     batch_bytes: 50GiB                # most bytes one batch job copies
#     jobs: 4                           # transfers at once inside a batch job (also its threads)
#     compare: mtime                    # mtime | size | checksum (what counts as unchanged)
#     exclude: ["*.snakemake_timestamp"] # globs, relative to source, not published
#     allow_partial_failure: false      # try every object of a batch before failing the job
#
# The common.smk of the workflow must define get_sync_publish_input(wildcards): the files that must
# exist before the plan lists the source (every final output except results/publish/report.json).
#
# Settings, paths and input functions: rules/common.smk, section "publishing" (snakemake --lint
# wants functions apart from rules).

# merging the batch reports takes a moment: on a cluster it runs on the submit host, not as a job
localrules:
    publish,


checkpoint sync_plan:
    input:
        get_sync_publish_input,
    output:
        plan=f"{SYNC_DIR}/plan.json",
    log:
        "logs/sync/sync_plan.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1024 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        source=lambda wc: get_sync_setting("source", OUT),
        destination=lambda wc: get_sync_destination(),
        batch_bytes=lambda wc: get_sync_setting("batch_bytes", "50GiB"),
        jobs=lambda wc: get_sync_setting("jobs", 4),
        compare=lambda wc: get_sync_setting("compare", "mtime"),
        exclude=lambda wc: get_sync_excludes(),
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/sync_plan.py"


rule sync_batch:
    input:
        plan=f"{SYNC_DIR}/plan.json",
    output:
        report=f"{SYNC_DIR}/batches/{{batch}}.json",
    log:
        "logs/sync/sync_batch/{batch}.log",
    wildcard_constraints:
        batch=r"\d+",
    threads: get_sync_setting("jobs", 4)
    resources:
        mem_mb=lambda wc, attempt: 1024 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
    params:
        index=lambda wc: int(wc.batch),
        allow_partial_failure=lambda wc: bool(get_sync_setting("allow_partial_failure", False)),
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/sync_batch.py"


rule publish:
    input:
        plan=f"{SYNC_DIR}/plan.json",
        reports=get_sync_batch_reports,
    output:
        report=f"{SYNC_DIR}/report.json",
    log:
        "logs/sync/publish.log",
    threads: 1
    resources:
        mem_mb=512,
        runtime=10,
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/sync_report.py"
