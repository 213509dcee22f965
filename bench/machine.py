"""What a benchmark ran on: CPU, cores, memory, OS, tool versions, bams3 commit, load.

Absolute times mean little without this, and ratios can shift with the core count (threads) and
the compression library htslib was built with (libdeflate or zlib), so every result carries it.
The load average is recorded at the start and the end of a run because the project's machines are
shared: a load well above zero means other work competed with the benchmark.
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Machine:
    cpu_model: str
    nproc: int
    memory_gib: float
    os: str
    kernel: str
    python: str
    samtools: str
    htslib_features: str
    bams3_version: str
    bams3_commit: str
    load_start: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self, load_end: tuple[float, float, float] | None = None) -> str:
        """One compact paragraph for a doc section."""
        load = f"{self.load_start[0]:.2f}"
        if load_end is not None:
            load += f" at the start, {load_end[0]:.2f} at the end"
        return (
            f"{self.cpu_model}, {self.nproc} cores usable, {self.memory_gib:.0f} GiB RAM; {self.os}, "
            f"Linux {self.kernel}; Python {self.python}; {self.samtools} ({self.htslib_features}); "
            f"bams3 {self.bams3_version} at commit `{self.bams3_commit}`; 1-minute load average {load}."
        )


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=60, cwd=cwd
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 2**20 if match else 0.0


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.system()
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?$', text, re.MULTILINE)
    return match.group(1) if match else platform.system()


def samtools_version(samtools: str = "samtools") -> tuple[str, str]:
    """("samtools 1.16.1 / htslib 1.16", "libdeflate=yes ...") from ``samtools --version``."""
    out = _run([samtools, "--version"])
    lines = out.splitlines()
    if not lines:
        return "samtools (not found)", ""
    version = lines[0].strip()
    if len(lines) > 1 and lines[1].startswith("Using htslib"):
        version += " / htslib " + lines[1].split()[-1]
    features = ""
    for line in lines:
        if "libdeflate=" in line:
            features = " ".join(w for w in line.split() if w.startswith(("libdeflate=", "libcurl=", "S3=")))
            break
    return version, features


def git_commit(paths: tuple[str, ...] = ("src", "pyproject.toml", "setup.py")) -> str:
    """Short HEAD commit, with ``+dirty`` when the code that was measured differs from it."""
    head = _run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT).strip() or "unknown"
    dirty = _run(["git", "status", "--porcelain", "--", *paths], cwd=REPO_ROOT).strip()
    return head + ("+dirty" if dirty else "")


def bams3_version(bams3: str) -> str:
    out = _run([bams3, "--version"]).strip()
    return out.split()[-1] if out else "unavailable"


def load_average() -> tuple[float, float, float]:
    """1-, 5- and 15-minute load averages, rounded (they are context, not measurements)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def describe(samtools: str, bams3: str) -> Machine:
    version, features = samtools_version(samtools)
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 1
    return Machine(
        cpu_model=_cpu_model(),
        nproc=nproc,
        memory_gib=round(_memory_gib(), 1),
        os=_os_name(),
        kernel=platform.release(),
        python=sys.version.split()[0],
        samtools=version,
        htslib_features=features,
        bams3_version=bams3_version(bams3),
        bams3_commit=git_commit(),
        load_start=load_average(),
    )
