"""What one (dataset, region) cell of the cohort holds: a read count, and optionally aligned bases.

The count is :meth:`bams3.dataset.Dataset.count`: what ``samtools view -c BAM REGION`` prints,
with the chunks and frames whose records all start inside the region counted from metadata
(no chunk GET for them).

Aligned bases need the records: they are the reference positions of ``[start, end)`` covered
by each overlapping alignment that ``samtools depth`` counts by default (not unmapped,
secondary, QC-failed or duplicate; supplementary alignments count), deletions included as
``samtools depth -J`` counts them, cut at the region's edges and at the reference's end. So the
aligned bases of a region equal the sum of ``samtools depth -a -J -r REGION`` over its
positions, and divided by the region's length they are its mean depth. (One difference: a
reference skip, CIGAR ``N`` in spliced RNA alignments, counts as covered here and not in
``samtools depth``; DNA alignments have none.)
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..bam import _layout as L

if TYPE_CHECKING:
    from ..dataset import Dataset
    from ..regions import Region

__all__ = ["DEPTH_EXCLUDED_FLAGS", "measure"]

#: records ``samtools depth`` leaves out by default (its UNMAP,SECONDARY,QCFAIL,DUP filter)
DEPTH_EXCLUDED_FLAGS = L.FLAG_UNMAPPED | L.FLAG_SECONDARY | L.FLAG_QC_FAIL | L.FLAG_DUPLICATE


def measure(dataset: Dataset, region: Region, *, coverage: bool, reference_length: int) -> tuple[int, int]:
    """``(count, aligned_bases)`` of ``region`` in ``dataset`` (aligned bases 0 without ``coverage``).

    Parameters
    ----------
    dataset
        The open dataset.
    region
        A region whose reference the dataset has (checked by the caller when it opened).
    coverage
        Also measure aligned bases (fetches every frame that can overlap the region).
    reference_length
        Length of the region's reference: depth is counted up to it, as ``samtools depth``.
    """
    if not coverage:
        return dataset.count(region), 0
    beg = region.start
    end = reference_length if region.end is None else min(region.end, reference_length)
    count = 0
    bases = 0
    for batch in dataset.query(region):
        records = batch.records
        count += len(records)
        used = records[(records["flag"] & DEPTH_EXCLUDED_FLAGS) == 0]
        if len(used):
            starts = np.maximum(used["pos"].astype(np.int64), beg)
            ends = np.minimum(used["end"].astype(np.int64), end)
            bases += int(np.clip(ends - starts, 0, None).sum())
    return count, bases
