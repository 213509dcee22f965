"""The tables, the matrix, summary.json, the plot, and merging the results of sample groups."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bams3.cohort import (
    CohortResult,
    IoCost,
    SampleOutcome,
    cohort_figure,
    merge_results,
    render_outputs,
    run_cohort,
    write_outputs,
)
from bams3.errors import DatasetError, UsageError
from bams3.regions import Region, parse_regions

from .conftest import Cohort, samtools_count

LENGTHS = {"chr1": 200_000, "chr2": 150_000}


def synthetic(n: int, m: int, *, coverage: bool = False, failed: tuple[int, ...] = (), seed: int = 0,
              first: int = 0) -> CohortResult:
    """A result of ``n`` samples x ``m`` regions without any I/O (for plots and tables)."""
    rng = np.random.default_rng(seed)
    regions = tuple(Region("chr1" if j % 2 == 0 else "chr2", 1000 * j, 1000 * j + 500 + 100 * j, f"gene{j}")
                    for j in range(m))
    counts = rng.poisson(rng.uniform(5, 3000, size=m)[None, :], size=(n, m)).astype(np.int64)
    counts[rng.integers(0, n), 0] = 0  # a dropout
    outcomes = []
    for i in range(first, first + n):
        if i - first in failed:
            outcomes.append(SampleOutcome(f"sample{i:04d}", f"s3://b/c/sample{i:04d}.bams3", error="no such dataset"))
            counts[i - first] = -1
        else:
            outcomes.append(SampleOutcome(f"sample{i:04d}", f"s3://b/c/sample{i:04d}.bams3", source_size=10**9,
                                          dataset_bytes=6 * 10**8, reads=10**7, mapped_reads=9 * 10**6,
                                          reference_lengths=dict(LENGTHS)))
    bases = None
    if coverage:
        bases = counts * 150
    labels = tuple(str(r.name) for r in regions)
    return CohortResult(regions=regions, labels=labels, outcomes=tuple(outcomes),
                        counts=counts, aligned_bases=bases,
                        io=IoCost.from_snapshot({"s3": {"get": {"requests": 3 * n * m, "bytes_in": 5000 * n * m}}}),
                        seconds=1.5, jobs=16)


def test_tables_from_a_real_cohort(local_cohort: Cohort, tmp_path: Path) -> None:
    regions = parse_regions(["chr1:1001-5000", "chr2", "chrM:1-50"])
    result = run_cohort(local_cohort.samples, regions, coverage=True, show_progress=False)
    written = write_outputs(result, str(tmp_path / "out"))
    assert sorted(Path(u).name for u in written.values()) == sorted(
        ["table.tsv", "table.parquet", "matrix.tsv", "depth_matrix.tsv", "summary.json", "plot.png"])
    table = pd.read_csv(tmp_path / "out" / "table.tsv", sep="\t")
    assert list(table.columns) == ["sample", "region", "contig", "start", "end", "count", "aligned_bases", "mean_depth"]
    assert len(table) == len(local_cohort.samples) * len(regions)
    first = table.iloc[0]
    assert (first["region"], first["contig"], first["start"], first["end"]) == ("chr1:1001-5000", "chr1", 1000, 5000)
    assert table.iloc[1]["end"] == 150_000  # a whole reference gets its length
    for row in table.itertuples():
        assert row.count == samtools_count(local_cohort.bam(row.sample), row.region)
    parquet = pd.read_parquet(tmp_path / "out" / "table.parquet")
    assert parquet["count"].tolist() == table["count"].tolist()
    assert parquet["mean_depth"].dtype == np.float64 and parquet["count"].dtype == np.int64
    matrix = pd.read_csv(tmp_path / "out" / "matrix.tsv", sep="\t", index_col="sample")
    assert matrix.loc["S2", "chr2"] == samtools_count(local_cohort.bam("S2"), "chr2")
    depth = pd.read_csv(tmp_path / "out" / "depth_matrix.tsv", sep="\t", index_col="sample")
    assert result.aligned_bases is not None
    assert depth.loc["S0", "chr2"] == pytest.approx(result.aligned_bases[0, 1] / 150_000, abs=1e-4)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["samples"] == {"total": 4, "succeeded": 4, "failed": 0}
    assert summary["regions"][1]["count"]["total"] == int(matrix["chr2"].sum())
    assert summary["per_sample"][0]["sum_of_counts"] == int(matrix.loc["S0"].sum())
    cost = summary["cost"]
    assert cost["requests"] == result.io.requests > 0 and cost["queries"] == 12
    assert cost["whole_bam_download"]["bytes"] == sum(b.stat().st_size for b in local_cohort.bams.values())
    assert 0 < cost["fraction_of_whole_bam_download"] < 1
    # a rerun without coverage and without a plot leaves no stale files behind
    write_outputs(run_cohort(local_cohort.samples, regions, show_progress=False), str(tmp_path / "out"), plot=None)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["matrix.tsv", "summary.json", "table.parquet",
                                                                     "table.tsv"]


def test_failed_samples_have_no_rows_and_are_listed() -> None:
    result = synthetic(6, 4, failed=(1, 4))
    outputs = render_outputs(result, plot=None)
    table = pd.read_csv(io.BytesIO(outputs["table"]), sep="\t")
    assert set(table["sample"]) == {"sample0000", "sample0002", "sample0003", "sample0005"}
    assert (table["count"] >= 0).all()
    summary = json.loads(outputs["summary"])
    assert [f["sample"] for f in summary["failed"]] == ["sample0001", "sample0004"]
    assert summary["per_sample"][1]["status"] == "failed" and summary["per_sample"][1]["sum_of_counts"] is None
    assert summary["cost"]["whole_bam_download"]["samples"] == 4


def _pandas_tsv(frame: pd.DataFrame, *, index: bool) -> bytes:
    return frame.to_csv(sep="\t", index=index, float_format="%.4f", na_rep="NA", lineterminator="\n").encode()


@pytest.mark.parametrize("case", ["counts", "coverage and failures", "odd labels and missing ends"])
def test_tables_are_written_without_pandas_as_pandas_would(case: str) -> None:
    """The TSVs are written by the csv module (importing pandas costs more than a small cohort's query):
    byte for byte what ``DataFrame.to_csv`` wrote before, quoting and NA included; the Parquet file
    reads back as the DataFrame :func:`long_table` builds."""
    from dataclasses import replace

    from bams3.cohort import long_table, matrix

    if case == "counts":
        result = synthetic(5, 4)
    elif case == "coverage and failures":
        result = synthetic(30, 7, coverage=True, failed=(2, 5))
    else:
        result = synthetic(4, 3, coverage=True)
        regions = (Region("chr1", 10, None, 'quote"d'), Region("chrX", 0, None, "tab\tname"),
                   Region("chr2", 149_999, 160_000, "past the end"))
        result = replace(result, regions=regions, labels=tuple(str(r.name) for r in regions))
    out = render_outputs(result, plot=None)
    assert out["table"] == _pandas_tsv(long_table(result), index=False)
    assert out["matrix"] == _pandas_tsv(matrix(result), index=True)
    if result.coverage:
        assert out["depth_matrix"] == _pandas_tsv(matrix(result, values="mean_depth"), index=True)
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(out["parquet"])), long_table(result), check_dtype=False)


def test_partials_round_trip_and_merge() -> None:
    parts = [synthetic(3, 5, coverage=True, seed=1), synthetic(2, 5, coverage=True, seed=1, first=3, failed=(1,))]
    back = [CohortResult.from_json(p.to_json(), name=f"part{i}") for i, p in enumerate(parts)]
    for a, b in zip(parts, back):
        assert a.outcomes == b.outcomes and a.regions == b.regions
        assert np.array_equal(a.counts, b.counts)
        assert a.aligned_bases is not None and b.aligned_bases is not None
        assert np.array_equal(a.aligned_bases, b.aligned_bases)
        assert a.io == b.io
    merged = merge_results(back)
    assert [o.sample for o in merged.outcomes] == [f"sample{i:04d}" for i in range(5)]
    assert np.array_equal(merged.counts, np.concatenate([p.counts for p in parts]))
    assert merged.io.requests == parts[0].io.requests + parts[1].io.requests
    assert merged.seconds == 3.0
    with pytest.raises(UsageError, match="more than one"):
        merge_results([back[0], back[0]])
    with pytest.raises(UsageError, match="different regions"):
        merge_results([synthetic(2, 4), synthetic(2, 5, first=2)])
    with pytest.raises(DatasetError, match="part: not a bams3 cohort result"):
        CohortResult.from_json(b'{"format": "other"}', name="part")
    with pytest.raises(DatasetError, match="part: not a valid"):
        CohortResult.from_json(b"{not json", name="part")


def test_merge_fails_samples_of_another_build() -> None:
    """Groups ran as separate jobs each saw one build; the merge compares them all."""
    parts = [synthetic(3, 2), synthetic(1, 2, first=3)]
    other = SampleOutcome("sample0003", "s3://b/c/sample0003.bams3", reference_lengths={"chr1": 1, "chr2": 150_000})
    parts[1] = CohortResult(parts[1].regions, parts[1].labels, (other,), parts[1].counts)
    merged = merge_results(parts)
    assert [o.sample for o in merged.failed] == ["sample0003"]
    assert "reference chr1 is 1 bp here but 200,000 bp in most samples" in str(merged.failed[0].error)
    assert (merged.counts[3] == -1).all()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).size


def _texts(labels: list) -> list[str]:
    return [t.get_text() for t in labels]


def test_heatmap_for_a_few_samples_names_everything() -> None:
    result = synthetic(5, 8)
    fig = cohort_figure(result)
    ax = fig.axes[0]
    assert _texts(ax.get_yticklabels()) == [f"sample{i:04d}" for i in range(5)]
    assert _texts(ax.get_xticklabels()) == [f"gene{j}" for j in range(8)]
    assert ax.get_ylabel() == "sample" and ax.get_xlabel() == "region"
    assert "reads overlapping the region" in fig.axes[1].get_ylabel()  # the colour bar's unit
    assert len(ax.texts) == 40  # every cell written out
    assert "5 samples x 8 regions" in ax.get_title()
    width, height = _png_size(render_outputs(result)["plot"])
    assert 600 < width < 3000 and 300 < height < 2500


def test_distribution_for_a_thousand_samples_stays_readable() -> None:
    result = synthetic(1000, 20, coverage=True, failed=(7,))
    fig = cohort_figure(result)
    ax = fig.axes[0]
    assert _texts(ax.get_xticklabels()) == [f"gene{j}" for j in range(20)]
    assert ax.get_ylabel().startswith("mean depth (x)")
    assert "999 samples x 20 regions (1 failed" in ax.get_title()
    dropout = result.outcomes[int(np.argmin(np.where(result.ok, result.counts[:, 0], 10**9)))].sample
    assert dropout in [t.get_text() for t in ax.texts]  # the sample with no reads in region 0 is named
    width, height = _png_size(render_outputs(result)["plot"])
    assert width < 3000 and height < 1000
    heat = cohort_figure(result, kind="heatmap").axes[0]
    assert 10 <= len(heat.get_yticklabels()) <= 60  # every k-th of 999 sample names
    assert "every 17th of 999 named" in heat.get_ylabel()


def test_plot_when_every_sample_failed() -> None:
    fig = cohort_figure(synthetic(3, 2, failed=(0, 1, 2)))
    assert "No sample succeeded" in fig.axes[0].texts[0].get_text()
