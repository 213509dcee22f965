"""What a cohort query runs over: the samples (dataset URLs with names) and the regions.

Datasets come from three places, which can be mixed:

- a dataset URL (its last path component ends in ``.bams3``): the sample is the name before it;
- a prefix (local folder or ``s3://bucket/prefix``) listed for ``<name>.bams3/_metadata.json``
  (only committed datasets are found: a conversion that did not finish has no metadata);
- a list file: one dataset per line, ``URL`` or ``SAMPLE<TAB>URL`` (``#`` comments, blank
  lines and a ``sample<TAB>...`` header line are skipped).

Regions are :class:`bams3.regions.Region` objects (0-based, half-open, parsed once by
:mod:`bams3.regions`); here they only get their table labels, which must be unique because they
name the matrix columns.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UsageError
from ..regions import Region

__all__ = [
    "CohortSample",
    "DATASET_SUFFIX",
    "sample_name",
    "samples_from_urls",
    "read_dataset_list",
    "find_datasets",
    "collect_samples",
    "is_dataset_url",
    "check_unique_samples",
    "region_labels",
]

#: the conventional ending of a dataset prefix (``<sample>.bams3``)
DATASET_SUFFIX = ".bams3"
_METADATA_KEY = "_metadata.json"
_LISTED = re.compile(r"^(?:(?P<dir>.*)/)?(?P<name>[^/]+)\.bams3/_metadata\.json$")
_HEADER_WORDS = {"sample", "name", "id"}


@dataclass(frozen=True, slots=True)
class CohortSample:
    """One dataset of the cohort: ``name`` (a row of the matrix) and ``url`` (where it lives)."""

    name: str
    url: str

    def __post_init__(self) -> None:
        if not self.name or any(ch in self.name for ch in "\t\r\n"):
            raise UsageError(f"invalid sample name {self.name!r} for {self.url} (empty, or has a tab or newline)")


def sample_name(url: str) -> str:
    """The sample a dataset URL names: its last path component without ``.bams3``.

    >>> sample_name("s3://bucket/cohort/NA12878.bams3/")
    'NA12878'
    >>> sample_name("https://host/x/HG002.bams3?X-Amz-Signature=abc")
    'HG002'
    """
    path = urlsplit(url).path if "://" in url else url
    base = os.path.basename(path.rstrip("/" + os.sep))
    name = base[: -len(DATASET_SUFFIX)] if base.endswith(DATASET_SUFFIX) else base
    if not name:
        raise UsageError(f"{_shown(url)}: cannot name a sample after this URL; give the name in a list file "
                         "(SAMPLE<TAB>URL)")
    return name


def _shown(url: str) -> str:
    from ..io import redact

    return redact(url)


def samples_from_urls(urls: Iterable[str]) -> list[CohortSample]:
    """One sample per dataset URL, named by :func:`sample_name`."""
    return [CohortSample(sample_name(url), url) for url in urls]


def read_dataset_list(path: str | os.PathLike[str]) -> list[CohortSample]:
    """The datasets named in a list file (``URL`` or ``SAMPLE<TAB>URL`` per line).

    Relative local paths are taken relative to the current directory (as ``samtools -b`` does).

    Raises
    ------
    UsageError
        The file is missing, unreadable, or has a line with more than two columns.
    """
    path = Path(path)
    samples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"{path}: dataset list not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the dataset list ({exc})") from None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if number == 1 and fields[0].lower() in _HEADER_WORDS and len(fields) == 2:
            continue
        if len(fields) == 1:
            samples.append(CohortSample(sample_name(fields[0]), fields[0]))
        elif len(fields) == 2 and all(fields):
            samples.append(CohortSample(fields[0], fields[1]))
        else:
            raise UsageError(f"{path}:{number}: expected URL or SAMPLE<TAB>URL")
    if not samples:
        raise UsageError(f"{path}: the dataset list names no dataset")
    return samples


def find_datasets(prefix: str) -> list[CohortSample]:
    """The committed datasets (``<name>.bams3/_metadata.json``) below ``prefix``, at any depth.

    A prefix that is itself a dataset (``_metadata.json`` directly inside) is returned as one
    sample. The listing is recursive, so it reads every key below the prefix (S3: one request
    per 1,000 keys, chunks included); for cohorts of thousands of converted genomes a list file
    is cheaper.

    Raises
    ------
    UsageError
        No dataset below the prefix.
    """
    from ..io import open_store

    store = open_store(prefix)
    found = []
    for info in store.list(""):
        if info.key == _METADATA_KEY:
            found.append(CohortSample(sample_name(store.url), store.url.rstrip("/")))
            continue
        match = _LISTED.match(info.key)
        if match:
            dataset = info.key[: -len(_METADATA_KEY) - 1]
            found.append(CohortSample(match.group("name"), f"{store.url.rstrip('/')}/{dataset}"))
    if not found:
        raise UsageError(f"{store.url}: no BAMS3 datasets (<name>.bams3/{_METADATA_KEY}) below this prefix")
    return found


def collect_samples(
    arguments: Sequence[str] = (), list_files: Sequence[str | os.PathLike[str]] = ()
) -> list[CohortSample]:
    """Every sample named on a command line: dataset URLs, prefixes to list, list files.

    Order: the arguments in order (a prefix's datasets in key order), then each list file's.

    Raises
    ------
    UsageError
        Nothing given, or two datasets with the same sample name.
    """
    samples: list[CohortSample] = []
    for argument in arguments:
        if is_dataset_url(argument):
            samples.append(CohortSample(sample_name(argument), argument))
        else:
            samples.extend(find_datasets(argument))
    for list_file in list_files:
        samples.extend(read_dataset_list(list_file))
    if not samples:
        raise UsageError("no datasets given (dataset URLs, prefixes to list, or a dataset list file)")
    check_unique_samples(samples)
    return samples


def is_dataset_url(url: str) -> bool:
    """Whether ``url`` names a dataset itself (ends in ``.bams3``) rather than a prefix to list."""
    path = urlsplit(url).path if "://" in url else url
    return path.rstrip("/" + os.sep).endswith(DATASET_SUFFIX)


def check_unique_samples(samples: Sequence[CohortSample]) -> None:
    """Raise :class:`UsageError` naming the sample names used more than once."""
    repeated = sorted(name for name, n in Counter(s.name for s in samples).items() if n > 1)
    if repeated:
        shown = ", ".join(repeated[:5]) + (f" and {len(repeated) - 5} more" if len(repeated) > 5 else "")
        raise UsageError(f"sample names must be unique, repeated: {shown} (name them in a list file: SAMPLE<TAB>URL)")


def region_labels(regions: Sequence[Region]) -> list[str]:
    """Unique table labels: the BED name or samtools string, the position added to a repeated name.

    BED files of exons often name every line after its gene; those labels become
    ``BRCA1 (chr17:43044295-43045802)``. The same region given twice is an error (it would be
    the same matrix column twice).

    Raises
    ------
    UsageError
        No region, an empty region, or the same region twice.

    >>> [str(x) for x in region_labels([Region("chr1", 0, 10, "g"), Region("chr1", 20, 30, "g")])]
    ['g (chr1:1-10)', 'g (chr1:21-30)']
    """
    if not regions:
        raise UsageError("no regions given")
    for region in regions:
        if region.end is not None and region.end <= region.start:
            raise UsageError(f"region {region.label} is empty (BED end must be greater than start)")
    seen = Counter((r.contig, r.start, r.end) for r in regions)
    twice = [r for r in regions if seen[(r.contig, r.start, r.end)] > 1]
    if twice:
        raise UsageError(f"region {twice[0].to_samtools()} is given more than once")
    names = Counter(r.label for r in regions)
    labels = [r.label if names[r.label] == 1 else f"{r.label} ({r.to_samtools()})" for r in regions]
    clash = [label for label, n in Counter(labels).items() if n > 1]
    if clash:
        raise UsageError(f"region name {clash[0]!r} is used by several regions; names must be unique")
    return labels
