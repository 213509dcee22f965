"""Manifest names become paths inside the run directory: check them before they touch disk.

A manifest comes from whoever sends the request, so a name is untrusted input. It must
stay a plain relative path below the run directory: ``../x``, ``/etc/passwd``, ``a//b``,
backslashes (a Windows separator on some tools), control characters (they forge log
lines) and the directory the stager keeps its partial downloads in are all rejected
when the request is read, long before anything is written. :func:`target_path` checks
again on disk, after resolving symlinks, so that a link planted in a reused run
directory cannot redirect a download elsewhere.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from ..errors import ConfigError

__all__ = ["SCRATCH_DIR", "check_name", "check_no_nesting", "target_path"]

#: directory inside the run directory that holds partial downloads (never a manifest name)
SCRATCH_DIR = ".bams3-partial"

_MAX_NAME = 1024


def check_name(name: object) -> str:
    """Return ``name`` if it is a safe relative path, else raise :class:`ConfigError`.

    Parameters
    ----------
    name
        A data manifest key such as ``"hg38.fasta"`` or ``"refs/hg38.fasta"``.

    Raises
    ------
    ConfigError
        If the name is empty, absolute, climbs out with ``..``, has empty or ``.``
        components, backslashes or control characters, or uses the reserved scratch name.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"data_manifest: a file name must be a non-empty string, got {name!r}")
    shown = name if len(name) <= 80 else name[:77] + "..."
    if len(name) > _MAX_NAME:
        raise ConfigError(f"data_manifest: file name {shown!r} is longer than {_MAX_NAME} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError(f"data_manifest: file name {shown!r} contains control characters")
    if "\\" in name:
        raise ConfigError(f"data_manifest: file name {shown!r} contains a backslash; use '/' between directories")
    if name.startswith("/"):
        raise ConfigError(
            f"data_manifest: file name {shown!r} is absolute; names must be relative to the run directory"
        )
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ConfigError(
            f"data_manifest: file name {shown!r} has an empty, '.' or '..' component; "
            "names must stay inside the run directory"
        )
    if parts[0] == SCRATCH_DIR:
        raise ConfigError(f"data_manifest: file name {shown!r} uses the reserved directory {SCRATCH_DIR!r}")
    return name


def check_no_nesting(names: Iterable[str]) -> None:
    """Reject a name that is also a directory of another (``a`` and ``a/b``): both cannot exist.

    Raises
    ------
    ConfigError
        Naming the two clashing entries.
    """
    files = set(names)
    for name in sorted(files):
        for parent in PurePosixPath(name).parents:
            if str(parent) in files:
                raise ConfigError(
                    f"data_manifest: {str(parent)!r} is a file name and also the directory of {name!r}"
                )


def target_path(run_dir: Path, name: str) -> Path:
    """The final path of ``name`` in ``run_dir``, with its parent directories created.

    The parents are created one at a time and each must resolve inside the run
    directory, so neither ``..`` nor a symlink already present can lead outside it.

    Raises
    ------
    ConfigError
        If the resolved path would leave the run directory.
    """
    check_name(name)
    root = Path(os.path.realpath(run_dir))
    parent = root
    for part in name.split("/")[:-1]:
        parent = parent / part
        if parent.is_symlink():
            raise ConfigError(f"data_manifest: {name!r} would be written through a symlink ({part!r})")
        parent.mkdir(exist_ok=True)
    target = parent / name.rsplit("/", 1)[-1]
    resolved_parent = Path(os.path.realpath(target.parent))
    if resolved_parent != root and root not in resolved_parent.parents:
        raise ConfigError(f"data_manifest: {name!r} would be written outside the run directory")
    if target.is_symlink() or target.exists():
        raise ConfigError(f"data_manifest: {name!r} already exists in the run directory")
    return target
