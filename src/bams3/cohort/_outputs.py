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
"""
from __future__ import annotations

import io
import json
from collections.abc import Mapping

from ._model import CohortResult
from ._plot import PlotKind, plot_png
from ._tables import long_table, matrix, summary

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


def _tsv(frame: object, *, index: bool) -> bytes:
    return frame.to_csv(sep="\t", index=index, float_format=_FLOAT_FORMAT, na_rep="NA",  # type: ignore[attr-defined]
                        lineterminator="\n").encode("utf-8")


def render_outputs(result: CohortResult, *, plot: PlotKind | None = "auto") -> dict[str, bytes]:
    """Every output of ``result`` as bytes, keyed by role (see :data:`OUTPUT_FILES`).

    ``depth_matrix`` is present only when coverage was measured, ``plot`` unless ``plot`` is None.
    """
    table = long_table(result)
    parquet = io.BytesIO()
    table.to_parquet(parquet, index=False)
    out = {
        "table": _tsv(table, index=False),
        "parquet": parquet.getvalue(),
        "matrix": _tsv(matrix(result), index=True),
    }
    if result.coverage:
        out["depth_matrix"] = _tsv(matrix(result, values="mean_depth"), index=True)
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
