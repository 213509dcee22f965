"""The QC figures of the Snakemake report, drawn with matplotlib's object API on the Agg canvas.

No ``pyplot``: figures are plain :class:`matplotlib.figure.Figure` objects saved through the
Agg renderer, so drawing needs no display, touches no global backend state and is safe in
worker threads. matplotlib is imported when a figure is first drawn, not with the package.

Every figure names the sample in its title, labels both axes with their units, and names
the references along genome axes, so that a PNG read on its own (in a report, a slide or a
ticket) says what it shows.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._profile import GenomeProfile

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_reads_along_genome",
    "plot_mapq_along_genome",
    "plot_mapq_histogram",
    "plot_read_fractions",
    "save_figure",
    "read_fractions",
]

DPI = 100
#: references shorter than this share of the genome are drawn but not named (decoys, alts, chrM)
LABEL_MIN_SHARE = 0.005
#: most reference names written along a genome axis
MAX_LABELS = 40
_BAR = "#3b6ea8"
_LINE = "#1f4e79"
_BAND = "#eef2f7"


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as PNG (or SVG, by the suffix) next to a temporary name, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=DPI)
    tmp.replace(path)
    return path


def _human(n: float) -> str:
    """1234567 -> '1.23 M': short counts for bar labels."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f}"


def _bases(n: int) -> str:
    for size, unit in ((10**9, "Gbp"), (10**6, "Mbp"), (10**3, "kbp")):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bp"


def _genome_axis(ax: Axes, profile: GenomeProfile) -> None:
    """Shade every other reference, tick positions in Mbp below and name references above."""
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    total = max(profile.genome_length, 1)
    offsets = profile.offsets.astype(np.float64)
    lengths = np.array([length for _, length in profile.references], dtype=np.float64)
    # Long references get a name, a boundary line and every other one a band; runs of short ones
    # (alts, decoys, unplaced contigs: thousands in some builds) are drawn as one group, named
    # with their count when the group is long enough to hold a label.
    groups: list[tuple[float, float, str]] = []  # (start, length, label)
    run: list[int] = []

    def close_run() -> None:
        if run:
            start, width = offsets[run[0]], float(lengths[run].sum())
            name = profile.references[run[0]][0] if len(run) == 1 else f"{len(run):,} contigs"
            groups.append((start, width, name if width / total >= LABEL_MIN_SHARE else ""))
            run.clear()

    for k, ((name, length), offset) in enumerate(zip(profile.references, offsets)):
        if length / total >= LABEL_MIN_SHARE:
            close_run()
            groups.append((offset, float(length), name))
        else:
            run.append(k)
    close_run()
    bands = [[(x, 0), (x + w, 0), (x + w, 1), (x, 1)] for x, w, _ in groups[1::2]]
    ax.add_collection(PolyCollection(bands, facecolors=_BAND, edgecolors="none", zorder=0,
                                     transform=ax.get_xaxis_transform()))
    if len(groups) > 1:
        ax.vlines([x for x, _, _ in groups[1:]], 0, 1, colors="#b0b8c4", linewidth=0.6, zorder=1,
                  transform=ax.get_xaxis_transform())
    labelled = [(x + w / 2, name, w) for x, w, name in groups if name]
    if len(labelled) > MAX_LABELS:  # keep the longest references' names
        labelled = sorted(sorted(labelled, key=lambda item: -item[2])[:MAX_LABELS])
    ax.set_xlim(0, total)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1e6:g}"))
    ax.set_xlabel("Position along the references, laid end to end (Mbp)")
    top = ax.secondary_xaxis("top")
    top.set_xticks([x for x, _, _ in labelled], labels=[name for _, name, _ in labelled],
                   rotation=90 if len(labelled) > 8 else 0, fontsize=9)
    top.tick_params(length=0)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _edges(profile: GenomeProfile) -> np.ndarray:
    return np.concatenate((profile.genome_start(), [profile.genome_length])).astype(np.float64)


def plot_reads_along_genome(profile: GenomeProfile, *, sample: str, chunk_size: int) -> Figure:
    """Read density (reads per kbp) in windows along every reference, from the chunks' spans."""
    figure = _figure(12, 4.2)
    ax = figure.add_subplot()
    _genome_axis(ax, profile)
    if len(profile.reads):
        ax.stairs(profile.reads_per_kbp(), _edges(profile), fill=True, color=_BAR, alpha=0.85, zorder=2)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Reads per kbp")
    placed = int(round(profile.reads.sum()))
    note = f"; {profile.unplaced_reads:,} unplaced reads not shown" if profile.unplaced_reads else ""
    ax.set_title(f"{sample}: reads along the genome ({placed:,} placed reads in {chunk_size:,}-read chunks, "
                 f"{_bases(profile.window)} windows{note})", fontsize=11, loc="left")
    return figure


