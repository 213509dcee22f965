"""The BAM header: SAM header text and the reference dictionary, kept byte for byte.

SAMv1 §4.2: ``magic "BAM\\1"``, ``l_text`` + ``text``, ``n_ref``, then for each
reference ``l_name`` + NUL-terminated ``name`` + ``l_ref``. The reference list, not the
``@SQ`` lines of the text, is what record ``refID`` fields index into.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..errors import BamFormatError, RegionError
from . import _layout as L

__all__ = ["Reference", "BamHeader", "HeaderParser"]

_INT32 = struct.Struct("<i")


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of the reference dictionary: ``refID`` is its position in the list."""

    name: str
    length: int


@dataclass(frozen=True)
class BamHeader:
    """A parsed BAM header.

    Attributes
    ----------
    text
        The SAM header text (up to its first NUL; htslib pads some headers with NULs).
    references
        The reference dictionary, in ``refID`` order.
    raw
        The header's bytes exactly as in the file, magic included: writing ``raw``
        followed by the raw records reproduces the uncompressed BAM stream.
    """

    text: str
    references: tuple[Reference, ...]
    raw: bytes = field(repr=False)
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids: dict[str, int] = {}
        for index, ref in enumerate(self.references):
            ids.setdefault(ref.name, index)
        object.__setattr__(self, "_ids", ids)

    @property
    def n_references(self) -> int:
        return len(self.references)

    def ref_id(self, name: str) -> int:
        """The ``refID`` of a reference name.

        Raises
        ------
        RegionError
            The name is not in the reference dictionary.
        """
        try:
            return self._ids[name]
        except KeyError:
            raise RegionError(f"contig {name!r} is not in the BAM header ({self.n_references} references)") from None

    def ref_name(self, ref_id: int) -> str:
        """The name of a ``refID``; ``"*"`` for -1 (no reference), as in SAM."""
        if ref_id == -1:
            return "*"
        return self.references[ref_id].name

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, *, name: str) -> BamHeader:
        """Parse a header from the start of uncompressed BAM data that holds all of it.

        Raises
        ------
        BamFormatError
            Bad magic, impossible lengths, or ``data`` ends inside the header.
        """
        parser = HeaderParser(name=name)
        header = parser.feed(data)
        if header is None:
            raise BamFormatError(f"{name}: truncated BAM header (data ends after {len(data)} bytes)")
        return header


class HeaderParser:
    """Parse a header from data that arrives a block at a time.

    ``feed(data)`` is called with all the uncompressed bytes so far (a growing prefix of
    the stream) and returns the header once it is complete, else ``None``. It remembers
    how far it got, so a header of 100,000 references spread over many blocks is parsed
    in one pass. Lengths are checked against limits before anything is sized by them.
    """

    def __init__(self, *, name: str) -> None:
        self._name = name
        self._pos = 0  # parse position in the data
        self._text: bytes | None = None
        self._n_ref: int | None = None
        self._refs: list[Reference] = []
        #: once the header is complete, its size in bytes
        self.size: int | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> BamHeader | None:
        with memoryview(data) as view:  # released on return, so the caller may grow ``data``
            return self._feed(view)

    def _feed(self, view: memoryview) -> BamHeader | None:
        name = self._name
        size = len(view)
        if self._text is None:
            if size < 8:
                if size and bytes(view[: min(size, 4)]) != L.BAM_MAGIC[: min(size, 4)]:
                    raise BamFormatError(f"{name}: not a BAM file (bad magic {bytes(view[:4])!r} in the decompressed data)")
                return None
            if bytes(view[:4]) != L.BAM_MAGIC:
                raise BamFormatError(f"{name}: not a BAM file (bad magic {bytes(view[:4])!r} in the decompressed data)")
            (l_text,) = _INT32.unpack_from(view, 4)
            if not 0 <= l_text <= L.MAX_HEADER_TEXT_BYTES:
                raise BamFormatError(f"{name}: BAM header declares an impossible text length {l_text}")
            if size < 8 + l_text:
                return None
            self._text = bytes(view[8 : 8 + l_text])
            self._pos = 8 + l_text
        if self._n_ref is None:
            if size < self._pos + 4:
                return None
            (n_ref,) = _INT32.unpack_from(view, self._pos)
            if not 0 <= n_ref <= L.MAX_REFERENCES:
                raise BamFormatError(f"{name}: BAM header declares an impossible number of references {n_ref}")
            self._n_ref = n_ref
            self._pos += 4
        refs = self._refs
        pos = self._pos
        while len(refs) < self._n_ref:
            if size < pos + 4:
                break
            (l_name,) = _INT32.unpack_from(view, pos)
            if not 1 <= l_name <= L.MAX_REFERENCE_NAME_BYTES:
                raise BamFormatError(f"{name}: BAM header reference {len(refs)} has an impossible name length {l_name}")
            if size < pos + 4 + l_name + 4:
                break
            raw_name = bytes(view[pos + 4 : pos + 4 + l_name]).split(b"\0", 1)[0]
            (l_ref,) = _INT32.unpack_from(view, pos + 4 + l_name)
            if l_ref < 0:
                raise BamFormatError(f"{name}: BAM header reference {raw_name!r} has a negative length {l_ref}")
            refs.append(Reference(raw_name.decode("utf-8", "replace"), l_ref))
            pos += 8 + l_name
        self._pos = pos
        if len(refs) < self._n_ref:
            return None
        self.size = pos
        text = self._text.split(b"\0", 1)[0].decode("utf-8", "replace")
        return BamHeader(text=text, references=tuple(refs), raw=bytes(view[:pos]))
