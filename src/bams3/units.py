"""Human-friendly numbers on the command line and in config: ``2M`` bases, ``256MiB`` bytes.

Genomic lengths use decimal suffixes (``1M`` bases is 1,000,000, as in samtools region
syntax), byte sizes use binary ones (``5M`` bytes is 5 MiB, as in ``samtools sort -m``);
keeping the two apart in two functions avoids the classic off-by-4.9% mistake.
"""
from __future__ import annotations

import re

from .errors import UsageError

__all__ = ["parse_bases", "parse_bytes", "format_bytes"]

_NUMBER = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_BASE_SUFFIX = {"": 1, "K": 10**3, "KB": 10**3, "KBP": 10**3, "M": 10**6, "MB": 10**6, "MBP": 10**6,
                "G": 10**9, "GB": 10**9, "GBP": 10**9, "BP": 1}
_BYTE_SUFFIX = {"": 1, "B": 1, "K": 2**10, "KIB": 2**10, "KB": 10**3, "M": 2**20, "MIB": 2**20, "MB": 10**6,
                "G": 2**30, "GIB": 2**30, "GB": 10**9, "T": 2**40, "TIB": 2**40, "TB": 10**12}


def _parse(text: str | int, table: dict[str, int], what: str) -> int:
    if isinstance(text, int):
        value = text
    else:
        match = _NUMBER.match(str(text))
        suffix = match.group(2).upper() if match else None
        if not match or suffix not in table:
            raise UsageError(f"cannot read {what} {text!r}: expected a number with an optional suffix "
                             f"({', '.join(s for s in table if s)})")
        value = float(match.group(1).replace(",", "").replace("_", "")) * table[suffix]
        if value != int(value):
            raise UsageError(f"cannot read {what} {text!r}: not a whole number")
        value = int(value)
    if value <= 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    return value


def parse_bases(text: str | int) -> int:
    """A genomic length: ``1000``, ``16K``, ``2M``, ``1.5M``, ``1,000,000`` (decimal suffixes).

    >>> parse_bases("2M"), parse_bases("16k"), parse_bases("1,000")
    (2000000, 16000, 1000)
    """
    return _parse(text, _BASE_SUFFIX, "length")


def parse_bytes(text: str | int) -> int:
    """A byte size: ``256MiB``, ``256M`` (binary), ``100MB`` (decimal), ``4096``.

    >>> parse_bytes("5M"), parse_bytes("5MB"), parse_bytes("1GiB")
    (5242880, 5000000, 1073741824)
    """
    return _parse(text, _BYTE_SUFFIX, "size")


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: sizes for people (reports, progress, stats)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