def plot_mapq_along_genome(profile: GenomeProfile, *, sample: str) -> Figure:
    """Mean MAPQ of the mapped reads in windows along every reference."""
    figure = _figure(12, 4.2)
    ax = figure.add_subplot()
    _genome_axis(ax, profile)
    if len(profile.reads):
        ax.stairs(profile.mean_mapq(), _edges(profile), color=_LINE, linewidth=1.4, zorder=2, baseline=None)
    top = np.nanmax(profile.mean_mapq()) if np.isfinite(profile.mean_mapq()).any() else 60
    ax.set_ylim(0, max(60.0, float(top)) * 1.05)
    ax.set_ylabel("Mean MAPQ (Phred)")
    ax.set_title(f"{sample}: mean mapping quality along the genome ({_bases(profile.window)} windows; "
                 "MAPQ 255 = unavailable, excluded)", fontsize=11, loc="left")
    return figure


def plot_mapq_histogram(histogram: Mapping[str, int], *, sample: str) -> Figure:
    """Mapped reads per MAPQ bin, as a share of the mapped reads, counts written on the bars."""
    labels = list(histogram)
    counts = np.array([histogram[label] for label in labels], dtype=np.float64)
    total = counts.sum()
    shares = 100 * counts / total if total else counts
    figure = _figure(8, 4.4)
    ax = figure.add_subplot()
    bars = ax.bar(range(len(labels)), shares, color=_BAR, zorder=2)
    ax.bar_label(bars, labels=[_human(c) for c in counts], padding=2, fontsize=8)
    ax.set_xticks(range(len(labels)), labels=[("255\n(unavailable)" if label == "255" else label)
                                              for label in labels])
    ax.set_xlabel("MAPQ (Phred-scaled mapping quality)")
    ax.set_ylabel("Mapped reads (%)")
    ax.set_ylim(0, max(shares.max() * 1.15, 1) if len(shares) else 1)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(f"{sample}: MAPQ of the {int(total):,} mapped reads", fontsize=11, loc="left")
    return figure


def read_fractions(flagstat: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, int, int]]:
    """``(label, count, denominator)`` rows from a ``samtools flagstat -O json`` document.

    QC-passed and QC-failed reads are added up; properly paired is a share of the reads
    paired in sequencing, every other row a share of all reads.
    """
    passed, failed = flagstat["QC-passed reads"], flagstat["QC-failed reads"]

    def both(key: str) -> int:
        return int(passed[key]) + int(failed[key])

    total, paired = both("total"), both("paired in sequencing")
    return [
        ("Mapped", both("mapped"), total),
        ("Unmapped", total - both("mapped"), total),
        ("Duplicates", both("duplicates"), total),
        ("Properly paired (of paired)", both("properly paired"), paired),
        ("Singletons", both("singletons"), total),
        ("Secondary", both("secondary"), total),
        ("Supplementary", both("supplementary"), total),
        ("QC-failed", int(failed["total"]), total),
    ]


def plot_read_fractions(flagstat: Mapping[str, Mapping[str, Any]], *, sample: str) -> Figure:
    """Mapped, unmapped, duplicate (and other flag) fractions as horizontal bars."""
    rows = read_fractions(flagstat)
    shares = [100.0 * count / denominator if denominator else 0.0 for _, count, denominator in rows]
    figure = _figure(8, 4.4)
    ax = figure.add_subplot()
    positions = np.arange(len(rows))[::-1]
    colors = ["#2e7d32", "#c62828", "#ef6c00"] + [_BAR] * (len(rows) - 3)
    bars = ax.barh(positions, shares, color=colors, zorder=2)
    ax.bar_label(bars, labels=[f"{s:.2f} % ({c:,})" for s, (_, c, _) in zip(shares, rows)], padding=3, fontsize=8)
    ax.set_yticks(positions, labels=[label for label, _, _ in rows])
    ax.set_xlim(0, 118)
    ax.set_xticks(range(0, 101, 20))
    total = rows[0][2]
    ax.set_xlabel(f"Share of all {total:,} reads (%)")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(f"{sample}: read fractions (samtools flagstat categories, QC-passed + QC-failed)", fontsize=11,
                 loc="left")
    return figure


