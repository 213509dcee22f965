"""Cohort counts equal ``samtools view -c`` (and aligned bases ``samtools depth -a -J``) per sample and region.

Regions are drawn by hypothesis, with edges placed on, just before and just after real read
starts and ends (where an off-by-one between BED's 0-based and samtools' 1-based coordinates
changes the answer), and given three ways: a BED file, samtools strings on the command line, and
a region list file. Every way must give samtools' counts for the samtools string of the region.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bams3.cohort import run_cohort
from bams3.regions import Region, parse_region, parse_regions, read_regions

from .conftest import REFERENCES, Cohort, samtools_count, samtools_depth_sum

LENGTHS = dict(REFERENCES)
EXAMPLES = int(os.environ.get("BAMS3_COHORT_EXAMPLES", "25"))


@st.composite
def edge(draw: st.DrawFn, spans: dict[str, dict[str, np.ndarray]], contig: str) -> int:
    """A 0-based position near a read start or end of ``contig`` (or anywhere on it)."""
    length = LENGTHS[contig]
    data = spans.get(contig)
    if data is None or draw(st.integers(0, 4)) == 0:
        return draw(st.integers(0, length))
    anchors = data[draw(st.sampled_from(["start", "end"]))]
    anchor = int(anchors[draw(st.integers(0, len(anchors) - 1))])
    return min(max(anchor + draw(st.integers(-1, 1)), 0), length)


@st.composite
def region_sets(draw: st.DrawFn, spans: dict[str, dict[str, np.ndarray]]) -> list[Region]:
    regions: dict[tuple[str, int, int], Region] = {}
    for _ in range(draw(st.integers(1, 5))):
        contig = draw(st.sampled_from([name for name, _ in REFERENCES]))
        a, b = draw(edge(spans, contig)), draw(edge(spans, contig))
        start, end = min(a, b), max(a, b)
        if draw(st.booleans()):  # also long regions, over several whole bins
            end = min(start + draw(st.integers(1, 120_000)), LENGTHS[contig] + 50)
        end = max(end, start + 1)
        regions[(contig, start, end)] = Region(contig, start, end)
    return list(regions.values())


def _bed(path: Path, regions: list[Region]) -> Path:
    path.write_text("".join(f"{r.contig}\t{r.start}\t{r.end}\n" for r in regions))
    return path


def _oracle(cohort: Cohort, regions: list[Region]) -> np.ndarray:
    return np.array([[samtools_count(cohort.bam(s.name), r.to_samtools()) for r in regions] for s in cohort.samples])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_counts_equal_samtools_for_bed_strings_and_lists(local_cohort: Cohort, read_spans: dict,
                                                        tmp_path_factory: pytest.TempPathFactory,
                                                        data: st.DataObject) -> None:
    regions = data.draw(region_sets(read_spans))
    expected = _oracle(local_cohort, regions)
    directory = tmp_path_factory.mktemp("regions")
    strings = [r.to_samtools() for r in regions]
    (directory / "list.txt").write_text("# samtools-style regions\n" + "\n".join(strings) + "\n")
    forms = {
        "bed": read_regions(_bed(directory / "panel.bed", regions)),
        "strings": parse_regions(strings),
        "list": read_regions(directory / "list.txt"),
    }
    for form, parsed in forms.items():
        assert [(r.contig, r.start, r.end) for r in parsed] == [(r.contig, r.start, r.end) for r in regions], form
        result = run_cohort(local_cohort.samples, parsed, jobs=data.draw(st.sampled_from([1, 3, 16])),
                            show_progress=False)
        assert result.counts.tolist() == expected.tolist(), form
        assert not result.failed


def _depth_edge(read_spans: dict) -> int:
    """A 0-based position where a read starts and no read ends: the coverage steps up there."""
    starts, ends = read_spans["chr1"]["start"], read_spans["chr1"]["end"]
    candidates = np.setdiff1d(starts, ends)
    return int(candidates[(candidates > 1000) & (candidates < 190_000)][0])


def test_bed_is_zero_based_and_samtools_one_based(local_cohort: Cohort, read_spans: dict, tmp_path: Path) -> None:
    """At a position where reads start, the BED base [p, p+1) is samtools' p+1 and differs from [p-1, p)."""
    p = _depth_edge(read_spans)
    bed = _bed(tmp_path / "edge.bed", [Region("chr1", p - 1, p), Region("chr1", p, p + 1)])
    from_bed = run_cohort(local_cohort.samples, read_regions(bed), show_progress=False)
    from_strings = run_cohort(local_cohort.samples, parse_regions([f"chr1:{p}-{p}", f"chr1:{p + 1}"
                                                                     f"-{p + 1}"]), show_progress=False)
    assert from_bed.counts.tolist() == from_strings.counts.tolist()
    assert from_bed.counts.tolist() == _oracle(local_cohort, [Region("chr1", p - 1, p),
                                                              Region("chr1", p, p + 1)]).tolist()
    assert (from_bed.counts[:, 1] > from_bed.counts[:, 0]).any()  # an off-by-one would be visible here


