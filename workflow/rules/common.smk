"""Configuration, sample sheet and input functions (no business logic: that lives in src/bams3)."""

import json
import os
import re
from urllib.parse import urlsplit

import pandas as pd
from snakemake.utils import validate


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
    from bams3.io.redact import redact

    return redact(get_bam_url(wildcards))


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
    from bams3.io.redact import redact

    index = samples.loc[wildcards.sample, "index"]
    return "" if pd.isna(index) else redact(index)


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
