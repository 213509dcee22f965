"""What a watcher watches and how it starts runs: frozen values with their single defaults.

:mod:`bams3.watch.config` builds these from a YAML ``watch:`` section and the command
line; library users may build them directly.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

from ..errors import UsageError

__all__ = ["DEFAULT_PATTERN", "UrlEntry", "Source", "Launch", "WatchSettings"]

#: the files a folder source matches unless told otherwise
DEFAULT_PATTERN = "*.bam"


@dataclass(frozen=True, slots=True)
class UrlEntry:
    """One BAM named explicitly: its URL, optionally its index and its sample name.

    A signed HTTPS URL's index cannot be guessed (its signature differs), so give it here.
    """

    bam: str
    index: str | None = None
    sample: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One place new BAMs appear.

    Attributes
    ----------
    name
        How the cursor and ``--status`` refer to it; keep it stable (renaming a source
        makes its BAMs new again).
    folder
        A local folder, ``file://`` URL or ``s3://bucket/prefix`` listed every tick; BAMs
        are the objects whose key relative to it matches ``pattern``.
    pattern
        Shell glob relative to ``folder``: ``*`` and ``?`` stay within one path level and
        do not match a leading ``.``; ``**/`` matches any number of levels.
    urls
        BAMs named one by one (any scheme :mod:`bams3.io` reads).
    url_list
        A text file (local or ``s3://``) re-read every tick: one BAM URL per line,
        optionally followed by whitespace and its index URL; ``#`` starts a comment.
    """

    name: str
    folder: str | None = None
    pattern: str = DEFAULT_PATTERN
    urls: tuple[UrlEntry, ...] = ()
    url_list: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise UsageError("a watch source needs a non-empty name")
        if (self.folder is None) == (not self.urls and self.url_list is None):
            raise UsageError(f"watch source {self.name!r}: give either a folder or urls/url_list")
        if not self.pattern.strip() or self.pattern.startswith("/"):
            raise UsageError(f"watch source {self.name!r}: pattern {self.pattern!r} must be relative to the folder")


def _default_command() -> tuple[str, ...]:
    return (sys.executable, "-m", "snakemake")


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    """How a run is started: ``COMMAND TARGET... [--snakefile S] [--profile P]
    --configfile CONFIGFILE... OVERLAY --rerun-incomplete EXTRA...``.

    Attributes
    ----------
    command
        The program and its first arguments; default: the ``snakemake`` installed with
        bams3 (``python -m snakemake`` of this Python), whatever ``PATH`` says.
    snakefile, profile
        Passed as ``--snakefile`` / ``--profile`` when set.
    configfiles
        The workflow's config files; the run's overlay (its samples sheet) comes after
        them, so it wins for ``samples`` and ``bam_urls`` only.
    extra_args
        Further arguments, as given (``--cores 8``, ``--executor slurm``...).
    targets
        Targets of the run (default: the workflow's default target).
    """

    command: tuple[str, ...] = field(default_factory=_default_command)
    snakefile: str | None = None
    profile: str | None = None
    configfiles: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.command:
            raise UsageError("watch: the run command cannot be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchSettings:
    """Everything a watcher needs; every knob has its one default here.

    Attributes
    ----------
    sources
        Where new BAMs appear.
    cursor
        Folder or ``s3://`` prefix of the durable cursor (shared by cooperating watchers).
    runs_dir
        Local folder for each run's samples sheet, config overlay and log
        (``<runs_dir>/<run id>/``). Keep it inside the workflow's working directory when
        an executor ships only that directory to its jobs (AWS Batch).
    interval
        Seconds between two listings of the sources.
    max_batch
        Most BAMs in one run (one Snakemake invocation).
    max_runs
        Most runs this watcher has going at once.
    max_attempts
        Runs per BAM (failed, or abandoned by a killed watcher) before it is reported as
        failed and left alone until ``--reset``.
    require_index
        Wait until a ``.bai``/``.csi`` at least as new as the BAM is next to it.
    reprocess_changed
        Process a BAM again when its size or ETag changes after it was processed (or
        after it failed); otherwise a processed BAM is never started again.
    lease
        Seconds a run stays claimed without its watcher renewing the claim. The watcher
        renews every third of it; after a crash, another watcher (or this one restarted)
        retries the run once the lease has expired. Keep it well above clock skew between
        machines sharing a cursor.
    launch
        How runs are started.
    """

    sources: tuple[Source, ...]
    cursor: str = ".bams3-watch/cursor"
    runs_dir: str = ".bams3-watch/runs"
    interval: float = 60.0
    max_batch: int = 10
    max_runs: int = 1
    max_attempts: int = 3
    require_index: bool = False
    reprocess_changed: bool = False
    lease: float = 300.0
    launch: Launch = field(default_factory=Launch)

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UsageError(f"watch source names must be unique; repeated: {', '.join(repeated)}")
        for name in ("max_batch", "max_runs", "max_attempts"):
            if getattr(self, name) < 1:
                raise UsageError(f"watch: {name} must be at least 1, not {getattr(self, name)}")
        for name in ("interval", "lease"):
            if not getattr(self, name) > 0:
                raise UsageError(f"watch: {name} must be a positive number of seconds, not {getattr(self, name)}")
