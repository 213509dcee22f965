"""A cohort result as tables and a summary: the long table, the wide matrix, ``summary.json``.

Coordinates in the tables are BED's (``start`` 0-based, ``end`` exclusive) so that they join
with the BED files users bring; the ``region`` column is the label (the BED name, or the region
in samtools' 1-based syntax), which also heads the matrix columns. Failed samples have no rows:
they are listed in the summary with their error.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ._model import CohortResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["long_columns", "long_table", "matrix", "matrix_values", "summary", "SUMMARY_FORMAT"]

SUMMARY_FORMAT = "bams3.cohort.summary"
COORDINATES = ("start and end are 0-based with end exclusive (BED); region is the BED name or the region "
               "in samtools syntax (1-based, inclusive)")


def long_columns(result: CohortResult) -> dict[str, Any]:
    """The long table as plain columns (no pandas): one entry per (succeeded sample, region).

    ``sample``, ``region``, ``contig``: lists of str; ``start``, ``count`` [, ``aligned_bases``]:
    ``int64`` arrays; ``end``: a list of int or None (a region without an end on a reference no
    sample knew); [``mean_depth``: ``float64`` array, NaN for an empty region].
    """
    ok = result.ok
    names = [o.sample for o in result.outcomes if o.ok]
    n, m = len(names), len(result.regions)
    ends = result.region_ends()
    columns: dict[str, Any] = {
        "sample": [name for name in names for _ in range(m)],
        "region": list(result.labels) * n,
        "contig": [r.contig for r in result.regions] * n,
        "start": np.tile(np.array([r.start for r in result.regions], dtype=np.int64), n),
        "end": ends * n,
        "count": result.counts[ok].reshape(-1),
    }
    if result.aligned_bases is not None:
        depth = result.mean_depth()
        assert depth is not None
        columns["aligned_bases"] = result.aligned_bases[ok].reshape(-1)
        columns["mean_depth"] = depth[ok].reshape(-1)
    return columns


def matrix_values(result: CohortResult, *, values: str = "count") -> tuple[list[str], np.ndarray]:
    """(succeeded sample names, their rows of ``count`` or ``mean_depth`` by region) (no pandas)."""
    ok = result.ok
    if values == "count":
        data: np.ndarray = result.counts[ok]
    elif values == "mean_depth":
        depth = result.mean_depth()
        if depth is None:
            raise ValueError("mean depth was not measured (coverage off)")
        data = depth[ok]
    else:
        raise ValueError(f"unknown matrix values {values!r}")
    return [o.sample for o in result.outcomes if o.ok], data


def long_table(result: CohortResult) -> pd.DataFrame:
    """One row per (succeeded sample, region): sample, region, contig, start, end, count
    [, aligned_bases, mean_depth], as a pandas DataFrame (:func:`long_columns` without pandas)."""
    import pandas as pd

    columns = long_columns(result)
    for name in ("sample", "region", "contig"):
        columns[name] = pd.Series(columns[name], dtype="string")
    columns["end"] = pd.array(columns["end"], dtype="Int64")
    return pd.DataFrame(columns)


def matrix(result: CohortResult, *, values: str = "count") -> pd.DataFrame:
    """Samples (rows, succeeded only) x regions (columns, by label): ``count`` or ``mean_depth``."""
    import pandas as pd

    names, data = matrix_values(result, values=values)
    return pd.DataFrame(data, columns=list(result.labels), index=pd.Index(names, name="sample"))


def _stats(values: np.ndarray) -> dict[str, float | int | None]:
    """Total, mean, median, min and max over samples (None when no sample has a finite value)."""
    if not np.issubdtype(values.dtype, np.integer):
        values = values[np.isfinite(values)]
    if len(values) == 0:
        return {"total": 0, "mean": None, "median": None, "min": None, "max": None}
    as_int = np.issubdtype(values.dtype, np.integer)

    def cast(value: object) -> int | float:
        return int(value) if as_int else round(float(value), 4)  # type: ignore[arg-type]

    return {
        "total": cast(values.sum()),
        "mean": round(float(values.mean()), 4),
        "median": round(float(np.median(values)), 4),
        "min": cast(values.min()),
        "max": cast(values.max()),
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def summary(result: CohortResult) -> dict[str, Any]:
    """The ``summary.json`` document: totals per region and per sample, failures, cost, timing."""
    ok = result.ok
    n, m = len(result.outcomes), len(result.regions)
    counts = result.counts[ok]
    depth = result.mean_depth()
    lengths = result.region_lengths()
    ends = result.region_ends()
    regions = []
    for j, (region, label) in enumerate(zip(result.regions, result.labels)):
        entry: dict[str, Any] = {
            "region": label, "contig": region.contig, "start": region.start, "end": ends[j],
            "length": int(lengths[j]), "count": _stats(counts[:, j]),
        }
        if depth is not None and result.aligned_bases is not None:
            entry["aligned_bases"] = _stats(result.aligned_bases[ok][:, j])
            entry["mean_depth"] = {k: v for k, v in _stats(depth[ok][:, j]).items() if k != "total"}
        regions.append(entry)
    per_sample = []
    for i, outcome in enumerate(result.outcomes):
        entry = {
            "sample": outcome.sample,
            "dataset": outcome.url,
            "status": "ok" if outcome.ok else "failed",
            "error": outcome.error,
            "sum_of_counts": int(result.counts[i].sum()) if outcome.ok else None,
            "reads_in_dataset": outcome.reads,
            "mapped_reads_in_dataset": outcome.mapped_reads,
            "source_bam": {"url": outcome.source_url, "size": outcome.source_size},
            "dataset_bytes": outcome.dataset_bytes,
        }
        if depth is not None:
            entry["mean_depth_over_regions"] = (round(float(np.nanmean(depth[i])), 4)
                                                if outcome.ok and not np.all(np.isnan(depth[i])) else None)
        per_sample.append(entry)
    sizes = [o.source_size for o in result.outcomes if o.source_size is not None]
    whole = int(sum(sizes))
    cells = n * m
    io = result.io
    return {
        "format": SUMMARY_FORMAT,
        "version": 1,
        "created_by": f"bams3 {__version__}",
        "coordinates": COORDINATES,
        "measures": ["count", "aligned_bases", "mean_depth"] if result.coverage else ["count"],
        "samples": {"total": n, "succeeded": int(ok.sum()), "failed": int(n - ok.sum())},
        "failed": [{"sample": o.sample, "dataset": o.url, "error": o.error} for o in result.outcomes if not o.ok],
        "regions": regions,
        "per_sample": per_sample,
        "cost": {
            "requests": io.requests,
            "bytes_transferred": io.bytes_in + io.bytes_out,
            "bytes_in": io.bytes_in,
            "retries": io.retries,
            "queries": cells,
            "requests_per_query": _round(_ratio(io.requests, cells)),
            "bytes_per_query": _round(_ratio(io.bytes_in, cells)),
            "by_operation": {k: dict(v) for k, v in io.by_operation.items()},
            "whole_bam_download": {
                "note": "downloading the source BAM of every sample whose dataset gives its size",
                "samples": len(sizes),
                "bytes": whole,
            },
            "fraction_of_whole_bam_download": _ratio(io.bytes_in, whole),
            "datasets_bytes": int(sum(o.dataset_bytes or 0 for o in result.outcomes)),
        },
        # wall time of the query; after a workflow's merge, summed over its group jobs
        "timing": {"seconds": round(result.seconds, 3), "jobs": result.jobs},
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
