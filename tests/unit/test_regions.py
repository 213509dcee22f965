"""Region parsing: samtools syntax to 0-based half-open, BED as-is, and clear errors."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from bams3.errors import RegionError
from bams3.regions import Region, parse_region, read_bed, read_regions

REFS = {"chr1": 248_956_422, "chr20": 64_444_167, "HLA-A*01:01:01:01": 3503, "chrM": 16569}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("chr1", Region("chr1", 0, None)),
        ("chr1:1000", Region("chr1", 999, None)),
        ("chr1:1000-2000", Region("chr1", 999, 2000)),
        ("chr1:1,000,000-2,000,000", Region("chr1", 999_999, 2_000_000)),
        ("chr20:10M-11M", Region("chr20", 9_999_999, 11_000_000)),
        ("chr20:1.5k-2k", Region("chr20", 1499, 2000)),
        ("chr1:-500", Region("chr1", 0, 500)),
        ("chr1:1-1", Region("chr1", 0, 1)),
        ("chr1:", Region("chr1", 0, None)),  # htslib takes a trailing colon as the whole reference
        ("{HLA-A*01:01:01:01}:1-100", Region("HLA-A*01:01:01:01", 0, 100)),
        ("HLA-A*01:01:01:01", Region("HLA-A*01:01:01:01", 0, None)),
    ],
)
def test_samtools_syntax(text: str, expected: Region) -> None:
    assert parse_region(text, REFS) == expected


@pytest.mark.parametrize(
    "text",
    ["", ":1-2", "chr1:abc", "chr1:2000-1000", "chr1:0-5", "chr 1:1-2", "{chr1:1-2", "chr1:1-2-3",
     "chr1:99999999999"],
)
def test_malformed_regions_raise_one_line(text: str) -> None:
    with pytest.raises(RegionError) as info:
        parse_region(text, REFS)
    assert "\n" not in str(info.value)


def test_unknown_contig_named_in_error() -> None:
    with pytest.raises(RegionError, match="chrUn"):
        parse_region("chrUn:1-10").check(REFS, source="sample.bams3")


def test_clamp_to_reference_length() -> None:
    assert parse_region("chrM:16000").check(REFS) == Region("chrM", 15999, 16569)
    assert parse_region("chrM").check(REFS) == Region("chrM", 0, 16569)


@given(st.integers(1, 10**9), st.integers(0, 10**6))
def test_round_trip_through_samtools_string(start: int, length: int) -> None:
    region = Region("chr1", start - 1, start - 1 + length + 1)
    assert parse_region(region.to_samtools(), REFS) == region


def test_bed_is_zero_based_and_named(tmp_path) -> None:
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\n# comment\nchr1\t999\t2000\tgeneA\nchr20\t0\t100\n")
    assert read_bed(bed) == [Region("chr1", 999, 2000, "geneA"), Region("chr20", 0, 100)]
    # same interval written the samtools way is the same region
    assert read_bed(bed)[0].to_samtools() == "chr1:1000-2000"


def test_region_list_and_bed_detection(tmp_path) -> None:
    listed = tmp_path / "regions.txt"
    listed.write_text("chr1:1000-2000\n\nchr20\n")
    assert read_regions(listed, REFS) == [Region("chr1", 999, 2000), Region("chr20")]
    tabbed = tmp_path / "regions.tsv"
    tabbed.write_text("chr1\t999\t2000\n")
    assert read_regions(tabbed) == [Region("chr1", 999, 2000)]


@pytest.mark.parametrize("content", ["chr1\t10\n", "chr1\tx\t5\n", "chr1\t10\t5\n"])
def test_bad_bed_lines(tmp_path, content: str) -> None:
    bed = tmp_path / "bad.bed"
    bed.write_text(content)
    with pytest.raises(RegionError, match="bad.bed:1"):
        read_bed(bed)
