"""Run commands side by side, several times, and measure each child process.

Why it is built this way:

- Wall time is taken around fork..reap with ``time.perf_counter``; CPU time comes from ``os.wait4``'s
  rusage of that one child (on Linux it includes the child's waited-for descendants, so a wrapper
  or a pipeline is measured whole, and nothing else this harness does leaks in).
- Peak RSS comes from GNU ``/usr/bin/time -f %M`` wrapped around the command, not from that same
  rusage: Linux charges a process the high-water RSS of the image it ``exec``'d from, so a tool
  forked by this Python process would report at least the harness's own ~50 MiB. ``time`` is tiny
  (~1 MiB), so what it reports is the tool's own peak.
- Each command's stdout goes to a file (no Python read loop competing for the CPU), and is compared
  with the anchor's afterwards: a mismatch stops the benchmark, because a fast wrong answer is not
  a result.
- Every command runs once untimed first (warm-up: the input file is then in the page cache for all
  tools alike; the OS cache is never flushed). Timed runs interleave the commands (A B A B ...), so
  slow drifts of a shared machine's load hit every tool alike.
- Results report the minimum (closest to the tool's own cost) and the median (what a user sees).
"""
from __future__ import annotations

import difflib
import os
import shlex
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BenchFailure(RuntimeError):
    """A command failed or the tools disagreed: the benchmark has no valid result."""


class BenchUnavailable(RuntimeError):
    """A tool the benchmark needs is missing (GNU time, or a bams3 verb not written yet)."""


def gnu_time() -> str:
    """Path of GNU time (Debian package ``time``), which reports a child's own peak RSS."""
    path = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else shutil.which("time")
    if not path:
        raise BenchUnavailable("GNU time is missing: bash tools/ensure-debian-packages.sh time")
    return path


@dataclass(frozen=True)
class Command:
    """One command line to measure.

    ``label`` names the row in tables ("samtools flagstat"); ``argv`` runs with the repository root
    as working directory, so relative paths in it are what a reader can paste.
    """

    label: str
    argv: tuple[str, ...]
    tool: str
    threads: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    #: run untimed before every run of this command (warm-up included): empty a destination bucket,
    #: drop a cache, so that each timed run starts from the same state
    prepare: Callable[[], None] | None = field(default=None, compare=False)

    def shell(self) -> str:
        """The command as one would type it (environment assignments first)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        cmd = shlex.join(self.argv)
        return f"{env} {cmd}" if env else cmd


@dataclass(frozen=True)
class Sample:
    """One timed run of one command."""

    wall_s: float
    user_s: float
    sys_s: float
    max_rss_kib: int

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


@dataclass
class Measured:
    """All timed runs of one command, plus the output it produced."""

    command: Command
    samples: list[Sample]
    stdout: Path

    @property
    def min_s(self) -> float:
        return min(s.wall_s for s in self.samples)

    @property
    def median_s(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def peak_rss_mib(self) -> float:
        return max(s.max_rss_kib for s in self.samples) / 1024

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.command.label,
            "tool": self.command.tool,
            "threads": self.command.threads,
            "command": self.command.shell(),
            "min_s": round(self.min_s, 4),
            "median_s": round(self.median_s, 4),
            "median_cpu_s": round(self.median_cpu_s, 4),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "samples": [
                {"wall_s": round(s.wall_s, 4), "user_s": round(s.user_s, 4), "sys_s": round(s.sys_s, 4),
                 "max_rss_kib": s.max_rss_kib}
                for s in self.samples
            ],
        }


#: variables removed from every measured command's environment. PYTHONDONTWRITEBYTECODE would make
#: each bams3 run compile its modules from source again (~40 modules, tens of ms); an installed
#: package has its bytecode cached, so that is the case worth measuring.
UNSET_ENV = ("PYTHONDONTWRITEBYTECODE",)


def child_env(command: Command) -> dict[str, str]:
    """The environment a measured command runs with."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    env.update(command.env)
    return env


