"""Running a cohort query: many datasets x many regions on a pool of threads.

The work is waiting on the network (one GET of each dataset's metadata, then a few ranged GETs
per sample and region at most), so threads suffice and ``jobs`` of them keep that many requests in
flight. Tasks are of three kinds, scheduled from the calling thread:

- *open* a dataset: one GET of ``_metadata.json``; every region's reference is checked against
  its header (a sample aligned to another naming scheme fails here, before any chunk is read),
  and all of the sample's regions are planned together (:class:`~bams3.cohort._measure.SampleWork`);
- *chunk*: one GET of a chunk's footer, once per sample whatever the number of regions in it;
- *fetch*: one group of frames a region needs, once per sample whatever the number of regions
  that need it.

A sample's tasks are queued as soon as it is open, and tasks of the samples opened first go first,
so samples complete one after another. At most ``jobs`` datasets are open at a time and a sample's
plan, footers and metadata are dropped as soon as its row is complete: memory stays bounded by
``jobs`` (plus the samples x regions result matrix) whatever the cohort's size. Each footer and
frame is fetched once per sample, so the requests (and bytes) do not depend on ``jobs``.

A sample whose dataset is missing, incomplete or corrupt fails alone: its error (one line naming
the dataset) goes into its :class:`~bams3.cohort.SampleOutcome` and the others complete. With
``fail_fast`` the first such error is raised instead. Anything that is not a
:class:`~bams3.errors.Bams3Error` is a bug and propagates.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import Bams3Error, UsageError
from ..progress import Progress, progress
from ._inputs import CohortSample, check_unique_samples, region_labels
from ._measure import FetchTask, SampleWork, Tally
from ._model import MISSING, CohortResult, IoCost, SampleOutcome, check_references

if TYPE_CHECKING:
    from ..dataset import Dataset
    from ..regions import Region

__all__ = ["DEFAULT_JOBS", "run_cohort"]

log = logging.getLogger(__name__)

#: requests in flight by default (threads; the work is I/O-bound)
DEFAULT_JOBS = 16


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
    """The scheduler's state: changed only by the calling thread (tasks only read it)."""

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
        self.outcomes = [SampleOutcome(s.name, redact(s.url)) for s in samples]
        self.counts = np.full((n, m), MISSING, dtype=np.int64)
        self.bases = np.full((n, m), MISSING, dtype=np.int64) if coverage else None
        #: open samples: their plan and running totals (dropped when the row is complete)
        self.works: dict[int, SampleWork] = {}
        #: tasks queued or running per open sample
        self.pending: dict[int, int] = {}

    # ------------------------------------------------------------------ worker tasks

    def _open(self, i: int) -> tuple[SampleWork, SampleOutcome]:
        dataset = self.opener(self.samples[i].url, max_concurrency=1)
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
        work = SampleWork(dataset, self.regions, coverage=self.coverage,
                          reference_lengths=dict(outcome.reference_lengths))
        return work, outcome

    # ------------------------------------------------------------------ scheduling

    def run(self, bar: Progress) -> None:
        to_open = iter(range(len(self.samples)))
        next_open = next(to_open, None)
        #: (sample, order, task): the samples opened first go first, each in the order queued
        queue: list[tuple[int, int, Any]] = []
        order = itertools.count()
        inflight: dict[Future[Any], tuple[int, Any]] = {}
        opening = 0
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="bams3-cohort")
        clean = False

        def push(i: int, tasks: Sequence[Any]) -> None:
            for task in tasks:
                heapq.heappush(queue, (i, next(order), task))
            self.pending[i] += len(tasks)

        try:
            while True:
                while len(inflight) < self.jobs:
                    if next_open is not None and len(self.works) + opening < self.jobs:
                        i, next_open = next_open, next(to_open, None)
                        inflight[pool.submit(self._open, i)] = (i, None)
                        opening += 1
                    elif queue:
                        i, _, task = heapq.heappop(queue)
                        work = self.works.get(i)
                        if work is None:  # the sample failed meanwhile: skip its other tasks
                            continue
                        if isinstance(task, FetchTask):
                            future = pool.submit(work.fetch_task, task)
                        else:
                            future = pool.submit(work.chunk_task, task)
                        inflight[future] = (i, task)
                    else:
                        break
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    i, task = inflight.pop(future)
                    if task is None:
                        opening -= 1
                    try:
                        value = future.result()
                    except Bams3Error as exc:
                        if self.fail_fast:
                            raise
                        self._fail(i, exc, bar)
                        continue
                    if task is None:
                        work, self.outcomes[i] = value
                        self.works[i] = work
                        self.pending[i] = 0
                        push(i, work.chunks)
                    elif i in self.works:
                        tally: Tally = value
                        self.works[i].add(tally)
                        push(i, tally.fetches)
                        self.pending[i] -= 1
                    else:
                        continue  # a task of a sample that failed meanwhile
                    if self.pending[i] == 0:
                        self._complete(i, bar)
            clean = True
        finally:
            # on an error or an interrupt, do not wait for requests in flight (they time out)
            pool.shutdown(wait=clean, cancel_futures=True)

    def _complete(self, i: int, bar: Progress) -> None:
        """Sample ``i``'s row is complete: store it and release the dataset (metadata, footers)."""
        work = self.works.pop(i)
        del self.pending[i]
        self.counts[i] = work.counts
        if self.bases is not None and work.bases is not None:
            self.bases[i] = work.bases
        bar.update(len(self.regions))

    def _fail(self, i: int, exc: Bams3Error, bar: Progress) -> None:
        if not self.outcomes[i].ok:
            return
        message = str(exc)
        url = self.outcomes[i].url
        if url not in message:
            message = f"{url}: {message}"
        self.outcomes[i] = self.outcomes[i].failed(message)
        self.works.pop(i, None)
        self.pending.pop(i, None)
        self.counts[i, :] = MISSING
        if self.bases is not None:
            self.bases[i, :] = MISSING
        bar.update(len(self.regions))
