"""``--profile``: run each bams3 command of a benchmark once more under cProfile.

When bams3 loses to samtools the next question is where the time goes; answering it with the very
command line that was measured (same file, same options) avoids profiling something else. cProfile
sees Python frames only: time inside a C extension (inflate, the record walker) shows up as the
built-in call that entered it, which is usually enough to tell start-up, I/O, inflate and per-record
Python work apart. The report goes to ``bench/.cache/scratch/<benchmark>/profile-*.txt``.
"""
from __future__ import annotations

import io
import pstats
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .runner import CaseResult, Measured, child_env

Log = Callable[[str], None]


def _python_for(bams3: str) -> str:
    """The interpreter bams3 is installed in (its venv), so the profile sees the same code."""
    beside = Path(bams3).parent / "python"
    return str(beside) if beside.exists() else sys.executable


def profile_command(measured: Measured, bams3: str, cwd: Path, out_dir: Path, index: int) -> Path:
    """Profile one bams3 command (``argv[0]`` is bams3) and write the top of its stats as text.

    ``python -m cProfile`` exits 0 even when the profiled program exits with an error, so the
    profiled run counts only if it printed exactly what the measured run printed.
    """
    command = measured.command
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"profile-{index}.prof"
    stdout = out_dir / f"profile-{index}.out"
    argv = [_python_for(bams3), "-m", "cProfile", "-o", str(raw), "-m", "bams3", *command.argv[1:]]
    with open(stdout, "wb") as out:
        done = subprocess.run(argv, cwd=cwd, env=child_env(command), stdout=out,
                              stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or stdout.read_bytes() != measured.stdout.read_bytes():
        raise RuntimeError(f"profiling `{command.shell()}` did not reproduce the measured run: "
                           f"{done.stderr.strip()[-500:] or 'different output'}")
    text = io.StringIO()
    text.write(f"# {command.shell()}\n")
    for key in ("cumulative", "tottime"):
        text.write(f"\n## sorted by {key}\n")
        pstats.Stats(str(raw), stream=text).strip_dirs().sort_stats(key).print_stats(25)
    report = out_dir / f"profile-{index}.txt"
    report.write_text(text.getvalue())
    return report


def profile_bams3(cases: Sequence[CaseResult], bams3: str, cwd: Path, out_dir: Path, log: Log) -> list[Path]:
    """Profile every bams3 command of ``cases``; return the report paths."""
    reports = []
    runs = [m for case in cases for m in case.measured if m.command.tool == "bams3"]
    for i, measured in enumerate(runs):
        log(f"[bench]   profiling: {measured.command.shell()}")
        try:
            path = profile_command(measured, bams3, cwd, out_dir, i)
        except RuntimeError as exc:  # a profile is a diagnostic: it never fails the benchmark
            log(f"[bench]   WARNING: {exc}")
            continue
        log(f"[bench]   profile: {path}")
        reports.append(path)
    return reports
