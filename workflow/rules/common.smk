"""Configuration, sample sheet and input functions (no business logic: that lives in src/bams3)."""

import json
import math
import os
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pandas as pd
from snakemake.utils import validate

from bams3.io.redact import redact as redact_url  # a URL without its signature: safe as a param


# --- configuration ---------------------------------------------------------------------

validate(config, schema="../schemas/config.schema.yaml")

#: where every result goes (a prefix of the default storage when one is set)
OUT = config["output_dir"].rstrip("/")

#: reads per chunk, the unit of the statistics
CHUNK_SIZE = config["chunks"]["chunk_size"]


def is_activated(path):
    """Whether the section at ``path`` ("a/b") is switched on (``activate: true``)."""
    section = config
    for part in path.split("/"):
        section = section.get(part, {})
    return bool(section.get("activate", False))


# --- samples ---------------------------------------------------------------------------

def load_samples():
    """The samples as a table indexed by name: from ``bam_urls`` if given, else from the sheet.

    The sheet is parsed by bams3.workflow.samples, the same function the rule scripts use
    to find a sample's BAM URL (URLs are never params: Snakemake stores params on disk).
    """
    from bams3.workflow.samples import load_sample_table

    if not config["bam_urls"] and not config["samples"]:
        # no BAMs: a run that only queries external datasets, stages or publishes
        return pd.DataFrame({"sample": [], "bam": [], "index": []}, dtype=str).set_index("sample", drop=False)
    table, _where = load_sample_table(config)
    validate(table, schema="../schemas/samples.schema.yaml")
    if "index" not in table:
        table["index"] = None
    return table.set_index("sample", drop=False).sort_index()


samples = load_samples()


wildcard_constraints:
    sample="|".join(re.escape(name) for name in samples.index) or "(?!)",
    shard=r"\d+",


# --- input functions and params ------------------------------------------------------------


def get_bam_url(wildcards):
    """The sample's BAM URL, for the DAG side only (e.g. ``get_bam_version``).

    Never a param: Snakemake stores params in .snakemake/metadata, and the URL may be
    signed. Scripts resolve it themselves (bams3.workflow.samples.resolve_sample).
    """
    return samples.loc[wildcards.sample, "bam"]


def get_bam_redacted(wildcards):
    """The sample's BAM URL without its query or credentials: safe as a param.

    It changes when the BAM's location changes (so jobs rerun), not when only its
    signature is renewed.
    """
    return redact_url(get_bam_url(wildcards))


def get_bam_version(wildcards):
    """A local BAM's size and modification time, so that a replaced BAM is planned again.

    Remote BAMs are not asked while the DAG is built (that would be a request per sample
    on every invocation); their shard jobs refuse a BAM that changed since its plan.
    """
    url = get_bam_url(wildcards)
    if url.startswith("file://"):
        path = urlsplit(url).path
    elif "://" in url:
        return "remote"
    else:
        path = url
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}-{st.st_mtime_ns}"


def get_index_redacted(wildcards):
    """The sample's index URL from the sheet without its query, or "" to look next to the BAM."""
    index = samples.loc[wildcards.sample, "index"]
    return "" if pd.isna(index) else redact_url(index)


def chunk_dir(sample="{sample}"):
    """The folder of one sample's chunk results."""
    return f"{OUT}/chunks/{sample}"


def get_aggregate_chunks_input(wildcards):
    """The plan and every shard's outputs, once the plan_chunks checkpoint has run.

    The plan is read through the checkpoint's output ``.open()``, which fetches it from
    remote storage when needed (a later invocation has no local copy).
    """
    plan = checkpoints.plan_chunks.get(sample=wildcards.sample).output.plan
    with plan.open() as handle:
        n_shards = len(json.load(handle)["shards"])
    shards = range(n_shards)
    return {
        "plan": plan,
        "chunks": expand(f"{chunk_dir()}/shards/{{shard}}.jsonl", sample=wildcards.sample, shard=shards),
        "infos": expand(f"{chunk_dir()}/shards/{{shard}}.info.json", sample=wildcards.sample, shard=shards),
    }


def get_chunk_outputs(sample):
    """The per-sample results of the chunks stage."""
    outputs = [f"{chunk_dir(sample)}/{name}" for name in ("chunk_stats.jsonl", "chunk_stats.parquet", "summary.json")]
    if config["chunks"]["chunk_files"]:
        outputs.append(f"{chunk_dir(sample)}/chunk_files")
    return outputs


def get_final_output(*, publish=True):
    """Every target of the run, one branch per activated section."""
    final = []
    if is_activated("chunks"):
        for sample in samples.index:
            final += get_chunk_outputs(sample)
    if is_activated("dataset"):
        for sample in samples.index:
            final += get_dataset_outputs(sample)
    if is_activated("cohort"):
        final += get_cohort_outputs()
    if is_activated("stage"):
        final.append(f"{STAGE_DIR}/staged.json")
    if publish and is_activated("sync"):
        final.append(f"{SYNC_DIR}/report.json")
    final += get_report_outputs(publish=publish)
    return final


