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

import math
from types import SimpleNamespace

#: defaults of the cohort keys (the schema section proposed in tests/cohort/cohort.schema.yaml holds the
#: same; tests/cohort/test_schema.py checks)
COHORT_DEFAULTS = {
    "datasets": [],
    "datasets_file": "",
    "regions": [],
    "regions_file": "",
    "group_size": 50,
    "jobs": 16,
    "coverage": False,
    "plot": "auto",
    "allow_failures": False,
}


def get_cohort_setting(name):
    return lookup(dpath=f"cohort/{name}", within=config, default=COHORT_DEFAULTS[name])


def load_cohort_samples():
    """The cohort's samples in group order: an external dataset list, else the workflow's datasets."""
    from bams3.cohort import check_unique_samples, read_dataset_list, samples_from_urls
    from bams3.errors import Bams3Error

    try:
        cohort = samples_from_urls(get_cohort_setting("datasets"))
        if get_cohort_setting("datasets_file"):
            cohort += read_dataset_list(get_cohort_setting("datasets_file"))
        check_unique_samples(cohort)
    except Bams3Error as exc:
        raise ValueError(f"config cohort (datasets, datasets_file): {exc}") from None
    if not cohort:
        if not is_activated("dataset"):
            raise ValueError(
                "config cohort: no datasets to query; list them (cohort: datasets / datasets_file) "
                "or convert the sample sheet's BAMs (dataset: activate: true)"
            )
        from bams3.cohort import CohortSample

        cohort = [
            CohortSample(name, get_dataset_url(SimpleNamespace(sample=name))) for name in samples.index
        ]
    return cohort


def load_cohort_regions():
    """The regions as ``[contig, start, end, name]`` (0-based, end None for "to the end")."""
    from bams3.cohort import region_labels
    from bams3.errors import Bams3Error
    from bams3.regions import parse_regions, read_regions

    try:
        regions = parse_regions(get_cohort_setting("regions"))
        if get_cohort_setting("regions_file"):
            regions += read_regions(get_cohort_setting("regions_file"))
        if not regions:
            raise ValueError("give regions (cohort: regions) or a BED/region file (cohort: regions_file)")
        region_labels(regions)  # unique, non-empty: fail here, not in every job
    except (Bams3Error, ValueError) as exc:
        raise ValueError(f"config cohort (regions, regions_file): {exc}") from None
    return [[r.contig, r.start, r.end, r.name] for r in regions]


if is_activated("cohort"):
    COHORT_SAMPLES = load_cohort_samples()
    COHORT_REGIONS = load_cohort_regions()
    COHORT_GROUP_SIZE = get_cohort_setting("group_size")
    COHORT_GROUPS = math.ceil(len(COHORT_SAMPLES) / COHORT_GROUP_SIZE)
else:
    COHORT_SAMPLES, COHORT_REGIONS, COHORT_GROUP_SIZE, COHORT_GROUPS = [], [], 1, 0


def cohort_dir():
    return f"{OUT}/cohort"


def get_cohort_group(wildcards):
    """The samples of group ``wildcards.group`` (fixed-size slices of the cohort, in order)."""
    group = int(wildcards.group)
    if not 0 <= group < COHORT_GROUPS:
        raise ValueError(f"cohort group {group} does not exist (there are {COHORT_GROUPS})")
    return COHORT_SAMPLES[group * COHORT_GROUP_SIZE : (group + 1) * COHORT_GROUP_SIZE]


def get_cohort_group_input(wildcards):
    """The conversion receipts of the group's samples when the workflow converts them; else nothing."""
    if get_cohort_setting("datasets") or get_cohort_setting("datasets_file"):
        return []
    return [get_dataset_outputs(sample.name)[0] for sample in get_cohort_group(wildcards)]


def get_cohort_group_datasets(wildcards):
    return [[sample.name, sample.url] for sample in get_cohort_group(wildcards)]


def get_cohort_outputs():
    """The merged results of the cohort stage."""
    names = ["table.tsv", "table.parquet", "matrix.tsv", "summary.json", "plot.png"]
    if get_cohort_setting("coverage"):
        names.append("depth_matrix.tsv")
    return [f"{cohort_dir()}/{name}" for name in names]


def cohort_report(name, caption):
    return report(f"{cohort_dir()}/{name}", caption=f"../report/{caption}", category="Cohort")


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