@pytest.mark.parametrize("text", ["chr2", "chr1:150000", "chr1:-5000", "chrEmpty", "chrM:1-16569",
                                  "chr1:199000-250000", "{chr1}:1,000-2k"])
def test_whole_open_and_odd_regions(local_cohort: Cohort, text: str) -> None:
    region = parse_region(text)
    result = run_cohort(local_cohort.samples, [region], jobs=4, show_progress=False)
    assert result.counts[:, 0].tolist() == _oracle(local_cohort, [region])[:, 0].tolist()


@settings(max_examples=max(EXAMPLES // 3, 5), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_aligned_bases_equal_samtools_depth(local_cohort: Cohort, read_spans: dict, data: st.DataObject) -> None:
    regions = data.draw(region_sets(read_spans))
    result = run_cohort(local_cohort.samples, regions, jobs=4, coverage=True, show_progress=False)
    assert result.counts.tolist() == _oracle(local_cohort, regions).tolist()
    expected = [[samtools_depth_sum(local_cohort.bam(s.name), r.to_samtools()) for r in regions]
                for s in local_cohort.samples]
    assert result.aligned_bases is not None and result.aligned_bases.tolist() == expected
    depth = result.mean_depth()
    assert depth is not None
    lengths = np.array([min(r.end or LENGTHS[r.contig], LENGTHS[r.contig]) - r.start for r in regions])
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_allclose(depth, np.array(expected) / lengths[None, :])


def test_whole_bins_are_counted_from_metadata(local_cohort: Cohort) -> None:
    """Regions made of whole bins that no earlier read reaches into need no chunk request at all:
    one metadata GET per dataset, however many regions."""
    from bams3.io.metrics import IO_STATS

    regions = [Region("chr2"), Region("chr1", 0, 32_768 * 2), parse_region("chrM")]
    with IO_STATS.scope() as scope:
        result = run_cohort(local_cohort.samples, regions, jobs=4, show_progress=False)
    assert result.counts.tolist() == _oracle(local_cohort, regions).tolist()
    assert scope.counts("file", "get").requests == len(local_cohort.samples), scope.format_table()
    # a small region inside a bin: the metadata, that chunk's frame table, the frames it needs (one merged
    # range in format 1; format 2 fetches each block's core stream on its own, and 1 kbp meets one or two)
    inner = Region("chr1", 32_768 * 6 - 10_000, 32_768 * 6 - 9_000)
    with IO_STATS.scope() as small:
        result = run_cohort(local_cohort.samples, [inner], jobs=4, show_progress=False)
    assert result.counts.tolist() == _oracle(local_cohort, [inner]).tolist()
    assert small.counts("file", "get").requests <= 4 * len(local_cohort.samples), small.format_table()


def test_format_2_datasets(cohort_bams: dict[str, Path], tmp_path: Path) -> None:
    """Cohorts read BAMS3 v2 datasets (per-field streams) through the same Dataset API, mixed with v1."""
    from bams3.cohort import CohortSample
    from bams3.dataset import Dataset, convert

    samples = []
    for version, name in ((2, "S0"), (1, "S1")):
        url = str(tmp_path / f"{name}.bams3")
        convert(str(cohort_bams[name]), url, bin_size=32_768, format=version, show_progress=False)
        assert Dataset.open(url).metadata.format_version == version
        samples.append(CohortSample(name, url))
    regions = parse_regions(["chr1:1000-40000", "chr2:70000-70100", "chrM"])
    result = run_cohort(samples, regions, coverage=True, show_progress=False)
    bams = [cohort_bams["S0"], cohort_bams["S1"]]
    assert result.counts.tolist() == [[samtools_count(b, r.to_samtools()) for r in regions] for b in bams]
    assert result.aligned_bases is not None
    assert result.aligned_bases.tolist() == [[samtools_depth_sum(b, r.to_samtools()) for r in regions] for b in bams]
    assert run_cohort(samples, regions, show_progress=False).counts.tolist() == result.counts.tolist()