def get_sync_publish_input(wildcards):
    """What must exist before the publish plan lists the results: every other final output."""
    return get_final_output(publish=False)


# --- bams3 datasets (rules/dataset.smk) ------------------------------------------------

def get_dataset_setting(name, default):
    return lookup(dpath=f"dataset/{name}", within=config, default=default)


def get_dataset_url(wildcards):
    """Where the sample's dataset is written: ``<root>/<sample>.bams3``."""
    root = get_dataset_setting("root", "") or f"{OUT}/datasets"
    return f"{root.rstrip('/')}/{wildcards.sample}.bams3"


def get_dataset_outputs(sample):
    """The per-sample results of the dataset stage (the receipt)."""
    return [f"{OUT}/datasets/{sample}.receipt.json"]


# --- data staging (rules/stage.smk) ----------------------------------------------------

STAGE_DIR = f"{OUT}/stage"


def get_stage_setting(name, default):
    return lookup(dpath=f"stage/{name}", within=config, default=default)


def get_staged_params(wildcards=None):
    """The resolved parameters, read from staged.json once the stage_data checkpoint has run."""
    with open(checkpoints.stage_data.get().output.staged) as handle:
        return json.load(handle)["result"]["plugin_params"]


def get_staged_path(param):
    """An input function: the local path the top-level parameter ``param`` resolved to."""

    def inner(wildcards):
        return get_staged_params(wildcards)[param]

    return inner


# --- cohort queries (rules/cohort.smk) -------------------------------------------------

#: defaults of the cohort keys, as in workflow/schemas/config.schema.yaml (tests/cohort/test_schema.py checks)
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


# --- publishing (rules/sync.smk) -------------------------------------------------------

SYNC_DIR = f"{OUT}/publish"


def get_sync_setting(name, default=None):
    return lookup(dpath=f"sync/{name}", within=config, default=default)


def get_sync_destination():
    destination = get_sync_setting("destination")
    if not destination:
        raise ValueError("config: sync/destination is required to publish (an s3:// URL, e.g. s3://bucket/run-1/)")
    return destination


def get_sync_excludes():
    """Configured excludes, plus this rule file's own folder when it lies inside the published source."""
    excludes = list(get_sync_setting("exclude", ["*.snakemake_timestamp"]))
    # intermediates that temp() removes before the batches run: never worth publishing
    excludes += ["chunks/*/shards/*", "cohort/groups/*"]
    source = os.path.normpath(get_sync_setting("source", OUT))
    inside = os.path.relpath(os.path.normpath(SYNC_DIR), source)
    if not inside.startswith(".."):
        excludes.append(f"{inside}/*")
    return excludes


def get_sync_batch_reports(wildcards):
    """One report per batch of the plan (known once checkpoint sync_plan has run)."""
    with open(checkpoints.sync_plan.get().output.plan) as handle:
        batches = len(json.load(handle)["batches"])
    return expand(f"{SYNC_DIR}/batches/{{batch}}.json", batch=range(batches))


# --- the report (rules/report.smk) -----------------------------------------------------

REPORT_DIR = f"{OUT}/report"

#: the per-sample figures, in the order the report lists them
SAMPLE_FIGURES = ("reads_along_genome", "mapq_along_genome", "mapq_histogram", "read_fractions")


def get_report_outputs(*, publish=True):
    """The report's figures and tables for the activated sections.

    The publishing summary needs the finished publish report, which itself waits for every
    other output: with publish=False it is left out (what get_sync_publish_input asks for).
    """
    outputs = []
    if is_activated("chunks"):
        for sample in samples.index:
            outputs += [f"{REPORT_DIR}/{sample}/{figure}.png" for figure in SAMPLE_FIGURES]
        outputs += [f"{REPORT_DIR}/samples.html", f"{REPORT_DIR}/samples.tsv"]
    if is_activated("cohort"):
        outputs.append(f"{REPORT_DIR}/cohort.html")
    if is_activated("stage"):
        outputs.append(f"{REPORT_DIR}/staging.html")
    if publish and is_activated("sync"):
        outputs.append(f"{REPORT_DIR}/publishing.html")
    return outputs


def sample_figure(name, caption, label):
    """A per-sample PNG declared for the report: category "Quality control", one subcategory per sample."""
    return report(
        f"{REPORT_DIR}/{{sample}}/{name}.png",
        caption=f"../report/{caption}",
        category="Quality control",
        subcategory="{sample}",
        labels={"sample": "{sample}", "figure": label},
    )


def get_report_cohort_input(wildcards):
    """The cohort stage's tables (rules/cohort.smk); evaluated only when the cohort page is wanted."""
    names = {"summary": "summary.json", "matrix": "matrix.tsv"}
    if get_cohort_setting("coverage"):
        names["depth_matrix"] = "depth_matrix.tsv"
    return {key: f"{cohort_dir()}/{name}" for key, name in names.items()}
