"""Starting and stopping one workflow run: its folder, samples sheet, config overlay, process.

A run gets a folder ``<runs_dir>/<run id>/`` holding

``samples.tsv``   the run's BAMs (columns ``sample``, ``bam``, ``index``: the workflow's
                  sheet format); readable by the owner only, since signed URLs are
                  credentials
``config.yaml``   the overlay that points the workflow at that sheet (``samples``) and
                  clears ``bam_urls``; it comes after the workflow's own config files,
                  so every other key keeps its value
``run.log``       the command line, then everything the run prints

The process runs in its own session (so stopping it reaches Snakemake's jobs too) and,
on Linux, is asked to receive SIGTERM when the watcher dies, however it dies: a killed
watcher does not leave a run going that nobody renews the lease of (the run would be
retried while still writing the same outputs). Snakemake stops its jobs on SIGTERM.
"""
from __future__ import annotations

import ctypes
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import LocalWriteError
from ..io.store import local_write_errors
from .settings import Launch

__all__ = ["SampleRow", "RunProcess", "build_command", "write_run_files", "start_run", "describe_exit"]

log = logging.getLogger(__name__)

SHEET_NAME = "samples.tsv"
OVERLAY_NAME = "config.yaml"
LOG_NAME = "run.log"
#: seconds a stopped run gets to finish cleanly (Snakemake cancels its jobs) before SIGKILL
STOP_GRACE = 60.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class SampleRow:
    """One line of a run's samples sheet (real URLs: this goes to the workflow only)."""

    sample: str
    bam: str
    index: str | None = None


def write_run_files(run_dir: Path, rows: Sequence[SampleRow]) -> Path:
    """Write the sheet and the overlay of a run into ``run_dir``; return the overlay's path.

    Raises
    ------
    bams3.errors.LocalWriteError
        The folder cannot be written.
    """
    import yaml

    sheet = run_dir / SHEET_NAME
    overlay = run_dir / OVERLAY_NAME
    lines = ["sample\tbam\tindex"] + [f"{r.sample}\t{r.bam}\t{r.index or ''}" for r in rows]
    with local_write_errors(str(run_dir)):
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(sheet, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        overlay.write_text(
            "# written by bams3 watch: this run's samples (on top of the workflow's config files)\n"
            + yaml.safe_dump({"samples": str(sheet.resolve()), "bam_urls": []}, sort_keys=False)
        )
    return overlay


def build_command(launch: Launch, overlay: Path) -> list[str]:
    """The run's command line (see :class:`~bams3.watch.settings.Launch`).

    Targets come first: ``--configfile`` takes every following word up to the next
    option. ``--rerun-incomplete`` lets a retry finish what a killed run left incomplete.

    >>> build_command(Launch(command=("snakemake",), profile="profiles/default", configfiles=("c.yaml",),
    ...                      extra_args=("--cores", "4")), Path("/r/config.yaml"))   # doctest: +NORMALIZE_WHITESPACE
    ['snakemake', '--profile', 'profiles/default', '--configfile', 'c.yaml', '/r/config.yaml',
     '--rerun-incomplete', '--cores', '4']
    """
    command = [*launch.command, *launch.targets]
    if launch.snakefile is not None:
        command += ["--snakefile", launch.snakefile]
    if launch.profile is not None:
        command += ["--profile", launch.profile]
    command += ["--configfile", *launch.configfiles, str(overlay), "--rerun-incomplete", *launch.extra_args]
    return command


def describe_exit(returncode: int) -> str:
    """``0`` -> ``"exit status 0"``, ``-9`` -> ``"killed by SIGKILL"``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the watcher died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class RunProcess:
    """A started run: its process (leader of its own session) and its log."""

    def __init__(self, run_id: str, process: subprocess.Popen[bytes], log_path: Path,
                 samples: tuple[str, ...] = ()) -> None:
        self.run_id = run_id
        self.process = process
        self.log_path = log_path
        self.samples = samples

    def poll(self) -> int | None:
        """The exit status once the run has ended, else None."""
        return self.process.poll()

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, *, grace: float = STOP_GRACE) -> int:
        """Ask the run to stop (SIGTERM to its whole session), SIGKILL it after ``grace``
        seconds; return its exit status."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("run %s did not stop within %.0f s of SIGTERM; killing it", self.run_id, grace)
        self._signal(signal.SIGKILL)  # whatever of the session is left (jobs that ignored SIGTERM)
        return self.process.wait()


def start_run(run_id: str, rows: Sequence[SampleRow], launch: Launch, run_dir: Path) -> RunProcess:
    """Write the run's files and start its command (see the module docstring).

    Raises
    ------
    bams3.errors.LocalWriteError
        The run's folder cannot be written.
    OSError
        The command cannot be started (not found, not executable).
    """
    overlay = write_run_files(run_dir, rows)
    command = build_command(launch, overlay)
    log_path = run_dir / LOG_NAME
    env = {**os.environ, "BAMS3_WATCH_RUN": run_id}
    try:
        out = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
    except OSError as exc:
        raise LocalWriteError(f"{log_path}: cannot write: {exc.strerror}") from exc
    with out:
        out.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S%z')} bams3 watch run {run_id}: "
                  f"{shlex.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True, preexec_fn=_die_with_parent())
    return RunProcess(run_id, process, log_path, tuple(r.sample for r in rows))
