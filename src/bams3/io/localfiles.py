"""Write local files all at once or not at all, for code that needs a real path.

A job killed half-way (a Slurm time limit, a corrupt block, Ctrl-C) must not leave a
plausible-looking half file where Snakemake or a later step would take it for a finished
one. Store writes (:meth:`bams3.io.store.Store.open_write`, ``put``) already commit
atomically; these helpers are for writers that want a path of their own (pyarrow's
Parquet writer, a text file written line by line, a directory of per-chunk files): they
get a hidden temporary name in the destination directory, renamed into place only when
complete; on any failure the temporary is removed.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_dir", "write_text_atomic"]


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    The temporary name (not yet created; the block creates it, with the permissions the
    umask gives) is in the same directory, created if missing, so that the final
    :func:`os.replace` is atomic on POSIX file systems. Whatever the block raises
    (including ``KeyboardInterrupt``), the temporary file is deleted and ``path`` is
    left as it was.

    A destination that exists and is not a regular file (``/dev/stdout``, a named pipe)
    is yielded as is: renaming onto it would replace the device, not write to it.
    """
    final = Path(path)
    if final.exists() and not final.is_file() and not final.is_dir():
        yield final
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Like :func:`atomic_path` for a directory: fill the yielded one, it replaces ``path`` on success.

    An existing ``path`` is removed just before the rename (the swap of a directory
    cannot be a single atomic step; a reader sees the old one, nothing, then the new one,
    never a half-filled one).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
