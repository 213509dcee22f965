"""Genomic regions: samtools region strings, BED files and region lists.

One model, :class:`Region`, with **0-based, half-open** coordinates internally (as BED and
the BAM format store them); conversion from the 1-based inclusive samtools syntax happens
once, here, so no other module mixes the two conventions.

Samtools syntax (``samtools view``/htslib ``hts_parse_region``):

- ``chr1``: the whole reference;
- ``chr1:1000``: from position 1000 to the end of the reference;
- ``chr1:1000-2000``: positions 1000 to 2000, 1-based, both inclusive;
- ``chr1:-2000``: from the start to 2000;
- commas and ``K``/``M``/``G`` suffixes in numbers (``chr20:10M-11M``, ``chr1:1,000,000``);
- ``{HLA-A*01:01}:1-100``: braces around a reference name that contains a colon; a name
  that is itself a known reference (even with colons) is taken whole.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import RegionError

__all__ = ["Region", "parse_region", "parse_regions", "read_bed", "read_region_file", "read_regions"]

_POS = r"[0-9][0-9,]*(?:\.[0-9]+)?[kKmMgG]?"
_RANGE = re.compile(rf"^(?P<start>{_POS})?(?:-(?P<end>{_POS})?)?$")
_MULT = {"k": 10**3, "m": 10**6, "g": 10**9}
#: positions beyond this are certainly typos (BAM positions are int32)
MAX_POSITION = 2**31 - 1


@dataclass(frozen=True, slots=True, order=True)
class Region:
    """A span of one reference: 0-based ``start`` inclusive, ``end`` exclusive (None: to the end).

    ``name`` is a label for tables (a BED name column, or the samtools string the user typed).
    """

    contig: str
    start: int = 0
    end: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.start < 0:
            raise RegionError(f"region {self.label}: start is before the beginning of {self.contig}")
        if self.end is not None and self.end < self.start:
            raise RegionError(f"region {self.label}: end is before start")

    @property
    def label(self) -> str:
        """The name to show for this region: its BED name, or its samtools string."""
        return self.name or self.to_samtools()

    def to_samtools(self) -> str:
        """Back to 1-based inclusive samtools syntax (``chr1:1001-2000``)."""
        contig = f"{{{self.contig}}}" if ":" in self.contig else self.contig
        if self.start == 0 and self.end is None:
            return contig
        if self.end is None:
            return f"{contig}:{self.start + 1}"
        return f"{contig}:{self.start + 1}-{self.end}"

    def clamp(self, length: int) -> "Region":
        """The same region with ``end`` filled in (or cut) at the reference ``length``."""
        end = length if self.end is None else min(self.end, length)
        return Region(self.contig, min(self.start, end), end, self.name)

    def check(self, references: Mapping[str, int], *, source: str = "") -> "Region":
        """Raise :class:`RegionError` when the contig is unknown; return the clamped region."""
        if self.contig not in references:
            where = f" in {source}" if source else ""
            raise RegionError(f"unknown reference {self.contig!r} in region {self.label}{where}")
        return self.clamp(references[self.contig])


def _position(text: str, region: str) -> int:
    number = text.replace(",", "")
    mult = 1
    if number[-1].lower() in _MULT:
        mult, number = _MULT[number[-1].lower()], number[:-1]
    try:
        value = float(number) * mult
    except ValueError:
        raise RegionError(f"malformed region {region!r}: bad position {text!r}") from None
    if not math.isfinite(value) or value > MAX_POSITION or value != int(value):  # 400 digits parse as inf
        raise RegionError(f"malformed region {region!r}: bad position {text!r}")
    return int(value)


def parse_region(text: str, references: Mapping[str, int] | Iterable[str] | None = None) -> Region:
    """Parse one samtools-style region string.

    ``references`` (names, or names -> lengths) disambiguates names that contain colons;
    it does not check the name (see :meth:`Region.check`), so a region can be parsed before
    the header is known.

    >>> parse_region("chr1:1,001-2k")
    Region(contig='chr1', start=1000, end=2000, name=None)
    >>> parse_region("chr20:10M-11M").to_samtools()
    'chr20:10000001-11000000'
    """
    original = text
    text = text.strip()
    if not text:
        raise RegionError("malformed region '': empty")
    known = set(references) if references is not None else set()
    if text.startswith("{"):
        close = text.find("}")
        if close < 0:
            raise RegionError(f"malformed region {original!r}: unbalanced brace")
        contig, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise RegionError(f"malformed region {original!r}: expected ':' after '}}'")
        rest = rest[1:]
    elif text in known:
        contig, rest = text, ""
    else:
        contig, sep, rest = text.rpartition(":")
        if not sep:
            contig, rest = text, ""
        elif known and contig not in known and text in known:
            contig, rest = text, ""
    if not contig or any(ch.isspace() for ch in contig):
        raise RegionError(f"malformed region {original!r}: bad reference name")
    if not rest:
        return Region(contig)
    match = _RANGE.match(rest)
    if not match or (match.group("start") is None and match.group("end") is None):
        raise RegionError(f"malformed region {original!r}: expected chr, chr:start or chr:start-end")
    start = _position(match.group("start"), original) if match.group("start") else 1
    end = _position(match.group("end"), original) if match.group("end") else None
    if start < 1:
        raise RegionError(f"malformed region {original!r}: positions are 1-based")
    if end is not None and end < start:
        raise RegionError(f"malformed region {original!r}: end {end} is before start {start}")
    return Region(contig, start - 1, end)


def parse_regions(texts: Iterable[str], references: Mapping[str, int] | Iterable[str] | None = None) -> list[Region]:
    """Parse several region strings (the command line's positional regions)."""
    return [parse_region(t, references) for t in texts]


def _data_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip("\r\n")
                stripped = line.strip()
                if not stripped or stripped.startswith(("#", "track", "browser")):
                    continue
                yield number, line
    except FileNotFoundError:
        raise RegionError(f"{path}: region file not found") from None
    except UnicodeDecodeError:
        raise RegionError(f"{path}: not a text file") from None


def read_bed(path: str | Path) -> list[Region]:
    """Regions of a BED file (0-based, half-open: taken as they are; the 4th column names them)."""
    path = Path(path)
    regions = []
    for number, line in _data_lines(path):
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) < 3:
            raise RegionError(f"{path}:{number}: a BED line needs chrom, start and end")
        try:
            start, end = int(fields[1]), int(fields[2])
        except ValueError:
            raise RegionError(f"{path}:{number}: BED start/end must be integers") from None
        if start < 0 or end < start:
            raise RegionError(f"{path}:{number}: BED interval {start}-{end} is invalid")
        name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else None
        regions.append(Region(fields[0], start, end, name))
    return regions


def read_region_file(path: str | Path, references: Mapping[str, int] | Iterable[str] | None = None) -> list[Region]:
    """One samtools-style region per line (``#`` comments allowed)."""
    path = Path(path)
    regions = []
    for number, line in _data_lines(path):
        try:
            regions.append(parse_region(line, references))
        except RegionError as exc:
            raise RegionError(f"{path}:{number}: {exc}") from None
    return regions


def read_regions(path: str | Path, references: Mapping[str, int] | Iterable[str] | None = None) -> list[Region]:
    """A BED file (``.bed``/``.bed.gz`` or three tab-separated columns) or a region list file."""
    path = Path(path)
    if path.suffix.lower() == ".bed":
        return read_bed(path)
    for _, line in _data_lines(path):
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit():
            return read_bed(path)
        break
    return read_region_file(path, references)
