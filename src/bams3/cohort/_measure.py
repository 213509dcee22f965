"""One sample's row of the cohort: every region counted with each chunk footer and frame fetched once.

A count is what ``samtools view -c BAM REGION`` prints, found as
:meth:`bams3.dataset.Dataset.count` finds it: chunks whose records all start inside the region
are counted from the metadata, frames whose records all do from the chunk's footer (its frame
table), and only the frames at the region's edges are fetched and their records tested with
htslib's overlap rule ``pos < end and end > beg``.

A cohort's regions often overlap or share chunks (a gene panel's exons, tiled windows, nested
regions). Counting them one by one would fetch a shared footer or edge frame once per region; a
:class:`SampleWork` plans all of a sample's regions first and fetches each footer, and each frame
any region needs, once, then counts every region that needs a frame from the same decoded
positions. Its work comes in tasks the cohort's thread pool runs:

1. :meth:`SampleWork.chunk_task` per chunk that some region needs beyond the metadata: one GET of
   the footer; counts the frames wholly inside each region and lists the frames to fetch;
2. :meth:`SampleWork.fetch_task` per group of frames (consecutive, bounded bytes): fetched once
   (format 2: the blocks' core streams only), counted for every region that needs them.

Tasks only read the plan and return what to add (:class:`Tally`); the scheduler, on one thread,
adds it, so no lock is needed.

Aligned bases (``coverage``) need every overlapping record, not only the edges': the reference
positions of ``[start, end)`` covered by each alignment that ``samtools depth`` counts by default
(not unmapped, secondary, QC-failed or duplicate; supplementary alignments count), deletions
included as ``samtools depth -J`` counts them, cut at the region's edges and at the reference's
end. So the aligned bases of a region equal the sum of ``samtools depth -a -J -r REGION`` over its
positions, and divided by the region's length they are its mean depth. (One difference: a
reference skip, CIGAR ``N`` in spliced RNA alignments, counts as covered here and not in
``samtools depth``; DNA alignments have none.) Positions, ends and flags suffice, so format 2
datasets are read from their core streams for coverage too.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..bam import _layout as L

if TYPE_CHECKING:
    from ..dataset import Dataset
    from ..regions import Region

__all__ = ["DEPTH_EXCLUDED_FLAGS", "SampleWork", "Tally", "FetchTask"]

#: records ``samtools depth`` leaves out by default (its UNMAP,SECONDARY,QCFAIL,DUP filter)
DEPTH_EXCLUDED_FLAGS = L.FLAG_UNMAPPED | L.FLAG_SECONDARY | L.FLAG_QC_FAIL | L.FLAG_DUPLICATE


@dataclass(frozen=True, slots=True)
class FetchTask:
    """Frames of one chunk fetched together, and for each, the regions (indexes) that need it."""

    chunk: int
    frames: np.ndarray
    regions: tuple[tuple[int, ...], ...]


@dataclass(slots=True)
class Tally:
    """What a task found: reads (and aligned bases) to add per region, and further tasks."""

    counts: dict[int, int] = field(default_factory=dict)
    bases: dict[int, int] = field(default_factory=dict)
    fetches: list[FetchTask] = field(default_factory=list)

    def add(self, j: int, count: int, bases: int = 0) -> None:
        if count:
            self.counts[j] = self.counts.get(j, 0) + count
        if bases:
            self.bases[j] = self.bases.get(j, 0) + bases


class SampleWork:
    """The plan and the running totals of one sample over every region (see the module docstring).

    Parameters
    ----------
    dataset
        The open dataset (every region's reference checked).
    regions
        The cohort's regions.
    coverage
        Also measure aligned bases (reads every frame that can overlap a region).
    reference_lengths
        Length of each region's reference in this dataset: depth is counted up to it.
    """

    def __init__(self, dataset: Dataset, regions: Sequence[Region], *, coverage: bool,
                 reference_lengths: dict[str, int]) -> None:
        self.dataset = dataset
        self.coverage = coverage
        m = len(regions)
        self.counts = np.zeros(m, dtype=np.int64)
        self.bases = np.zeros(m, dtype=np.int64) if coverage else None
        #: the overlap test's bounds per region (end past any position for a region without one)
        self.beg: list[int] = []
        self.end: list[int] = []
        #: where depth stops per region: its end, cut at the reference's end
        self.depth_end: list[int] = []
        #: chunks whose footer some region needs, and which regions
        self.by_chunk: dict[int, list[int]] = {}
        chunks = dataset.metadata.chunks
        for j, region in enumerate(regions):
            plan = dataset.plan(region)
            self.beg.append(plan.beg)
            self.end.append(plan.end)
            length = reference_lengths[region.contig]
            self.depth_end.append(length if region.end is None else min(region.end, length))
            if coverage:
                edge = plan.chunks
            else:
                self.counts[j] += int(chunks.n_records[plan.inside].sum())
                edge = np.setdiff1d(plan.chunks, plan.inside)
            for chunk in edge.tolist():
                self.by_chunk.setdefault(chunk, []).append(j)

    @property
    def chunks(self) -> list[int]:
        """The chunks to run :meth:`chunk_task` for, in file order."""
        return sorted(self.by_chunk)

    def add(self, tally: Tally) -> None:
        """Add a task's result to the totals (on the scheduler's thread)."""
        for j, n in tally.counts.items():
            self.counts[j] += n
        if self.bases is not None:
            for j, n in tally.bases.items():
                self.bases[j] += n

    # ------------------------------------------------------------------ tasks (worker threads)

    def chunk_task(self, chunk: int) -> Tally:
        """Fetch ``chunk``'s footer; count frames wholly inside regions; list the frames to fetch."""
        table = self.dataset.footer(chunk)
        tally = Tally()
        need: dict[int, list[int]] = {}
        for j in self.by_chunk[chunk]:
            beg, end = self.beg[j], self.end[j]
            frames = table.overlapping(beg, end)
            if not self.coverage:
                whole = table.inside(beg, end)[frames]
                tally.add(j, int(table.n_records[frames[whole]].sum()))
                frames = frames[~whole]
            for frame in frames.tolist():
                need.setdefault(frame, []).append(j)
        if need:
            frames = np.array(sorted(need), dtype=np.int64)
            for group in self.dataset.frame_groups(chunk, frames):
                tally.fetches.append(FetchTask(chunk, group, tuple(tuple(need[f]) for f in group.tolist())))
        return tally

    def fetch_task(self, task: FetchTask) -> Tally:
        """Fetch a group of frames once and count (and measure) every region that needs each."""
        tally = Tally()
        positions = self.dataset.frame_positions(task.chunk, task.frames)
        for (pos, end, flag), regions in zip(positions, task.regions):
            if self.coverage:
                used = (flag & DEPTH_EXCLUDED_FLAGS) == 0
                pos64 = pos.astype(np.int64)
                end64 = end.astype(np.int64)
            for j in regions:
                keep = (pos < self.end[j]) & (end > self.beg[j])
                n = int(np.count_nonzero(keep))
                bases = 0
                if self.coverage and n:
                    take = keep & used
                    starts = np.maximum(pos64[take], self.beg[j])
                    ends = np.minimum(end64[take], self.depth_end[j])
                    bases = int(np.clip(ends - starts, 0, None).sum())
                tally.add(j, n, bases)
        return tally
