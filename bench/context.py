"""What every benchmark gets from the harness: tools, data, options, and ``measure``.

Keeping this in one object lets a benchmark module be a few declarative lines (which commands,
which output check) while the harness decides how many runs, where outputs go and what is written.
"""
from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datagen import Dataset, DatasetSpec, ensure_dataset
from .machine import REPO_ROOT, Machine, describe, load_average
from .report import BenchResult
from .runner import BenchUnavailable, Case, measure_cases

Log = Callable[[str], None]


@dataclass
class Context:
    bams3: str
    samtools: str
    spec: DatasetSpec
    cache_dir: Path
    repeats: int
    warmup: bool
    invocation: str
    log: Log
    #: profile every bams3 command once more under cProfile after measuring (see bench.profiling)
    profile: bool = False
    scratch: Path = field(default_factory=lambda: REPO_ROOT / "bench" / ".cache" / "scratch")
    _dataset: Dataset | None = None
    _machine: Machine | None = None

    @property
    def machine(self) -> Machine:
        if self._machine is None:
            self._machine = describe(self.samtools, self.bams3)
        return self._machine

    def dataset(self) -> Dataset:
        """The benchmark BAM, generated on first use (minutes) and cached afterwards."""
        if self._dataset is None:
            self._dataset = ensure_dataset(self.spec, self.cache_dir, self.log)
        return self._dataset

    def rel(self, path: Path | str) -> str:
        """``path`` relative to the repository root when inside it: commands stay short and pasteable."""
        p = Path(path).resolve()
        try:
            return str(p.relative_to(REPO_ROOT))
        except ValueError:
            return str(p)

    def require_verb(self, verb: str) -> None:
        """Fail early and clearly when ``bams3 VERB`` does not exist (yet)."""
        argv = [self.bams3, verb, "--help"]
        try:
            done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BenchUnavailable(f"`{shlex.join(argv)}` could not run: {exc}") from exc
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BenchUnavailable(f"`{shlex.join(argv)}` failed ({detail[0]}): is the verb written yet?")

    def measure(
        self,
        name: str,
        title: str,
        cases: Sequence[Case],
        notes: Sequence[str] = (),
        extra: dict[str, Any] | None = None,
        data: str | None = None,
    ) -> BenchResult:
        """Run ``cases`` side by side and package the numbers with the machine and the data set.

        ``data`` describes what the benchmark ran on when that is not the benchmark BAM (files it
        made itself, a synthetic cohort); without it the BAM is described (and made, if missing).
        """
        machine = self.machine
        started = time.strftime("%Y-%m-%d %H:%M %Z")
        self.log(f"[bench] {name}: {sum(len(c.commands) for c in cases)} commands, "
                 f"{self.repeats} timed runs each{' after a warm-up' if self.warmup else ''}")
        results = measure_cases(
            cases, repeats=self.repeats, warmup=self.warmup, scratch=self.scratch / name,
            cwd=REPO_ROOT, log=self.log,
        )
        if self.profile:
            from .profiling import profile_bams3

            profile_bams3(results, self.bams3, REPO_ROOT, self.scratch / name, self.log)
        return BenchResult(
            name=name,
            title=title,
            invocation=self.invocation,
            dataset=data if data is not None else self.dataset_description(),
            data_manifest=None if data is not None else self.dataset().manifest,
            machine=machine,
            load_end=load_average(),
            repeats=self.repeats,
            warmup=self.warmup,
            started=started,
            cases=results,
            notes=list(notes),
            extra=dict(extra or {}),
        )

    def dataset_description(self) -> str:
        ds = self.dataset()
        m = ds.manifest
        return (
            f"`{self.rel(ds.bam)}`: {m['bytes'] / 1e6:,.1f} MB, {m['reads']:,} records, "
            f"{m['bgzf_blocks']:,} BGZF blocks (synthetic {sum(m['contigs'].values()) / 1e6:.1f} Mbp genome, "
            f"ART HS25 2x150 at {m['spec']['coverage']:g}x + contaminant, chimeras, duplicates; "
            f"`{shlex.join(['python', '-m', 'bench', 'data', *self.spec.cli_args()])}`, md5 `{m['md5'][:12]}`)"
        )
