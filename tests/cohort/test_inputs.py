"""Which datasets and regions a cohort query runs over: naming, list files, prefix listing, labels."""
from __future__ import annotations

from pathlib import Path

import pytest

from bams3.cohort import (
    CohortSample,
    collect_samples,
    find_datasets,
    is_dataset_url,
    read_dataset_list,
    region_labels,
    sample_name,
)
from bams3.errors import UsageError
from bams3.regions import Region

from .conftest import Cohort


@pytest.mark.parametrize(("url", "name"), [
    ("s3://bucket/cohort/NA12878.bams3", "NA12878"),
    ("s3://bucket/cohort/NA12878.bams3/", "NA12878"),
    ("/data/x/HG002.bams3", "HG002"),
    ("file:///data/x/HG002.bams3/", "HG002"),
    ("https://host/x/HG003.bams3?X-Amz-Signature=secret", "HG003"),
    ("s3://bucket/plain", "plain"),
])
def test_sample_names_from_urls(url: str, name: str) -> None:
    assert sample_name(url) == name


def test_a_url_without_a_name_is_refused() -> None:
    with pytest.raises(UsageError, match="cannot name a sample"):
        sample_name("https://host/?sig=secret")


def test_dataset_urls_and_prefixes_are_told_apart() -> None:
    assert is_dataset_url("s3://b/c/x.bams3") and is_dataset_url("s3://b/c/x.bams3/")
    assert not is_dataset_url("s3://b/c/") and not is_dataset_url("/data/cohort")


def test_list_file_forms(tmp_path: Path) -> None:
    listing = tmp_path / "datasets.tsv"
    listing.write_text("sample\turl\n# a comment\n\nNA1\ts3://b/x/one.bams3\ns3://b/x/NA2.bams3\n  \n")
    assert read_dataset_list(listing) == [CohortSample("NA1", "s3://b/x/one.bams3"),
                                          CohortSample("NA2", "s3://b/x/NA2.bams3")]


@pytest.mark.parametrize(("text", "problem"), [
    ("a\tb\tc\n", "expected URL or SAMPLE<TAB>URL"),
    ("# nothing\n", "names no dataset"),
    ("\ts3://b/x.bams3\n", "expected URL"),
])
def test_bad_list_files(tmp_path: Path, text: str, problem: str) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(text)
    with pytest.raises(UsageError, match=problem):
        read_dataset_list(listing)
    with pytest.raises(UsageError, match="not found"):
        read_dataset_list(tmp_path / "missing.txt")


def test_prefix_listing_finds_committed_datasets_at_any_depth(local_cohort: Cohort, tmp_path: Path) -> None:
    root = Path(local_cohort.samples[0].url).parent
    found = find_datasets(str(root))
    assert sorted(s.name for s in found) == sorted(s.name for s in local_cohort.samples)
    assert {Path(s.url) for s in found} == {Path(s.url) for s in local_cohort.samples}
    # an unfinished conversion (no _metadata.json) and unrelated files are not datasets
    (tmp_path / "deep" / "unfinished.bams3" / "chunks").mkdir(parents=True)
    (tmp_path / "deep" / "unfinished.bams3" / "chunks" / "x.bch").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match="no BAMS3 datasets"):
        find_datasets(str(tmp_path))
    # a prefix that is itself a dataset
    assert find_datasets(local_cohort.samples[0].url) == [CohortSample("S0", local_cohort.samples[0].url)]


def test_prefix_listing_in_s3(s3_cohort: object) -> None:
    cohort = s3_cohort()  # type: ignore[operator]
    prefix = cohort.samples[0].url.rsplit("/", 1)[0] + "/"
    assert find_datasets(prefix) == cohort.samples


def test_collect_mixes_arguments_and_lists_and_refuses_repeated_names(local_cohort: Cohort, tmp_path: Path) -> None:
    listing = tmp_path / "more.txt"
    listing.write_text(f"other\t{local_cohort.samples[0].url}\n")
    samples = collect_samples([local_cohort.samples[1].url], [listing])
    assert samples == [local_cohort.samples[1], CohortSample("other", local_cohort.samples[0].url)]
    root = str(Path(local_cohort.samples[0].url).parent)
    with pytest.raises(UsageError, match="repeated: S1"):
        collect_samples([root, local_cohort.samples[1].url])
    with pytest.raises(UsageError, match="no datasets given"):
        collect_samples([], [])


def test_region_labels_are_unique() -> None:
    regions = [Region("chr1", 0, 100, "BRCA1"), Region("chr1", 200, 300, "BRCA1"), Region("chr2", 5, 10),
               Region("chr3")]
    assert region_labels(regions) == ["BRCA1 (chr1:1-100)", "BRCA1 (chr1:201-300)", "chr2:6-10", "chr3"]
    # a BED name that looks like another region's samtools string: both get their position
    assert region_labels([Region("chr1", 0, 10, "chr2:1-5"), Region("chr2", 0, 5)]) == [
        "chr2:1-5 (chr1:1-10)", "chr2:1-5 (chr2:1-5)"]


@pytest.mark.parametrize(("regions", "problem"), [
    ([], "no regions"),
    ([Region("chr1", 5, 5)], "is empty"),
    ([Region("chr1", 0, 10), Region("chr1", 0, 10, "x")], "more than once"),
    ([Region("chr1", 0, 10, "a"), Region("chr1", 20, 30, "a"), Region("chr2", 0, 5, "a (chr1:1-10)")],
     "used by several regions"),
])
def test_bad_region_sets(regions: list[Region], problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        region_labels(regions)
