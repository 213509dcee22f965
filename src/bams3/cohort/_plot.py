"""The cohort plot: a samples x regions heatmap, or per-region distributions over samples.

What a person looks at first is "which samples or regions are off". For a few dozen samples a
heatmap shows every cell (values written in the cells when they fit); for hundreds or thousands
a heatmap's rows are thinner than a pixel of label, so ``auto`` switches to one distribution per
region (a box over all samples, every sample a dot, the lowest outlier named). Both put sample and
region names on the axes (every k-th one when there are more than fit), state the unit, and switch
to a log scale when values span more than two orders of magnitude.

The values are mean depth when it was measured (comparable across regions of different lengths),
else read counts. Rendering uses matplotlib's Agg backend: no display needed.
"""
from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from ._model import CohortResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PlotKind", "PLOT_KINDS", "cohort_figure", "plot_png", "HEATMAP_MAX_SAMPLES"]

PlotKind = Literal["auto", "heatmap", "distribution"]
PLOT_KINDS: tuple[str, ...] = ("auto", "heatmap", "distribution")
#: ``auto`` draws a heatmap up to this many samples, distributions above
HEATMAP_MAX_SAMPLES = 50
#: most tick labels drawn on one axis (every k-th name beyond)
MAX_TICK_LABELS = 60
#: cells annotated with their value up to this many
MAX_ANNOTATED_CELLS = 160
#: samples drawn as one coloured dot each, with a legend, in the distribution plot
MAX_LEGEND_SAMPLES = 12
_LOG_SPAN = 100.0
_DPI = 110


def _values(result: CohortResult) -> tuple[np.ndarray, str, bool]:
    """(samples x regions values of the succeeded samples, axis label, is_depth)."""
    ok = result.ok
    depth = result.mean_depth()
    if depth is not None:
        return depth[ok], "mean depth (x)", True
    return result.counts[ok].astype(np.float64), "reads overlapping the region", False


def _wide(values: np.ndarray) -> bool:
    """Values spanning more than two orders of magnitude (worth a log scale)."""
    positive = values[np.isfinite(values) & (values > 0)]
    return len(positive) > 1 and positive.max() / positive.min() > _LOG_SPAN


def _tick_positions(n: int) -> np.ndarray:
    return np.arange(0, n, max(1, math.ceil(n / MAX_TICK_LABELS)))


def _title(result: CohortResult, what: str) -> str:
    n_ok = int(result.ok.sum())
    text = f"{what}: {n_ok} sample{'s' * (n_ok != 1)} x {len(result.regions)} region{'s' * (len(result.regions) != 1)}"
    failed = len(result.failed)
    if failed:
        text += f" ({failed} failed, see summary.json)"
    return text


def _label_regions(ax: Axes, labels: tuple[str, ...]) -> None:
    ticks = _tick_positions(len(labels))
    ax.set_xticks(ticks)
    ax.set_xticklabels([labels[t] for t in ticks], rotation=60, ha="right", fontsize=8 if len(ticks) <= 30 else 6)
    suffix = "" if len(ticks) == len(labels) else f" (every {ticks[1] - ticks[0]}th of {len(labels)} named)"
    ax.set_xlabel("region" + suffix)


def _heatmap(fig: Figure, result: CohortResult) -> None:
    from matplotlib import colormaps, colors

    values, unit, is_depth = _values(result)
    names = [o.sample for o in result.outcomes if o.ok]
    ax = fig.add_subplot()
    cmap = colormaps["viridis"].with_extremes(bad="#d9d9d9")
    log = _wide(values)
    if log:
        shown = np.ma.masked_where(~(values > 0), values)
        positive = values[values > 0]
        norm: colors.Normalize = colors.LogNorm(vmin=positive.min(), vmax=positive.max())
        unit_text = f"{unit}, log scale (grey: 0)"
    else:
        shown = np.ma.masked_invalid(values)
        finite = values[np.isfinite(values)]
        norm = colors.Normalize(vmin=0, vmax=max(float(finite.max()) if finite.size else 1.0, 1e-9))
        unit_text = unit
    # one quad per cell, drawn as vectors: an image would be resampled to the figure's pixels in
    # float64 RGBA (over 100 MB for 50 samples), a mesh costs what its cells do
    n, m = values.shape
    image = ax.pcolormesh(np.arange(m + 1) - 0.5, np.arange(n + 1) - 0.5, shown, cmap=cmap, norm=norm)
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(n - 0.5, -0.5)  # first sample on top, as an image would put it
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label(unit_text)
    _label_regions(ax, result.labels)
    rows = _tick_positions(len(names))
    ax.set_yticks(rows)
    ax.set_yticklabels([names[r] for r in rows], fontsize=8 if len(rows) <= 30 else 6)
    suffix = "" if len(rows) == len(names) else f" (every {rows[1] - rows[0]}th of {len(names)} named)"
    ax.set_ylabel("sample" + suffix)
    if values.size <= MAX_ANNOTATED_CELLS:
        for (i, j), value in np.ndenumerate(values):
            if not np.isfinite(value):
                continue
            text = f"{value:.1f}" if is_depth else f"{int(value):,}"
            # dark text on light cells (the top of viridis, and the grey of zeros on a log scale)
            light = (log and value <= 0) or float(norm(value)) > 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="black" if light else "white")
    ax.set_title(_title(result, "Mean depth per region" if is_depth else "Reads per region"))


