"""Writing a cohort result: every output rendered to bytes first, then put in place.

Rendering (:func:`render_outputs`) is pure: it returns ``{file name: bytes}``, so the command
line can put the files into a local folder or an ``s3://`` prefix through :mod:`bams3.io`
(each object written whole: a local file appears by rename, an S3 object by one PUT, never half
written), and a workflow script can write each to the path Snakemake chose for it.

Files (:data:`OUTPUT_FILES`):

``table.tsv`` / ``table.parquet``  the long table: sample, region, contig, start, end, count
                                   [, aligned_bases, mean_depth]
``matrix.tsv``                     samples x regions read counts
``depth_matrix.tsv``               samples x regions mean depth (with coverage only)
``summary.json``                   totals per region and per sample, failures, cost, timing
``plot.png``                       heatmap or per-region distributions (unless no plot is asked)

pandas is not imported: the TSVs are written by the csv module exactly as ``DataFrame.to_csv``
wrote them (floats to 4 decimals, NA for missing values, minimal quoting) and the Parquet file
by pyarrow from column buffers. Importing pandas took longer (0.3-0.5 s of CPU, ~65 MB) than
rendering every output of a 200-sample cohort.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence

import numpy as np

from ._model import CohortResult
from ._plot import PlotKind, plot_png
from ._tables import long_columns, matrix_values, summary

__all__ = ["OUTPUT_FILES", "render_outputs", "write_outputs"]

#: every file a cohort query can write, keyed by its role; ``summary`` is written last
OUTPUT_FILES: Mapping[str, str] = {
    "table": "table.tsv",
    "parquet": "table.parquet",
    "matrix": "matrix.tsv",
    "depth_matrix": "depth_matrix.tsv",
    "plot": "plot.png",
    "summary": "summary.json",
}
_FLOAT_FORMAT = "%.4f"
_NA = "NA"


def _cell(value: object) -> str:
    """A TSV cell: floats to 4 decimals, missing values (None, NaN) as NA."""
    if value is None:
        return _NA
    if isinstance(value, float | np.floating):
        return _NA if value != value else _FLOAT_FORMAT % value
    return str(value)


def _tsv(header: Sequence[str], columns: Sequence[Sequence[object]]) -> bytes:
    """Tab-separated text, quoted as the csv module (and pandas' ``to_csv``) quote: a field with a
    tab, a quote or a line break is put in double quotes."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    cells = [[_cell(v) for v in (c.tolist() if isinstance(c, np.ndarray) else c)] for c in columns]
    writer.writerows(zip(*cells))
    return out.getvalue().encode("utf-8")


def _matrix_tsv(result: CohortResult, values: str) -> bytes:
    names, data = matrix_values(result, values=values)
    return _tsv(["sample", *result.labels], [names, *data.T])


def _arrow(values: object, kind: str) -> object:
    """One Arrow column built from its buffers: ``pyarrow.array`` would import pandas (to check
    whether the values are pandas objects), which costs more than the whole table."""
    import pyarrow as pa

    if kind == "string":
        encoded = [str(v).encode("utf-8") for v in values]  # type: ignore[attr-defined]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return pa.LargeStringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))
    if kind == "float":  # NaN (the depth of an empty region) is a missing value, as pandas wrote it
        data = np.ascontiguousarray(values, dtype=np.float64)
        valid = ~np.isnan(data)
        arrow_type = pa.float64()
    else:  # int; None is missing
        items = values.tolist() if isinstance(values, np.ndarray) else list(values)  # type: ignore[call-overload]
        valid = np.array([v is not None for v in items], dtype=bool)
        data = np.array([0 if v is None else v for v in items], dtype=np.int64)
        arrow_type = pa.int64()
    missing = int(len(valid) - np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if missing else None
    return pa.Array.from_buffers(arrow_type, len(data), [bitmap, pa.py_buffer(data)], null_count=missing)


_ARROW_KINDS = {"sample": "string", "region": "string", "contig": "string", "start": "int", "end": "int",
                "count": "int", "aligned_bases": "int", "mean_depth": "float"}


def _parquet(columns: Mapping[str, object]) -> bytes:
    """The long table as Parquet, written by pyarrow without pandas (importing pandas takes
    longer than a small cohort's whole query)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([_arrow(v, _ARROW_KINDS[k]) for k, v in columns.items()], names=list(columns))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def render_outputs(result: CohortResult, *, plot: PlotKind | None = "auto") -> dict[str, bytes]:
    """Every output of ``result`` as bytes, keyed by role (see :data:`OUTPUT_FILES`).

    ``depth_matrix`` is present only when coverage was measured, ``plot`` unless ``plot`` is None.
    """
    columns = long_columns(result)
    out = {
        "table": _tsv(list(columns), list(columns.values())),
        "parquet": _parquet(columns),
        "matrix": _matrix_tsv(result, "count"),
    }
    if result.coverage:
        out["depth_matrix"] = _matrix_tsv(result, "mean_depth")
    if plot is not None:
        out["plot"] = plot_png(result, kind=plot)
    out["summary"] = (json.dumps(summary(result), indent=2, allow_nan=False) + "\n").encode("utf-8")
    return out


def write_outputs(result: CohortResult, destination: str, *, plot: PlotKind | None = "auto") -> dict[str, str]:
    """Write every output into the folder or prefix ``destination``; return ``{role: url}``.

    ``summary.json`` goes last, so its presence says the others are complete. A file of a
    previous run that this one does not produce (``depth_matrix.tsv`` without coverage, the plot
    without one) is deleted, so that no stale result sits next to fresh ones.
    """
    from ..io import open_store

    store = open_store(destination)
    rendered = render_outputs(result, plot=plot)
    written = {}
    for role, name in OUTPUT_FILES.items():
        if role in rendered:
            store.put(name, rendered[role])
            written[role] = store.key_url(name)
        else:
            store.delete(name)
    return written
