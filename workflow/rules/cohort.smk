# Cohort queries (bams3.cohort): read counts, and optionally mean depth, of many samples x many regions,
# read from BAMS3 datasets without downloading them.
#
#   results/cohort/groups/{group}.json   one fixed-size group of samples, measured by one job (temporary)
#   results/cohort/table.tsv             one row per sample and region (start/end 0-based, as in BED)
#   results/cohort/table.parquet         the same, typed
#   results/cohort/matrix.tsv            samples x regions read counts
#   results/cohort/depth_matrix.tsv      samples x regions mean depth (with coverage: true)
#   results/cohort/summary.json          totals per region and sample, failed samples, requests and bytes
#                                        against downloading the whole BAMs
#   results/cohort/plot.png              heatmap or per-region distributions
#
# The samples are split into groups of `group_size` up front (the sheet or the dataset list gives their
# number), so no checkpoint is needed: a cluster or AWS Batch runs one job per group, and one job merges
# them. The datasets are never inputs (the storage plugin would download them): their URLs are params and
# the jobs read ranges of them; for datasets this workflow converts, the conversion receipts are inputs,
# so that the cohort waits for (and reruns after) the conversions.
#
# config:
#   cohort:
#     activate: false       # get_final_output adds get_cohort_outputs()
#     datasets: []          # dataset URLs (local folder or s3://.../<sample>.bams3) to query; empty (and
#     datasets_file: ""     # no datasets_file: URL or SAMPLE<TAB>URL per line): the workflow's own datasets
#                           # (dataset: activate: true), one per sample of the sheet
#     regions: []           # regions in samtools syntax, 1-based inclusive ("chr1:1,000-2,000", "chrM")
#     regions_file: ""      # a BED file (0-based, end exclusive; 4th column names the region) or a file of
#                           # samtools-style regions; both may be given
#     group_size: 50        # samples per job
#     jobs: 16              # requests in flight per job (threads: the work waits on the network)
#     coverage: false       # also aligned bases and mean depth (reads every overlapping chunk frame)
#     plot: auto            # auto (heatmap up to 50 samples, else distributions), heatmap or distribution
#     allow_failures: false # false: a job whose samples fail fails (its log names them; rerun after fixing);
#                           # true: failed samples are listed in summary.json and left out of the tables

# Settings, paths and input functions: rules/common.smk, section "cohort queries" (snakemake --lint
# wants functions apart from rules).


rule cohort_group:
    input:
        get_cohort_group_input,
    output:
        temp(f"{cohort_dir()}/groups/{{group}}.json"),
    log:
        "logs/cohort/group/{group}.log",
    benchmark:
        "benchmarks/cohort/group/{group}.tsv"
    wildcard_constraints:
        group=r"\d+",
    threads: 1
    retries: 1
    resources:
        mem_mb=lambda wc, attempt: 1024 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        datasets=get_cohort_group_datasets,
        regions=COHORT_REGIONS,
        jobs=get_cohort_setting("jobs"),
        coverage=get_cohort_setting("coverage"),
        allow_failures=get_cohort_setting("allow_failures"),
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/cohort_group.py"


rule cohort_aggregate:
    input:
        groups=expand(f"{cohort_dir()}/groups/{{group}}.json", group=range(COHORT_GROUPS)),
    output:
        table=cohort_report("table.tsv", "cohort_table.rst"),
        parquet=f"{cohort_dir()}/table.parquet",
        matrix=cohort_report("matrix.tsv", "cohort_matrix.rst"),
        summary=cohort_report("summary.json", "cohort_summary.rst"),
        plot=cohort_report("plot.png", "cohort_plot.rst"),
        **(
            {"depth_matrix": cohort_report("depth_matrix.tsv", "cohort_depth_matrix.rst")}
            if get_cohort_setting("coverage")
            else {}
        ),
    log:
        "logs/cohort/aggregate.log",
    benchmark:
        "benchmarks/cohort/aggregate.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2048 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        plot=get_cohort_setting("plot"),
        allow_failures=get_cohort_setting("allow_failures"),
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/cohort_aggregate.py"