def _distribution(fig: Figure, result: CohortResult) -> None:
    values, unit, is_depth = _values(result)
    names = [o.sample for o in result.outcomes if o.ok]
    n, m = values.shape
    ax = fig.add_subplot()
    positions = np.arange(m)
    rng = np.random.default_rng(0)  # fixed jitter: the same result draws the same picture
    if n <= MAX_LEGEND_SAMPLES:
        for i, name in enumerate(names):
            offset = (i - (n - 1) / 2) * min(0.6 / max(n, 1), 0.08)
            ax.plot(positions + offset, values[i], "o", ms=5, label=name, alpha=0.85)
        ax.legend(title="sample", fontsize=7, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        columns = [v[np.isfinite(v)] for v in values.T]
        ax.boxplot(columns, positions=positions, widths=0.6, showfliers=False, manage_ticks=False,
                   medianprops={"color": "black"})
        jitter = rng.uniform(-0.22, 0.22, size=values.shape)
        alpha = float(np.clip(30.0 / n, 0.05, 0.6))
        ax.scatter((positions[None, :] + jitter).ravel(), values.ravel(), s=6, alpha=alpha, color="tab:blue",
                   linewidths=0)
        if m <= 40:
            _name_low_outliers(ax, values, names)
    if _wide(values):
        ax.set_yscale("symlog", linthresh=0.1 if is_depth else 1.0)
        ax.set_ylabel(f"{unit} (log scale)")
    else:
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
    ax.set_xlim(-0.7, m - 0.3)
    _label_regions(ax, result.labels)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(_title(result, "Mean depth per region" if is_depth else "Reads per region"))


def _name_low_outliers(ax: Axes, values: np.ndarray, names: list[str]) -> None:
    """Mark and name the lowest sample of each region when it is a dropout: below half the
    cohort's median and below Q1 - 1.5 IQR (the first alone flags noise in tight columns, the
    second alone every low tail)."""
    for j in range(values.shape[1]):
        column = values[:, j]
        finite = np.isfinite(column)
        if finite.sum() < 4:
            continue
        q1, median, q3 = np.percentile(column[finite], [25, 50, 75])
        low = int(np.nanargmin(column))
        if column[low] < min(q1 - 1.5 * (q3 - q1), 0.5 * median):
            ax.plot([j], [column[low]], "o", ms=4, color="tab:red")
            ax.annotate(names[low], (j, column[low]), xytext=(5, -2), textcoords="offset points", fontsize=6,
                        color="tab:red")


def cohort_figure(result: CohortResult, *, kind: PlotKind = "auto") -> Figure:
    """The cohort plot as a matplotlib figure (not attached to any display)."""
    from matplotlib.figure import Figure

    if kind not in PLOT_KINDS:
        raise ValueError(f"unknown plot kind {kind!r} (use {', '.join(PLOT_KINDS)})")
    n_ok, m = int(result.ok.sum()), len(result.regions)
    if kind == "auto":
        kind = "heatmap" if n_ok <= HEATMAP_MAX_SAMPLES else "distribution"
    width = float(np.clip(5.0 + 0.42 * m, 7.0, 24.0))
    if n_ok == 0:
        fig = Figure(figsize=(7.0, 3.0), dpi=_DPI)
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, f"No sample succeeded ({len(result.outcomes)} failed: see summary.json)",
                ha="center", va="center")
        return fig
    if kind == "heatmap":
        height = float(np.clip(2.5 + 0.26 * n_ok, 4.0, 18.0))
        fig = Figure(figsize=(width + 1.5, height), dpi=_DPI, layout="constrained")
        _heatmap(fig, result)
    else:
        extra = 2.0 if n_ok <= MAX_LEGEND_SAMPLES else 0.0
        fig = Figure(figsize=(width + extra, 6.0), dpi=_DPI, layout="constrained")
        _distribution(fig, result)
    return fig


def plot_png(result: CohortResult, *, kind: PlotKind = "auto") -> bytes:
    """The cohort plot as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = cohort_figure(result, kind=kind)
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
