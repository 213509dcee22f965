"""Rewrite tool parameters so that manifest names become local paths."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["resolve_params"]


def resolve_params(value: Any, paths: Mapping[str, str]) -> Any:
    """Return a copy of ``value`` with every string equal to a key of ``paths`` replaced.

    Strings are matched whole (``"hg38.fasta"`` is replaced, ``"--ref=hg38.fasta"`` is
    not: guessing inside strings would rewrite values that merely look like names).
    Lists, tuples and dicts are walked at any depth; dict keys, numbers, booleans and
    ``None`` are left as they are; the input is never modified.

    >>> resolve_params({"ref": "a.fa", "n": 4, "bams": ["x.bam", "y"]}, {"a.fa": "/r/a.fa", "x.bam": "/r/x.bam"})
    {'ref': '/r/a.fa', 'n': 4, 'bams': ['/r/x.bam', 'y']}
    """
    if isinstance(value, str):
        return paths.get(value, value)
    if isinstance(value, Mapping):
        return {key: resolve_params(item, paths) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve_params(item, paths) for item in value]
    return value
