"""Running a cohort query: many datasets x many regions on a pool of threads.

The work is waiting on the network (one GET of each dataset's metadata, then a few ranged GETs
per region at most), so threads suffice and ``jobs`` of them keep that many requests in flight.
Tasks are of two kinds, scheduled from the calling thread:

- *open* a dataset: one GET of ``_metadata.json``, then every region's reference is checked
  against its header (a sample aligned to another naming scheme fails here, before any chunk
  is read);
- *measure* one (sample, region) cell (:func:`bams3.cohort._measure.measure`).

A sample's cells are queued as soon as it is open, and new samples are opened only when no cell
is waiting, with at most ``jobs`` datasets open at a time: memory stays bounded by ``jobs``
metadata documents whatever the cohort's size. Cells are taken from the open samples in turn, so
that requests in flight at the same time mostly go to different datasets.

A sample whose dataset is missing, incomplete or corrupt fails alone: its error (one line naming
the dataset) goes into its :class:`~bams3.cohort.SampleOutcome` and the others complete. With
``fail_fast`` the first such error is raised instead. Anything that is not a
:class:`~bams3.errors.Bams3Error` is a bug and propagates.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import Bams3Error, UsageError
from ..progress import Progress, progress
from ._inputs import CohortSample, check_unique_samples, region_labels
from ._measure import measure
from ._model import MISSING, CohortResult, IoCost, SampleOutcome, check_references

if TYPE_CHECKING:
    from ..dataset import Dataset
    from ..regions import Region

__all__ = ["DEFAULT_JOBS", "run_cohort"]

log = logging.getLogger(__name__)

#: requests in flight by default (threads; the work is I/O-bound)
DEFAULT_JOBS = 16
_OPEN = -1


def run_cohort(
    samples: Sequence[CohortSample],
    regions: Sequence[Region],
    *,
    jobs: int = DEFAULT_JOBS,
    coverage: bool = False,
    fail_fast: bool = False,
    show_progress: bool = True,
) -> CohortResult:
    """Count the reads of every sample in every region (and, with ``coverage``, aligned bases).

    Parameters
    ----------
    samples
        The datasets, with unique names (:func:`bams3.cohort.collect_samples`).
    regions
        0-based half-open regions (:mod:`bams3.regions` parses samtools strings and BED files).
    jobs
        Requests in flight at once (threads).
    coverage
        Also measure aligned bases and mean depth; this reads every frame that can overlap a
        region instead of counting whole bins from metadata.
    fail_fast
        Raise the first sample's error instead of recording it and carrying on.
    show_progress
        Show a bar (terminal) or log lines (otherwise) counting (sample, region) cells.

    Returns
    -------
    CohortResult
        Counts per sample and region, per-sample facts and failures, the I/O cost.

    Raises
    ------
    UsageError
        No samples or regions, repeated sample names or regions, ``jobs`` below 1.
    Bams3Error
        With ``fail_fast``: the first sample's failure (or a sample of another reference build:
        :class:`~bams3.errors.DatasetError`).
    """
    if jobs < 1:
        raise UsageError(f"jobs must be at least 1, got {jobs}")
    if not samples:
        raise UsageError("no datasets given")
    check_unique_samples(samples)
    labels = region_labels(regions)
    from ..dataset import Dataset  # imported here, not first in a worker thread
    from ..io.metrics import IO_STATS

    started = time.monotonic()
    runner = _Runner(samples, regions, opener=Dataset.open, jobs=jobs, coverage=coverage, fail_fast=fail_fast)
    with IO_STATS.scope() as scope, progress(
        "cohort", total=len(samples) * len(regions), unit="queries", enabled=show_progress
    ) as bar:
        runner.run(bar)
    result = CohortResult(
        regions=tuple(regions),
        labels=tuple(labels),
        outcomes=tuple(runner.outcomes),
        counts=runner.counts,
        aligned_bases=runner.bases,
        io=IoCost.from_snapshot(scope.snapshot()),
        seconds=time.monotonic() - started,
        jobs=jobs,
    )
    result = check_references(result)
    for outcome in result.failed:
        log.info("sample %s failed: %s", outcome.sample, outcome.error)
    if fail_fast:
        result.raise_for_failures()  # a reference build differing from the cohort's is found only now
    return result


class _Runner:
    """The scheduler's state: changed only by the calling thread (an open task reads it)."""

    def __init__(self, samples: Sequence[CohortSample], regions: Sequence[Region], *,
                 opener: Callable[..., Dataset], jobs: int, coverage: bool, fail_fast: bool) -> None:
        from ..io import redact

        self.opener = opener
        self.samples = samples
        self.regions = regions
        self.contigs = sorted({r.contig for r in regions})
        self.jobs = jobs
        self.coverage = coverage
        self.fail_fast = fail_fast
        n, m = len(samples), len(regions)
        #: threads a dataset uses inside one count: all of them when there are fewer cells than jobs
        self.inner = max(1, jobs // min(jobs, n * m))
        self.outcomes = [SampleOutcome(s.name, redact(s.url)) for s in samples]
        self.counts = np.full((n, m), MISSING, dtype=np.int64)
        self.bases = np.full((n, m), MISSING, dtype=np.int64) if coverage else None
        self.datasets: dict[int, Dataset] = {}
        self.outstanding: dict[int, int] = {}

    # ------------------------------------------------------------------ worker tasks

    def _open(self, i: int) -> tuple[Dataset, SampleOutcome]:
        dataset = self.opener(self.samples[i].url, max_concurrency=self.inner)
        for region in self.regions:
            dataset.resolve(region)
        lengths = {r.name: r.length for r in dataset.references}
        stats = dataset.stats()
        outcome = replace(
            self.outcomes[i],
            source_url=stats["source"]["url"],
            source_size=stats["source"]["size"],
            dataset_bytes=stats["storage"]["total_bytes"],
            reads=stats["reads"]["total"],
            mapped_reads=stats["reads"]["mapped"],
            reference_lengths={c: lengths[c] for c in self.contigs},
        )
        return dataset, outcome

    # ------------------------------------------------------------------ scheduling

    def run(self, bar: Progress) -> None:
        m = len(self.regions)
        to_open = deque(range(len(self.samples)))
        #: open samples with cells still to submit, taken in turn: concurrent cells then mostly belong
        #: to different datasets, so two of them rarely fetch the same chunk's frame table at once
        ready: deque[tuple[int, deque[int]]] = deque()
        inflight: dict[Future[Any], tuple[int, int]] = {}
        opening = 0
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="bams3-cohort")
        clean = False
        try:
            while True:
                while len(inflight) < self.jobs:
                    if ready:
                        i, cells = ready.popleft()
                        j = cells.popleft()
                        if cells:
                            ready.append((i, cells))
                        if not self.outcomes[i].ok:  # failed meanwhile: skip its other cells
                            self._cell_done(i, bar)
                            continue
                        region = self.regions[j]
                        future = pool.submit(measure, self.datasets[i], region, coverage=self.coverage,
                                             reference_length=self.outcomes[i].reference_lengths[region.contig])
                        inflight[future] = (i, j)
                    elif to_open and len(self.datasets) + opening < self.jobs:
                        i = to_open.popleft()
                        inflight[pool.submit(self._open, i)] = (i, _OPEN)
                        opening += 1
                    else:
                        break
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    i, j = inflight.pop(future)
                    opening -= j == _OPEN
                    try:
                        value = future.result()
                    except Bams3Error as exc:
                        if self.fail_fast:
                            raise
                        self._fail(i, exc)
                        if j == _OPEN:
                            bar.update(m)
                        else:
                            self._cell_done(i, bar)
                        continue
                    if j == _OPEN:
                        self.datasets[i], self.outcomes[i] = value
                        self.outstanding[i] = m
                        ready.append((i, deque(range(m))))
                    else:
                        self._store(i, j, value)
                        self._cell_done(i, bar)
            clean = True
        finally:
            # on an error or an interrupt, do not wait for requests in flight (they time out)
            pool.shutdown(wait=clean, cancel_futures=True)

    def _store(self, i: int, j: int, value: tuple[int, int]) -> None:
        if not self.outcomes[i].ok:
            return
        count, bases = value
        self.counts[i, j] = count
        if self.bases is not None:
            self.bases[i, j] = bases

    def _fail(self, i: int, exc: Bams3Error) -> None:
        if not self.outcomes[i].ok:
            return
        message = str(exc)
        url = self.outcomes[i].url
        if url not in message:
            message = f"{url}: {message}"
        self.outcomes[i] = self.outcomes[i].failed(message)
        self.counts[i, :] = MISSING
        if self.bases is not None:
            self.bases[i, :] = MISSING

    def _cell_done(self, i: int, bar: Progress) -> None:
        """One cell of sample ``i`` is finished (measured, failed or skipped)."""
        bar.update(1)
        self.outstanding[i] -= 1
        if self.outstanding[i] == 0:
            del self.outstanding[i]
            del self.datasets[i]  # release its metadata: the sample is complete
