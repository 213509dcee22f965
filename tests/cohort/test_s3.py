"""A cohort in the loopback S3 server, counted through a counting proxy: what it reads, and how often."""
from __future__ import annotations

import pytest

from bams3.cohort import collect_samples, run_cohort
from bams3.regions import parse_regions
from tests.helpers.faultproxy import FaultProxy

from .conftest import Cohort, samtools_count

REGIONS = parse_regions(["chr1:1-1000", "chr1:30000-34000", "chr1:60001-130000", "chr2", "chr2:149000-150000",
                         "chrEmpty", "chrM:100-200"])


@pytest.mark.parametrize("jobs", [1, 16])
def test_s3_counts_requests_and_bytes(s3_cohort: object, fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch,
                                      jobs: int) -> None:
    cohort: Cohort = s3_cohort()  # type: ignore[operator]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    prefix = cohort.samples[0].url.rsplit("/", 1)[0] + "/"
    samples = collect_samples([prefix])
    fault_proxy.reset()
    result = run_cohort(samples, REGIONS, jobs=jobs, show_progress=False)
    expected = [[samtools_count(cohort.bam(s.name), r.to_samtools()) for r in REGIONS] for s in samples]
    assert result.counts.tolist() == expected
    requests = list(fault_proxy.records)
    # the metadata of each dataset is fetched exactly once, whatever the number of regions
    metadata_gets = [r for r in requests if r.method == "GET" and r.target.split("?")[0].endswith("_metadata.json")]
    assert sorted(r.target.split("?")[0] for r in metadata_gets) == sorted(
        f"/{s.url.split('/', 2)[2]}/_metadata.json" for s in samples)
    # what the proxy saw is what the summary reports
    assert result.io.requests == len(requests)
    assert result.io.bytes_in == sum(r.bytes_delivered for r in requests)
    # a handful of ranged GETs per (sample, region), and a small part of the data
    assert len(requests) <= 4 * len(samples) * len(REGIONS)
    stored = sum(o.dataset_bytes or 0 for o in result.outcomes)
    assert result.io.bytes_in < stored / 2
    whole = sum(o.source_size or 0 for o in result.outcomes)
    assert whole == sum(cohort.bam(s.name).stat().st_size for s in samples)


#: regions nested in and overlapping each other (a gene, its exons, windows tiling it), on both references
OVERLAPPING = parse_regions(["chr1:20000-90000", "chr1:30000-34000", "chr1:33000-60000", "chr1:33500-33600",
                             "chr1:1-200000", "chr1:59000-61000", "chr2:1000-1500", "chr2:1200-1300", "chr2",
                             "chr2:140000-150000"])


def _byte_ranges(requests: list) -> dict[str, list[tuple[int, int]]]:
    """GETs with a Range header by object path: ``[(first, last), ...]`` (inclusive, as in the header)."""
    out: dict[str, list[tuple[int, int]]] = {}
    for r in requests:
        value = next((v for k, v in r.headers.items() if k.lower() == "range"), None)
        if r.method == "GET" and value is not None:
            first, last = value.removeprefix("bytes=").split("-")  # "bytes=0-": a whole object
            out.setdefault(r.target.split("?")[0], []).append((int(first), int(last) if last else 2**62))
    return out


def test_overlapping_regions_fetch_each_byte_once(s3_cohort: object, fault_proxy: FaultProxy,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample's regions are planned together: each footer and frame is fetched once per sample however
    many regions need it, so no byte of any object is requested twice, and the requests are the same
    whatever ``--jobs`` (concurrent tasks never fetch the same footer twice)."""
    cohort: Cohort = s3_cohort()  # type: ignore[operator]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    seen = {}
    for jobs in (1, 16):
        fault_proxy.reset()
        result = run_cohort(cohort.samples, OVERLAPPING, jobs=jobs, show_progress=False)
        assert result.counts.tolist() == [[samtools_count(cohort.bam(s.name), r.to_samtools()) for r in OVERLAPPING]
                                          for s in cohort.samples]
        requests = list(fault_proxy.records)
        assert result.io.requests == len(requests)
        ranges = _byte_ranges(requests)
        assert ranges, "no chunk was read: the regions do not test anything"
        for path, spans in ranges.items():
            spans.sort()
            for (_, last), (first, _) in zip(spans, spans[1:]):
                assert first > last, f"{path}: bytes {first}-{last} fetched twice ({spans})"
        seen[jobs] = sorted((path, span) for path, spans in ranges.items() for span in spans)
    assert seen[1] == seen[16]
