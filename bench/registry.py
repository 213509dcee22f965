"""The benchmarks, by name.

A benchmark is one module in ``bench/`` with::

    TITLE: str                                            # section heading in docs/BENCHMARKS.md
    def add_arguments(parser: argparse.ArgumentParser) -> None   # its own options, if any
    def run(ctx: bench.context.Context, args) -> BenchResult     # usually: build Cases, ctx.measure(...)

``run`` may set up whatever the measurement needs around ``ctx.measure`` (a loopback S3 server, a
byte-counting proxy, a cohort of copies) and pass extra numbers on in ``BenchResult.extra``; writing
the doc section and the JSON is the harness's job. To add one: write the module, then set its
``module`` here (an entry with ``module=None`` is planned and refuses to run).
"""
from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .context import Context
    from .report import BenchResult


class BenchmarkModule(Protocol):
    TITLE: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, ctx: Context, args: argparse.Namespace) -> BenchResult: ...


@dataclass(frozen=True)
class Entry:
    name: str
    summary: str
    #: dotted module path; None while the benchmark is only planned
    module: str | None = None

    @property
    def implemented(self) -> bool:
        return self.module is not None

    def load(self) -> BenchmarkModule:
        if self.module is None:
            raise LookupError(f"benchmark {self.name!r} is planned but not written yet")
        mod: ModuleType = importlib.import_module(self.module)
        return mod  # type: ignore[return-value]


#: in the order ``python -m bench all`` runs them and ``python -m bench list`` shows them
REGISTRY: tuple[Entry, ...] = (
    Entry("flagstat", "bams3 flagstat vs samtools flagstat, 1 and N threads, local BAM", "bench.flagstat"),
    Entry("scan", "bams3 scan (per-chunk statistics, --workers 1 and 2) vs samtools flagstat, local BAM",
          "bench.scan"),
    Entry("dataset", "BAMS3 datasets: convert time and size vs samtools view -b / CRAM 3.1; region queries "
                     "and stats over S3 vs samtools view s3+http://: time, requests, bytes (counting proxy)",
          "bench.dataset"),
    Entry("cohort", "bams3 cohort (--jobs 1 and 16) over 50, 100 and 200 datasets x 20 regions in loopback S3 vs "
                    "xargs -P 16 samtools view -c s3+http:// per (sample, region): time, linearity, requests",
          "bench.cohort"),
    Entry("stage", "bams3 stage of N files from loopback S3, --jobs 1 and 8 vs curl (presigned URLs), and the "
                   "warm-cache second run vs rclone copy to a complete destination", "bench.stage"),
    Entry("sync", "bams3 sync vs rclone sync, local trees to loopback S3: 1000 small and 10 x 100 MB objects "
                  "at 1 and 16 jobs, and the no-op rerun (time, requests per object)", "bench.sync"),
)


def get(name: str) -> Entry:
    for entry in REGISTRY:
        if entry.name == name:
            return entry
    raise KeyError(name)
