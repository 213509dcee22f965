# The Snakemake report: `snakemake --report report.html` (or report.zip) after a run shows
#
#   Samples             results/report/samples.html (+ .tsv)   one row per sample: flagstat counts,
#                                                               chunks, shard jobs, bytes read
#   Quality control     results/report/{sample}/*.png          per sample: reads and mean MAPQ along
#                                                               the genome, MAPQ histogram, read fractions
#   Cohort              results/report/cohort.html              the cohort's counts per sample and region,
#                                                               per-region totals, failures, cost (the
#                                                               cohort rules add the heatmap and TSVs)
#   Staging, Publishing results/report/staging.html,           what stage and sync did (when activated)
#                       results/report/publishing.html
#
# Everything here is
# drawn from files the other stages already wrote (chunk_stats.parquet, plan.json, summary.json,
# staged.json, publish/report.json), by bams3.report; matplotlib renders off-screen (Agg).
#
# get_final_output (common.smk) adds get_report_outputs(publish=publish), so that a plain
# `snakemake` builds them and `snakemake --report` finds them. `snakemake report_all` builds only
# these (after a run made the inputs).
#
# Settings, paths and input functions: rules/common.smk, section "the report" (snakemake --lint
# wants functions apart from rules).

localrules:
    report_samples_table,
    report_cohort,
    report_staging,
    report_publishing,
    report_all,


rule report_sample_plots:
    input:
        chunks=f"{chunk_dir()}/chunk_stats.parquet",
        plan=f"{chunk_dir()}/plan.json",
        summary=f"{chunk_dir()}/summary.json",
    output:
        reads_along_genome=sample_figure("reads_along_genome", "reads_along_genome.rst", "reads along the genome"),
        mapq_along_genome=sample_figure("mapq_along_genome", "mapq_along_genome.rst", "mean MAPQ along the genome"),
        mapq_histogram=sample_figure("mapq_histogram", "mapq_histogram.rst", "MAPQ histogram"),
        read_fractions=sample_figure("read_fractions", "read_fractions.rst", "read fractions"),
    log:
        "logs/report/sample_plots/{sample}.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1024 * attempt,
        runtime=lambda wc, attempt: 15 * attempt,
    params:
        sample="{sample}",
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/report_sample_plots.py"


rule report_samples_table:
    input:
        summaries=expand(f"{OUT}/chunks/{{sample}}/summary.json", sample=samples.index),
    output:
        html=report(
            f"{REPORT_DIR}/samples.html",
            caption="../report/samples_table.rst",
            category="Samples",
            labels={"table": "per-sample summary"},
        ),
        tsv=report(
            f"{REPORT_DIR}/samples.tsv",
            caption="../report/samples_table.rst",
            category="Samples",
            labels={"table": "per-sample summary (TSV, to download)"},
        ),
    log:
        "logs/report/samples_table.log",
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/report_samples_table.py"


rule report_cohort:
    input:
        unpack(get_report_cohort_input),
    output:
        html=report(
            f"{REPORT_DIR}/cohort.html",
            caption="../report/cohort_page.rst",
            category="Cohort",
        ),
    log:
        "logs/report/cohort.log",
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/report_cohort.py"


rule report_staging:
    input:
        staged=f"{STAGE_DIR}/staged.json",
    output:
        html=report(
            f"{REPORT_DIR}/staging.html",
            caption="../report/staging.rst",
            category="Staging and publishing",
            labels={"summary": "staging"},
        ),
    log:
        "logs/report/staging.log",
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/report_staging.py"


rule report_publishing:
    input:
        report=f"{SYNC_DIR}/report.json",
    output:
        html=report(
            f"{REPORT_DIR}/publishing.html",
            caption="../report/publishing.rst",
            category="Staging and publishing",
            labels={"summary": "publishing to S3"},
        ),
    log:
        "logs/report/publishing.log",
    conda:
        "../../envs/bams3.yaml"
    script:
        "../../scripts/report_publishing.py"


rule report_all:
    input:
        get_report_outputs(),
