"""The workflow's samples: the sample sheet (config ``samples``) or the URL list (``bam_urls``).

Why this lives in the library and not in ``common.smk``: a sample's BAM URL may be a
*signed* URL, and Snakemake records every rule ``params:`` value in its bookkeeping
(``.snakemake/metadata/``, JSON records per output), so the URL must never be a param.
Rules therefore pass only the sample name (and a redacted URL, for people), and the job's
script resolves the real URL here from the config it receives. The config carries only
the *path* of the sheet, so the signature is read from the user's own file at run time
and is not copied into Snakemake's files. ``common.smk`` builds its table with the same
function, so the DAG and the jobs always agree on what a sheet means.

Limits, documented in config/README.md: URLs given directly in ``bam_urls`` are part of
the config itself, which Snakemake embeds (pickled) in the temporary script files under
``.snakemake/scripts/`` (removed after each job unless ``--skip-script-cleanup``) and
passes to cluster jobs; signed URLs belong in a sheet.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bams3.errors import ConfigError
from bams3.io.redact import REDACTED

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SAMPLE_NAME", "SampleBam", "sample_name_from_url", "load_sample_table", "resolve_sample", "job_bam"]

#: a sample name is used in output paths: no separators, no leading dot
SAMPLE_NAME = re.compile(r"^(?!\.)[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class SampleBam:
    """One sample's BAM and index URLs, as the user wrote them (may hold signatures: never log them)."""

    sample: str
    bam: str
    #: the .bai/.csi URL from the sheet; None: look next to the BAM
    index: str | None


def sample_name_from_url(url: str) -> str:
    """``s3://b/x/NA12878.bam?sig=...`` -> ``NA12878``: the file name without ``.bam``."""
    name = os.path.basename(urlsplit(url).path if "://" in url else url)
    name = name[: -len(".bam")] if name.endswith(".bam") else name
    if not SAMPLE_NAME.match(name):
        raise ConfigError(
            f"config bam_urls: cannot make a sample name from {name!r} (from the URL's file name); "
            "use a sample sheet (config 'samples') to name this BAM"
        )
    return name


def load_sample_table(config: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """The samples as a string table (columns ``sample``, ``bam``, maybe ``index``) and where it came from.

    From ``bam_urls`` when that list is not empty, else from the sheet at ``samples``
    (tab-separated, ``#`` comments, relative paths relative to the working directory),
    else an empty table (a run that only queries datasets, stages or publishes). Cells and
    column names are stripped and sample names must be unique; schema validation is the
    caller's (``common.smk`` uses Snakemake's ``validate``).
    """
    import pandas as pd

    urls = config.get("bam_urls") or []
    if urls:
        table = pd.DataFrame({"sample": [sample_name_from_url(u) for u in urls], "bam": list(urls)}, dtype=str)
        where = "config bam_urls"
    elif config.get("samples"):
        sheet = config["samples"]
        try:
            table = pd.read_csv(sheet, sep="\t", dtype=str, comment="#", skip_blank_lines=True)
        except FileNotFoundError as exc:
            raise ConfigError(f"sample sheet {sheet}: not found (relative paths are relative to the working "
                              "directory)") from exc
        where = f"sample sheet {sheet}"
    else:
        return pd.DataFrame({"sample": [], "bam": []}, dtype=str), "no samples"
    table.columns = [str(c).strip() for c in table.columns]
    table = table.apply(lambda col: col.str.strip())
    if "sample" in table:
        duplicated = sorted(set(table["sample"][table["sample"].duplicated()]))
        if duplicated:
            raise ConfigError(f"{where}: sample names must be unique; repeated: {', '.join(duplicated)}")
    return table, where


def resolve_sample(config: Mapping[str, Any], sample: str) -> SampleBam:
    """The BAM and index URLs of ``sample``, read from the config a job receives (``snakemake.config``).

    This is how a rule script learns its BAM's URL without the URL ever being a rule
    param (which Snakemake would store on disk).
    """
    import pandas as pd

    table, where = load_sample_table(config)
    rows = table[table["sample"] == sample] if "sample" in table else table.iloc[0:0]
    if rows.empty:
        raise ConfigError(f"{where}: no sample {sample!r} (was the sheet changed while the workflow ran?)")
    row = rows.iloc[0]
    index = row.get("index")
    return SampleBam(sample=sample, bam=str(row["bam"]),
                     index=None if index is None or pd.isna(index) or not index else str(index))


def job_bam(config: Mapping[str, Any], sample: str, *, shown_bam: str, shown_index: str = "") -> SampleBam:
    """The URLs a rule script reads for ``sample``: resolved from the config, never from params.

    ``shown_bam``/``shown_index`` are the rule's redacted params. They are used only when
    the config has no sample source at all (neither ``samples`` nor ``bam_urls`` key):
    a rule file included by another Snakefile that names its BAMs itself (the rule
    tests' harnesses do). Then a param without a redaction marker *is* the URL (a local
    path or an unsigned URL); a redacted one cannot be undone, and the job stops with a
    message naming the fix instead of reading a wrong URL.
    """
    if "samples" in config or "bam_urls" in config:
        return resolve_sample(config, sample)
    for shown in (shown_bam, shown_index):
        if REDACTED in shown:
            raise ConfigError(
                f"sample {sample}: {shown} is signed, and the config names no sample sheet to read the "
                "signed URL from (config 'samples' or 'bam_urls')"
            )
    return SampleBam(sample=sample, bam=shown_bam, index=shown_index or None)
