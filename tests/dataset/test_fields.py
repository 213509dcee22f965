"""Format v2's block codec on records samtools would not write: each stream's odd corners, byte for byte.

Blocks are built from columns (:func:`bams3.dataset.fields.columns.assemble`), coded, decoded and
compared as raw bytes; the real-BAM round trips live in test_roundtrip.py and test_s3.py.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

from bams3.dataset.fields import quality
from bams3.dataset.fields.codec import FieldsCodec, reg2bin
from bams3.dataset.fields.columns import Columns, assemble
from bams3.dataset.fields.container import CorruptStream

CODEC = FieldsCodec(level=3, block_bytes=1 << 20)


def _aux(*fields: tuple[bytes, bytes, bytes]) -> bytes:
    return b"".join(tag + typ + value for tag, typ, value in fields)


def _block(n: int, rng: np.random.Generator, *, aux: list[bytes] | None = None, names: list[bytes] | None = None,
           **columns: np.ndarray) -> bytes:
    """Raw BAM records of n reads on reference 0 with random fields (``columns`` override them)."""
    l_seq = columns.pop("l_seq", rng.integers(0, 40, n)).astype(np.int32)
    pos = np.sort(rng.integers(0, 10_000, n)).astype(np.int32)
    n_cigar = np.where(l_seq > 0, 1, 0).astype(np.uint16)
    cigar = (l_seq[l_seq > 0].astype(np.uint32) << 4).astype("<u4").tobytes()  # "<l_seq>M"
    names = names if names is not None else [f"r{i % (n // 2 + 1)}".encode() for i in range(n)]
    aux = aux if aux is not None else [b""] * n
    values = dict(
        ref_id=np.zeros(n, np.int32), pos=pos, end=pos.astype(np.int64) + np.maximum(l_seq, 1),
        flag=rng.choice([0x1 | 0x40, 0x1 | 0x80 | 0x10, 0x4, 0x100, 0x800 | 0x10], n).astype(np.uint16),
        mapq=rng.integers(0, 256, n).astype(np.uint8), bin=rng.integers(0, 65536, n).astype(np.uint16),
        l_seq=l_seq, next_ref_id=rng.integers(-1, 2, n).astype(np.int32),
        next_pos=rng.integers(-2**31, 2**31, n).astype(np.int32), tlen=rng.integers(-2**31, 2**31, n).astype(np.int32),
        name_len=np.array([len(x) for x in names], np.uint8), names=b"".join(names), n_cigar=n_cigar, cigar=cigar,
        seq=rng.integers(0, 256, int(((l_seq.astype(np.int64) + 1) // 2).sum()), dtype=np.uint8).tobytes(),
        qual=rng.integers(0, 256, int(l_seq.sum()), dtype=np.uint8).tobytes(),
        aux_len=np.array([len(a) for a in aux], np.int64), aux=b"".join(aux),
    )
    values.update(columns)
    return bytes(assemble(Columns(**values)))


def _round_trip(raw: bytes, n: int) -> None:
    block = CODEC.encode(raw, ref_id=0, name="test")
    assert bytes(CODEC.decode(block.core, block.rest, block.sizes, ref_id=0, n_records=n)) == raw
    where = CODEC.decode_core(block.core, n)
    assert len(where.pos) == n


def test_random_fields_and_odd_pads() -> None:
    """Random MAPQ, bins (not reg2bin), mate fields and tlen at the int32 limits, every byte of
    sequence (pad nibbles included) and quality: all kept."""
    rng = np.random.default_rng(1)
    _round_trip(_block(500, rng), 500)


def test_aux_of_every_kind_and_malformed() -> None:
    rng = np.random.default_rng(2)
    ints = [(b"NM", t, struct.pack(f"<{f}", v)) for t, f, v in
            ((b"c", "b", -3), (b"C", "B", 200), (b"s", "h", -300), (b"S", "H", 60000), (b"i", "i", -2**31),
             (b"I", "I", 2**32 - 1))]
    aux = [
        _aux(ints[i % 6], (b"RG", b"Z", b"grp1\0"), (b"XA", b"A", b"x")) for i in range(6)
    ] + [
        _aux((b"de", b"f", struct.pack("<f", 0.25)), (b"HX", b"H", b"1AE3\0")),
        _aux((b"CG", b"B", b"I" + struct.pack("<I3I", 3, 1, 2, 3)), (b"ML", b"B", b"C" + struct.pack("<I", 0))),
        b"",
        _aux((b"ZZ", b"Z", b"\0")),
        b"NMi\x01\x00",  # truncated integer: kept verbatim
        _aux((b"RG", b"Z", b"grp1\0")) + b"XXq123",  # unknown type after a good field: verbatim
        b"ZZZnoterminator",  # unterminated string: verbatim
        b"Q",  # shorter than a field header: verbatim
        _aux((b"BB", b"B", b"d" + struct.pack("<I", 1) + b"12345678")),  # unknown array subtype: verbatim
        _aux((b"NM", b"C", b"\x05"), (b"NM", b"C", b"\x06")),  # a tag twice
    ]
    _round_trip(_block(len(aux), rng, aux=aux), len(aux))


def test_names_links_and_mate_chains() -> None:
    """Names repeated many times (several primaries per name and segment: chains of mates), empty
    names, names that differ only in length or in an inner NUL byte."""
    rng = np.random.default_rng(3)
    names = [b"pair", b"pair", b"pair", b"pair", b"", b"", b"a\0b", b"a", b"a\0", b"pair"] * 30
    n = len(names)
    flag = np.tile(np.array([0x41, 0x81, 0x41, 0x81, 0x4, 0x4, 0x41, 0x81, 0x41, 0x81], np.uint16), 30)
    _round_trip(_block(n, rng, names=names, flag=flag), n)


def test_empty_block_parts() -> None:
    """Reads without sequence, CIGAR, qualities or aux (secondary '*' records, unmapped reads)."""
    rng = np.random.default_rng(4)
    _round_trip(_block(50, rng, l_seq=np.zeros(50, np.int32)), 50)


@pytest.mark.parametrize("alphabet", [[0xFF], [30], list(range(94)), list(range(256))])
def test_quality_alphabets(alphabet: list[int]) -> None:
    """A single value, all 94 Phred values, every byte value; records of '*' (all 0xFF) and
    records with a stray 0xFF among real qualities."""
    rng = np.random.default_rng(5)
    l_seq = rng.integers(0, 300, 200)
    qual = bytearray(np.asarray(alphabet, np.uint8)[rng.integers(0, len(alphabet), int(l_seq.sum()))].tobytes())
    starts = np.concatenate([[0], np.cumsum(l_seq)])
    for r in range(0, 200, 7):
        qual[starts[r]: starts[r + 1]] = b"\xff" * int(l_seq[r])
    flag = rng.choice([0, 0x10, 0x80, 0x90], 200)
    stream = quality.encode_qualities(bytes(qual), l_seq, flag)
    assert quality.decode_qualities(stream, l_seq, flag) == bytes(qual)


def test_damaged_quality_streams_are_detected() -> None:
    rng = np.random.default_rng(6)
    l_seq = np.full(100, 150)
    qual = rng.choice(np.array([2, 12, 23, 37, 41], np.uint8), 15_000).tobytes()
    flag = np.zeros(100, np.int64)
    stream = bytearray(quality.encode_qualities(qual, l_seq, flag))
    for damage in (lambda s: s.__setitem__(len(s) // 2, s[len(s) // 2] ^ 0x40), lambda s: s.__delitem__(slice(-8, None)),
                   lambda s: s.__setitem__(0, 9)):
        broken = bytearray(stream)
        damage(broken)
        with pytest.raises(CorruptStream):
            quality.decode_qualities(bytes(broken), l_seq, flag)


def test_damaged_blocks_are_detected() -> None:
    rng = np.random.default_rng(7)
    raw = _block(200, rng)
    block = CODEC.encode(raw, ref_id=0, name="test")
    rest = bytearray(block.rest)
    rest[len(rest) // 3] ^= 0x01
    with pytest.raises(CorruptStream):
        CODEC.decode(block.core, bytes(rest), block.sizes, ref_id=0, n_records=200)
    with pytest.raises(CorruptStream):
        CODEC.decode(block.core, block.rest, block.sizes, ref_id=0, n_records=199)


def test_reg2bin_matches_htslib() -> None:
    """Values htslib's hts_reg2bin(beg, end, 14, 5) gives (SAMv1 section 5.3)."""
    beg = np.array([-1, 0, 16383, 16384, 0, 100_000, 0, 0])
    end = np.array([0, 1, 16385, 16385, 1 << 17, 400_000, 1 << 26, (1 << 26) + 1])
    assert reg2bin(beg, end).tolist() == [4680, 4681, 585, 4682, 585, 73, 1, 0]
