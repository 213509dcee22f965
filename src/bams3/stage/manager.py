"""``DataStagingManager``: stage a manifest into a fresh run directory and clean it up.

One manager owns one run directory. It is made on the first staging call (a unique
``bams3-stage-*`` directory under ``workdir``, or exactly ``run_dir`` when a workflow
needs a fixed path) and :meth:`cleanup` removes it and every directory the manager had
to create for it, nothing else: the content cache and any pre-existing directory stay.

Entries are staged in parallel by a thread pool (downloads are I/O bound; the io layer
releases the GIL while waiting and its counters are thread-safe).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from ..errors import Bams3Error, UsageError
from ..progress import progress
from ..units import format_bytes
from ._fetch import StagedFile, stage_entry, wants_decompress
from ._names import SCRATCH_DIR, check_no_nesting
from ._params import resolve_params
from .cache import ContentCache, default_cache_dir
from .models import FileFailure, ManifestEntry, StageRequest, StageResponse

__all__ = ["DataStagingManager", "OnError"]

log = logging.getLogger("bams3.stage")

OnError = Literal["fail", "continue"]


def _redact_text(text: str) -> str:
    from ..io.redact import redact_text

    return redact_text(text)


def _with_name(exc: Bams3Error, name: str) -> Bams3Error:
    """The same kind of error, its message prefixed with the manifest name that failed."""
    text = str(exc)
    if text.startswith(f"{name} ") or text.startswith(f"{name}:"):
        return exc
    try:
        named = type(exc)(f"cannot stage {name!r}: {text}")
    except TypeError:  # an error class with a different constructor: keep it as it is
        return exc
    named.__cause__ = exc
    return named


class DataStagingManager:
    """Stage data manifests into one run directory and resolve tool parameters to it.

    Parameters
    ----------
    workdir
        Where the unique run directory is made (default: the system temporary
        directory, ``$TMPDIR``). Created if missing (and removed again by
        :meth:`cleanup` if it was and is then empty).
    run_dir
        Use exactly this directory instead (it must be missing or empty); for workflows,
        whose outputs have fixed paths. Mutually exclusive with ``workdir``.
    cache_dir
        Root of the content cache (default: :func:`~bams3.stage.cache.default_cache_dir`).
    use_cache
        ``False`` downloads every file afresh and leaves no trace outside the run directory.
    jobs
        Files staged at the same time.
    on_error
        ``"fail"``: the first failure stops the run and is raised. ``"continue"``: failures
        are logged and reported (:attr:`failures`, the response's ``failed_files``), the
        other files are still staged.
    decompress
        Decompress entries whose URL ends in ``.gz`` or ``.zst`` unless the entry says
        otherwise (an entry's own ``"decompress"`` always wins).
    keep
        Leave the run directory in place when used as a context manager.
    show_progress
        Report progress (a bar on a terminal, log lines otherwise).
    """

    def __init__(self, *, workdir: str | os.PathLike[str] | None = None,
                 run_dir: str | os.PathLike[str] | None = None,
                 cache_dir: str | os.PathLike[str] | None = None, use_cache: bool = True, jobs: int = 4,
                 on_error: OnError = "fail", decompress: bool = False, keep: bool = False,
                 show_progress: bool = True) -> None:
        if workdir is not None and run_dir is not None:
            raise UsageError("give either a work directory or a run directory, not both")
        if jobs < 1:
            raise UsageError(f"jobs must be at least 1, got {jobs}")
        if on_error not in ("fail", "continue"):
            raise UsageError(f"on_error must be 'fail' or 'continue', got {on_error!r}")
        self._workdir = Path(workdir) if workdir is not None else None
        self._fixed_run_dir = Path(run_dir) if run_dir is not None else None
        self.cache = ContentCache(Path(cache_dir) if cache_dir is not None else default_cache_dir()) \
            if use_cache else None
        self.jobs = jobs
        self.on_error: OnError = on_error
        self.decompress = decompress
        self.keep = keep
        self.show_progress = show_progress
        self.failures: list[FileFailure] = []
        self.staged: list[StagedFile] = []
        self._run_dir: Path | None = None
        self._owns_run_dir = False
        self._created_parents: list[Path] = []

    def __repr__(self) -> str:
        return f"DataStagingManager(run_dir={str(self._run_dir) if self._run_dir else None!r}, cache={self.cache!r})"

    # -- run directory -------------------------------------------------------------------

    @property
    def run_dir(self) -> Path | None:
        """The run directory, once the first staging call has made it."""
        return self._run_dir

    def _make_parents(self, directory: Path) -> None:
        missing = [p for p in (directory, *directory.parents) if not p.exists()]
        for path in reversed(missing):
            path.mkdir(exist_ok=True)
            self._created_parents.append(path)

    def _ensure_run_dir(self) -> Path:
        if self._run_dir is not None:
            return self._run_dir
        if self._fixed_run_dir is not None:
            run_dir = self._fixed_run_dir.absolute()
            if run_dir.is_symlink() or (run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir()))):
                raise UsageError(f"run directory {run_dir} must be missing or an empty directory")
            self._owns_run_dir = not run_dir.exists()
            self._make_parents(run_dir.parent)
            run_dir.mkdir(exist_ok=True)
        else:
            workdir = (self._workdir or Path(tempfile.gettempdir())).absolute()
            self._make_parents(workdir)
            run_dir = Path(tempfile.mkdtemp(prefix="bams3-stage-", dir=workdir))
            self._owns_run_dir = True
        self._run_dir = run_dir
        log.info("staging into %s", run_dir)
        return run_dir

    # -- staging ---------------------------------------------------------------------------

    def stage_files(self, params: Mapping[str, Any], manifest: Mapping[str, Any] | Sequence[ManifestEntry]
                    ) -> dict[str, Any]:
        """Stage every file of ``manifest``; return ``params`` with manifest names made local paths.

        Parameters
        ----------
        params
            Tool parameters (any JSON); strings equal to a manifest name are resolved at
            any depth, other values are returned unchanged.
        manifest
            ``{name: url or {"url", "sha256"?, "decompress"?}}`` (validated here) or
            already parsed entries.

        Raises
        ------
        ConfigError
            On an invalid manifest (nothing is staged then).
        Bams3Error
            With ``on_error="fail"``, the first staging failure.
        """
        if isinstance(manifest, Mapping):
            request = StageRequest.from_dict({"params": params, "data_manifest": manifest})
        else:
            check_no_nesting(entry.name for entry in manifest)
            request = StageRequest(params=dict(params), manifest=tuple(manifest))
        return dict(self.stage(request).plugin_params)

    def stage(self, request: StageRequest) -> StageResponse:
        """Stage a validated request and describe the outcome.

        With ``on_error="continue"`` this never raises for a file that cannot be staged:
        the response says which files failed and why. With ``"fail"`` it raises the first
        failure (files already staged stay until :meth:`cleanup`).
        """
        run_dir = self._ensure_run_dir()
        scratch = run_dir / SCRATCH_DIR
        scratch.mkdir(exist_ok=True)
        staged: dict[str, StagedFile] = {}
        failures: dict[str, FileFailure] = {}
        first_error: Bams3Error | None = None
        try:
            with progress("staging", total=len(request.manifest), unit="files",
                          enabled=self.show_progress) as bar, \
                    ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="bams3-stage") as pool:
                pending: dict[Future[StagedFile], ManifestEntry] = {
                    pool.submit(self._stage_one, entry, run_dir, scratch): entry for entry in request.manifest
                }
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        entry = pending.pop(future)
                        if future.cancelled():
                            continue
                        bar.update(1)
                        try:
                            staged[entry.name] = future.result()
                        except Bams3Error as exc:
                            failures[entry.name] = self._failure(entry, exc)
                            if self.on_error == "fail" and first_error is None:
                                first_error = _with_name(exc, entry.name)  # raised below: not logged twice
                                for other in pending:
                                    other.cancel()
                            else:
                                log.error("cannot stage %s: %s", entry.name, failures[entry.name].error)
                    pending = {f: e for f, e in pending.items() if not f.cancelled()}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if first_error is not None:
            raise first_error
        ordered = [staged[e.name] for e in request.manifest if e.name in staged]
        self.staged.extend(ordered)
        failed = tuple(failures[e.name] for e in request.manifest if e.name in failures)
        self.failures.extend(failed)
        paths = {item.name: str(item.path) for item in ordered}
        self._log_summary(ordered, failed)
        status = "success" if not failed else ("partial" if ordered else "failed")
        return StageResponse(status=status, staged_files=tuple(paths),
                             plugin_params=resolve_params(request.params, paths), run_dir=str(run_dir),
                             failed_files=failed)

    def _stage_one(self, entry: ManifestEntry, run_dir: Path, scratch: Path) -> StagedFile:
        decompress = wants_decompress(entry, default=self.decompress)
        log.debug("staging %s from %s%s", entry.name, entry.display_url, " (decompressing)" if decompress else "")
        item = stage_entry(entry, run_dir, scratch, cache=self.cache, decompress=decompress,
                           show_progress=self.show_progress)
        log.info("staged %s from %s (%s, %s downloaded)", entry.name, entry.display_url, item.origin,
                 format_bytes(item.downloaded))
        return item

    @staticmethod
    def _failure(entry: ManifestEntry, exc: Bams3Error) -> FileFailure:
        message = _redact_text(str(exc))
        return FileFailure(name=entry.name, url=entry.display_url, error=message, kind=type(exc).__name__)

    def _log_summary(self, staged: Sequence[StagedFile], failed: Sequence[FileFailure]) -> None:
        hits = sum(1 for item in staged if item.origin == "cache")
        downloaded = sum(item.downloaded for item in staged)
        log.info("staged %d of %d files (%d from the cache, %s downloaded)%s", len(staged),
                 len(staged) + len(failed), hits, format_bytes(downloaded),
                 f"; {len(failed)} failed: {', '.join(f.name for f in failed)}" if failed else "")

    # -- clean-up --------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Remove the run directory (its contents only, if it existed before) and the
        directories made for it. Safe to call twice; failures are logged, not raised."""
        run_dir, self._run_dir = self._run_dir, None
        if run_dir is None:
            return

        def report(function: Any, path: str, exc_info: Any) -> None:
            log.warning("clean-up could not remove %s: %s", path, exc_info[1])

        if self._owns_run_dir:
            shutil.rmtree(run_dir, onerror=report)
        else:
            for child in run_dir.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, onerror=report)
                else:
                    child.unlink(missing_ok=True)
        for parent in reversed(self._created_parents):
            try:
                parent.rmdir()
            except OSError:  # not empty: something else lives there now, keep it
                pass
        self._created_parents.clear()
        log.info("removed run directory %s", run_dir)

    def __enter__(self) -> DataStagingManager:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.keep:
            self.cleanup()
