"""The result of a cohort query: frozen values, mergeable across jobs, serialisable.

A :class:`CohortResult` holds a dense samples x regions matrix of read counts (and, when asked,
of aligned bases), one :class:`SampleOutcome` per sample (what its metadata said, or why it
failed) and the I/O the query cost. The workflow runs groups of samples as separate jobs;
each writes its result with :meth:`CohortResult.to_json` and the aggregation job reads them back
and :func:`merge_results` them, so the tables and the summary are made by one code path
whatever the fan-out.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import DatasetError, UsageError
from ..regions import Region

__all__ = ["SampleOutcome", "IoCost", "CohortResult", "check_references", "merge_results", "MISSING", "PARTIAL_FORMAT"]

#: identifies a serialised :class:`CohortResult` (a workflow group job's output)
PARTIAL_FORMAT = "bams3.cohort.partial"
_PARTIAL_VERSION = 1
#: value of a matrix cell whose sample failed (never a count)
MISSING = -1


@dataclass(frozen=True, slots=True)
class SampleOutcome:
    """One sample of the cohort: its dataset's facts when it opened, else the error.

    ``reference_lengths`` holds the lengths of the references the regions name, as this
    dataset's header gives them (they decide mean depth, and tell reference builds apart).
    """

    sample: str
    url: str
    error: str | None = None
    source_url: str | None = None
    source_size: int | None = None
    dataset_bytes: int | None = None
    reads: int | None = None
    mapped_reads: int | None = None
    reference_lengths: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def failed(self, error: str) -> SampleOutcome:
        """The same sample, failed with ``error`` (a one-line message naming the dataset)."""
        return replace(self, error=error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "url": self.url,
            "error": self.error,
            "source_url": self.source_url,
            "source_size": self.source_size,
            "dataset_bytes": self.dataset_bytes,
            "reads": self.reads,
            "mapped_reads": self.mapped_reads,
            "reference_lengths": dict(self.reference_lengths),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleOutcome:
        return cls(**{**data, "reference_lengths": dict(data.get("reference_lengths") or {})})


@dataclass(frozen=True, slots=True)
class IoCost:
    """Requests and bytes a query (or a sum of jobs) sent, per operation (``"s3 get"``...)."""

    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    retries: int = 0
    by_operation: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Mapping[str, Mapping[str, int]]]) -> IoCost:
        """From :meth:`bams3.io.metrics.IoScope.snapshot` (``{scheme: {op: counters}}``)."""
        flat = {f"{scheme} {op}": dict(counts) for scheme, ops in snapshot.items() for op, counts in ops.items()}
        return cls._from_flat(flat)

    @classmethod
    def _from_flat(cls, flat: Mapping[str, Mapping[str, int]]) -> IoCost:
        def total(name: str) -> int:
            return sum(int(c.get(name, 0)) for c in flat.values())

        return cls(total("requests"), total("bytes_in"), total("bytes_out"), total("retries"),
                   {k: dict(v) for k, v in sorted(flat.items())})

    def __add__(self, other: IoCost) -> IoCost:
        flat: dict[str, dict[str, int]] = {k: dict(v) for k, v in self.by_operation.items()}
        for op, counts in other.by_operation.items():
            mine = flat.setdefault(op, {})
            for name, value in counts.items():
                mine[name] = mine.get(name, 0) + int(value)
        return IoCost._from_flat(flat)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "retries": self.retries, "by_operation": {k: dict(v) for k, v in self.by_operation.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IoCost:
        return cls._from_flat(data.get("by_operation") or {})


@dataclass(frozen=True, eq=False)
class CohortResult:
    """Samples x regions: read counts (and aligned bases), per-sample facts, and the cost.

    Attributes
    ----------
    regions, labels
        The regions in the order given, and their unique table labels.
    outcomes
        One per sample, in the order given (failed ones included).
    counts
        ``int64`` (samples, regions): records overlapping each region, as ``samtools view -c``
        counts them; :data:`MISSING` (-1) on the rows of failed samples.
    aligned_bases
        Same shape, or None when coverage was not asked: reference bases covered by the
        alignments that ``samtools depth`` counts (see :mod:`bams3.cohort._measure`).
    io
        Requests and bytes of the whole query (every job's, summed, after a merge).
    seconds
        Wall time (summed over jobs after a merge).
    jobs
        Requests in flight the query ran with (per job).
    """

    regions: tuple[Region, ...]
    labels: tuple[str, ...]
    outcomes: tuple[SampleOutcome, ...]
    counts: np.ndarray
    aligned_bases: np.ndarray | None = None
    io: IoCost = field(default_factory=IoCost)
    seconds: float = 0.0
    jobs: int = 1

    def __post_init__(self) -> None:
        shape = (len(self.outcomes), len(self.regions))
        if self.counts.shape != shape or (self.aligned_bases is not None and self.aligned_bases.shape != shape):
            raise ValueError(f"cohort matrices must be {shape}")
        if len(self.labels) != len(self.regions):
            raise ValueError("one label per region")

    # ------------------------------------------------------------------ views

    @property
    def coverage(self) -> bool:
        """Whether aligned bases (and so mean depth) were measured."""
        return self.aligned_bases is not None

    @property
    def ok(self) -> np.ndarray:
        """Boolean per sample: it succeeded."""
        return np.array([o.ok for o in self.outcomes], dtype=bool)

    @property
    def failed(self) -> list[SampleOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def region_lengths(self) -> np.ndarray:
        """Bases of each region within its reference (the cohort's reference lengths).

        A region given without an end (``chr1``, ``chr1:1000``) runs to the reference's end;
        one given past the end is cut there. 0 when no sample knew the reference.
        """
        lengths = self.reference_lengths()
        out = np.zeros(len(self.regions), dtype=np.int64)
        for j, region in enumerate(self.regions):
            length = lengths.get(region.contig)
            if length is None:
                continue
            end = length if region.end is None else min(region.end, length)
            out[j] = max(end - region.start, 0)
        return out

    def region_ends(self) -> list[int | None]:
        """Each region's end: as given, or the reference length for regions given without one."""
        lengths = self.reference_lengths()
        return [r.end if r.end is not None else lengths.get(r.contig) for r in self.regions]

    def reference_lengths(self) -> dict[str, int]:
        """Lengths of the queried references, from the samples that opened (they agree after
        :func:`check_references`)."""
        out: dict[str, int] = {}
        for outcome in self.outcomes:
            if outcome.ok:
                for name, length in outcome.reference_lengths.items():
                    out.setdefault(name, length)
        return out

    def mean_depth(self) -> np.ndarray | None:
        """Aligned bases / region length per cell (float; NaN for failed samples and empty regions)."""
        if self.aligned_bases is None:
            return None
        lengths = self.region_lengths().astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = self.aligned_bases / lengths[None, :]
        depth[:, lengths == 0] = np.nan
        depth[~self.ok, :] = np.nan
        return depth

    def plus_io(self, cost: IoCost) -> CohortResult:
        """The same result with ``cost`` added to its I/O (a listing done before the query)."""
        return replace(self, io=self.io + cost)

    def raise_for_failures(self) -> None:
        """Raise :class:`~bams3.errors.DatasetError` when any sample failed (for callers that
        must not publish a partial cohort, such as a workflow job without ``allow_failures``).

        The message counts the failures and quotes the first; each is also in :attr:`outcomes`.
        """
        failed = self.failed
        if failed:
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise DatasetError(f"{len(failed)} of {len(self.outcomes)} samples failed; {failed[0].sample}: "
                               f"{failed[0].error}{more}")

    # ------------------------------------------------------------------ serialisation

    def to_json(self) -> bytes:
        """The result as one JSON document (a workflow group job's output)."""
        document = {
            "format": PARTIAL_FORMAT,
            "version": _PARTIAL_VERSION,
            "regions": [[r.contig, r.start, r.end, r.name] for r in self.regions],
            "labels": list(self.labels),
            "samples": [o.to_dict() for o in self.outcomes],
            "counts": self.counts.tolist(),
            "aligned_bases": None if self.aligned_bases is None else self.aligned_bases.tolist(),
            "io": self.io.to_dict(),
            "seconds": self.seconds,
            "jobs": self.jobs,
        }
        return (json.dumps(document, separators=(",", ":")) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, *, name: str) -> CohortResult:
        """Read back :meth:`to_json`'s output.

        Raises
        ------
        DatasetError
            Not such a document (``name`` says which file).
        """
        try:
            document = json.loads(data)
            if document.get("format") != PARTIAL_FORMAT or document.get("version") != _PARTIAL_VERSION:
                raise DatasetError(f"{name}: not a bams3 cohort result (format {PARTIAL_FORMAT} v{_PARTIAL_VERSION})")
            n, m = len(document["samples"]), len(document["regions"])
            bases = document["aligned_bases"]
            return cls(
                regions=tuple(Region(contig, int(start), None if end is None else int(end), label)
                              for contig, start, end, label in document["regions"]),
                labels=tuple(document["labels"]),
                outcomes=tuple(SampleOutcome.from_dict(o) for o in document["samples"]),
                counts=np.array(document["counts"], dtype=np.int64).reshape(n, m),
                aligned_bases=None if bases is None else np.array(bases, dtype=np.int64).reshape(n, m),
                io=IoCost.from_dict(document["io"]),
                seconds=float(document["seconds"]),
                jobs=int(document["jobs"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DatasetError(f"{name}: not a valid bams3 cohort result ({exc})") from None


def check_references(result: CohortResult) -> CohortResult:
    """Fail the samples whose queried references differ in length from the cohort's.

    Two datasets whose ``chr1`` differ in length were aligned to different builds: their
    counts over the same coordinates mean different things. The cohort's lengths are those of
    the most common set among the samples that opened (ties: the one seen first, in sample
    order), so the outcome does not depend on which dataset answered first.
    """
    signatures = [tuple(sorted(o.reference_lengths.items())) if o.ok else None for o in result.outcomes]
    common = Counter(s for s in signatures if s is not None)
    if len(common) <= 1:
        return result
    best = max(common.values())
    chosen = next(s for s in signatures if s is not None and common[s] == best)
    expected = dict(chosen)
    outcomes = list(result.outcomes)
    counts = result.counts.copy()
    bases = None if result.aligned_bases is None else result.aligned_bases.copy()
    for i, (outcome, signature) in enumerate(zip(result.outcomes, signatures)):
        if signature is None or signature == chosen:
            continue
        contig, length = next((c, n) for c, n in signature if expected.get(c) != n)
        outcomes[i] = outcome.failed(
            f"{outcome.url}: reference {contig} is {length:,} bp here but {expected.get(contig, 0):,} bp in most "
            "samples (a different reference build?)")
        counts[i, :] = MISSING
        if bases is not None:
            bases[i, :] = MISSING
    return replace(result, outcomes=tuple(outcomes), counts=counts, aligned_bases=bases)


def merge_results(parts: Sequence[CohortResult]) -> CohortResult:
    """Stack the results of sample groups (same regions) into one, in the order given.

    Raises
    ------
    UsageError
        No parts, parts over different regions or with different measures, or a sample in two parts.
    """
    if not parts:
        raise UsageError("no cohort results to merge")
    first = parts[0]
    for part in parts[1:]:
        if part.regions != first.regions or part.labels != first.labels:
            raise UsageError("cohort results to merge cover different regions")
        if part.coverage != first.coverage:
            raise UsageError("cohort results to merge measured different things (coverage in some only)")
    outcomes = tuple(o for part in parts for o in part.outcomes)
    repeated = [name for name, n in Counter(o.sample for o in outcomes).items() if n > 1]
    if repeated:
        raise UsageError(f"sample {repeated[0]} is in more than one cohort result")
    io = IoCost()
    for part in parts:
        io = io + part.io
    merged = CohortResult(
        regions=first.regions,
        labels=first.labels,
        outcomes=outcomes,
        counts=np.concatenate([p.counts for p in parts]),
        aligned_bases=(np.concatenate([p.aligned_bases for p in parts if p.aligned_bases is not None])
                       if first.coverage else None),
        io=io,
        seconds=sum(p.seconds for p in parts),
        jobs=max(p.jobs for p in parts),
    )
    return check_references(merged)