def run_once(command: Command, cwd: Path, stdout: Path, stderr: Path) -> Sample:
    """Run ``command`` to completion; raise :class:`BenchFailure` on a non-zero exit."""
    if command.prepare is not None:
        command.prepare()
    env = child_env(command)
    rss_file = stderr.with_suffix(".rss")
    argv = [gnu_time(), "-f", "%M", "-o", str(rss_file), *command.argv]
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen consistent
    if proc.returncode != 0:
        tail = stderr.read_text(errors="replace").strip()[-800:]
        raise BenchFailure(f"`{command.shell()}` exited {proc.returncode}: {tail or '(no stderr)'}")
    try:
        # GNU time writes "Command exited ..." lines first on failures; the format line is last.
        max_rss_kib = int(rss_file.read_text().split()[-1])
    except (OSError, ValueError, IndexError) as exc:
        raise BenchFailure(f"no peak RSS from GNU time for `{command.shell()}`: {exc}") from exc
    return Sample(wall, usage.ru_utime, usage.ru_stime, max_rss_kib)


#: compares the anchor's output file with a candidate's; returns None if they agree, else a message
OutputCheck = Callable[[Path, Path], "str | None"]


def same_bytes(anchor: Path, candidate: Path) -> str | None:
    """Outputs must be byte-identical (flagstat text, for one); show a diff when they are not."""
    a, b = anchor.read_bytes(), candidate.read_bytes()
    if a == b:
        return None
    diff = difflib.unified_diff(
        a.decode(errors="replace").splitlines(), b.decode(errors="replace").splitlines(),
        "anchor", "candidate", lineterm="", n=1,
    )
    return "\n".join(list(diff)[:60])


@dataclass(frozen=True)
class Case:
    """One row group: the anchor (samtools) and the bams3 command(s) that must give its answer."""

    name: str
    anchor: Command
    candidates: tuple[Command, ...]
    check: OutputCheck = same_bytes

    @property
    def commands(self) -> tuple[Command, ...]:
        return (self.anchor, *self.candidates)


@dataclass
class CaseResult:
    case: Case
    measured: list[Measured]

    @property
    def anchor(self) -> Measured:
        return self.measured[0]

    def ratio(self, m: Measured) -> float:
        """Median time relative to the anchor's median: below 1 means faster than samtools."""
        return m.median_s / self.anchor.median_s

    def cpu_ratio(self, m: Measured) -> float:
        """Median CPU time (user + system) relative to the anchor's: less sensitive to other load."""
        return m.median_cpu_s / max(self.anchor.median_cpu_s, 1e-9)


Log = Callable[[str], None]


def measure_cases(
    cases: Sequence[Case], *, repeats: int, warmup: bool, scratch: Path, cwd: Path, log: Log
) -> list[CaseResult]:
    """Warm up, then run every command of every case ``repeats`` times, checking every output."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    scratch.mkdir(parents=True, exist_ok=True)
    slots: list[tuple[Case, Command, Path, Path]] = []
    for ci, case in enumerate(cases):
        for mi, cmd in enumerate(case.commands):
            stem = scratch / f"case{ci}-cmd{mi}"
            slots.append((case, cmd, stem.with_suffix(".out"), stem.with_suffix(".err")))
    samples: dict[int, list[Sample]] = {i: [] for i in range(len(slots))}
    # The anchor is the first slot of its case, so its output is fresh when the candidates run.
    anchor_out = {id(case): out for case, cmd, out, _ in slots if cmd is case.anchor}

    if warmup:
        for case, cmd, out, err in slots:
            log(f"[bench]   warm-up: {cmd.shell()}")
            run_once(cmd, cwd, out, err)
            _check(case, cmd, anchor_out[id(case)], out)
    for r in range(repeats):
        for i, (case, cmd, out, err) in enumerate(slots):
            sample = run_once(cmd, cwd, out, err)
            _check(case, cmd, anchor_out[id(case)], out)
            samples[i].append(sample)
            log(f"[bench]   run {r + 1}/{repeats} {sample.wall_s:7.3f} s "
                f"{sample.max_rss_kib / 1024:7.1f} MiB  {cmd.label} ({case.name})")

    results: list[CaseResult] = []
    for case in cases:
        measured = [
            Measured(cmd, samples[i], out)
            for i, (c, cmd, out, _) in enumerate(slots) if c is case
        ]
        results.append(CaseResult(case, measured))
    return results


def _check(case: Case, cmd: Command, anchor_out: Path, out: Path) -> None:
    """Fail unless a candidate's output agrees with its case's anchor output."""
    if cmd is case.anchor:
        return
    problem = case.check(anchor_out, out)
    if problem:
        raise BenchFailure(
            f"output of `{cmd.shell()}` differs from `{case.anchor.shell()}` ({case.name}):\n{problem}"
        )
