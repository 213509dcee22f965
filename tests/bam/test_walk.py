"""The C record walker on hand-built records: fields, alignment ends, bounds and bad lengths."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from bams3.bam import _layout as L
from bams3.bam import _walk
from bams3.bam.records import RECORD_DTYPE
from tests.bam.records_helpers import cg_tag, cigar_ops, make_record

MAX = L.MAX_RECORD_BYTES


def walk(data: bytes, capacity: int = 16) -> tuple[np.ndarray, int]:
    out = np.zeros(capacity, dtype=RECORD_DTYPE)
    n, pos = _walk.walk(data, 0, len(data), out, MAX)
    return out[:n], pos


def test_dtype_is_built_from_the_c_layout() -> None:
    assert RECORD_DTYPE.itemsize == _walk.ITEMSIZE
    assert [name for name, _, _ in _walk.FIELDS] == list(RECORD_DTYPE.names)


def test_fixed_fields_spans_and_ends() -> None:
    a = make_record(ref_id=2, pos=1000, flag=99, mapq=37, cigar="5S20M3D10M2I", l_seq=37, name=b"abc",
                    next_ref_id=2, next_pos=1200, tlen=-250, bin_=4681)
    b = make_record(ref_id=-1, pos=-1, flag=77, cigar="", l_seq=5)
    rows, pos = walk(a + b)
    assert pos == len(a) + len(b)
    r = rows[0]
    assert (r["ref_id"], r["pos"], r["flag"], r["mapq"], r["l_seq"]) == (2, 1000, 99, 37, 37)
    assert (r["next_ref_id"], r["next_pos"], r["tlen"], r["bin"], r["n_cigar"], r["l_read_name"]) == (2, 1200, -250, 4681, 5, 4)
    assert (r["offset"], r["size"]) == (0, len(a))
    assert r["end"] == 1000 + 20 + 3 + 10
    assert (rows[1]["offset"], rows[1]["end"]) == (len(a), 0)  # unmapped at -1: pos + 1


@pytest.mark.parametrize(
    ("cigar", "flag", "expected_span"),
    [
        ("10M", 0, 10),
        ("3=2X4N1D", 0, 10),  # every reference-consuming op
        ("4S6I", 0, 1),  # no reference-consuming op: pos + 1, as htslib's bam_endpos
        ("10M", 4, 1),  # unmapped: pos + 1 whatever the CIGAR
        ("", 0, 1),
        ("2H5M3P2H", 0, 5),
    ],
)
def test_alignment_end_follows_bam_endpos(cigar: str, flag: int, expected_span: int) -> None:
    rows, _ = walk(make_record(pos=50, flag=flag, cigar=cigar, l_seq=10))
    assert rows["end"][0] == 50 + expected_span


def test_invalid_cigar_ops_do_not_consume_the_reference() -> None:
    rows, _ = walk(make_record(pos=0, cigar=[5 << 4 | 0, 7 << 4 | 9, 7 << 4 | 15], l_seq=5))
    assert rows["end"][0] == 5


def test_long_cigar_is_read_from_the_cg_tag() -> None:
    placeholder = f"12S{40}N"
    aux = b"NMi" + struct.pack("<i", 3) + b"XAZhello\0" + b"ZBBs" + struct.pack("<I3h", 3, 1, 2, 3) + cg_tag("6M2I4M30D")
    rows, _ = walk(make_record(pos=10, cigar=placeholder, l_seq=12, aux=aux))
    assert rows["end"][0] == 10 + 6 + 4 + 30
    assert rows["n_cigar"][0] == 2
    # signed subtype accepted as htslib does
    rows, _ = walk(make_record(pos=10, cigar=placeholder, l_seq=12, aux=cg_tag("12M", "i")))
    assert rows["end"][0] == 22


def test_placeholder_without_cg_tag_uses_the_stored_cigar() -> None:
    rows, _ = walk(make_record(pos=10, cigar="12S40N", l_seq=12, aux=b"NMC\x01"))
    assert rows["end"][0] == 50
    rows, _ = walk(make_record(pos=10, cigar="12S40N", l_seq=12, aux=cg_tag("12M", "S")[:3] + b"S" + struct.pack("<I", 0)))
    assert rows["end"][0] == 50  # CG of the wrong subtype is not a CIGAR
    # an unplaced read with the pattern is left alone (as htslib does)
    rows, _ = walk(make_record(ref_id=-1, pos=-1, cigar="12S40N", l_seq=12, aux=cg_tag("12M")))
    assert rows["end"][0] == 39


def test_incomplete_record_and_capacity() -> None:
    a, b = make_record(name=b"a"), make_record(name=b"b")
    rows, pos = walk(a + b[:-1])
    assert len(rows) == 1 and pos == len(a)
    rows, pos = walk(a[:3])
    assert len(rows) == 0 and pos == 0
    rows, pos = walk(a + b, capacity=1)
    assert len(rows) == 1 and pos == len(a)
    out = np.zeros(4, dtype=RECORD_DTYPE)
    n, pos = _walk.walk(a + b, len(a), len(a) + len(b), out, MAX)
    assert (n, pos, out["offset"][0]) == (1, len(a) + len(b), len(a))


def test_walk_blocks_gives_virtual_offsets_from_the_block_table() -> None:
    """Hand-computed virtual offsets: a record at a block start, one mid-block, one after an empty block."""
    a, b, c = make_record(name=b"a", pos=1), make_record(name=b"b", pos=2), make_record(name=b"c", pos=3)
    data = a + b + c
    # block at 1000 holds a and the first 10 bytes of b; block at 2000 the rest of b and all of c,
    # preceded by an empty block at 1500 that starts at the same position (the empty one is skipped)
    starts = np.array([0, len(a) + 10, len(a) + 10], dtype=np.int64)
    coffsets = np.array([1000, 1500, 2000], dtype=np.int64)
    out = np.zeros(4, dtype=RECORD_DTYPE)
    n, pos = _walk.walk_blocks(data, 0, len(data), out, MAX, starts, coffsets, 1)
    assert (n, pos) == (3, len(data))
    assert out["voffset"][:3].tolist() == [1000 << 16, 1000 << 16 | len(a), 2000 << 16 | (len(b) - 10)]
    # walking from mid-buffer with a table that starts before it (a carried record's block) is fine
    n, _ = _walk.walk_blocks(data, len(a), len(data), out, MAX, starts - 5, coffsets, 1)
    assert n == 2 and out["voffset"][:2].tolist() == [1000 << 16 | (len(a) + 5), 2000 << 16 | (len(b) - 5)]
    # a table starting after the first record, or of two lengths, is a caller error
    with pytest.raises(ValueError, match="starts"):
        _walk.walk_blocks(data, 0, len(data), out, MAX, starts + 1, coffsets, 1)
    with pytest.raises(ValueError, match="starts"):
        _walk.walk_blocks(data, 0, len(data), out, MAX, starts, coffsets[:2], 1)


@pytest.mark.parametrize(("field", "value"), [("ref_id", 3), ("ref_id", -2), ("next_ref_id", 5)])
def test_walk_blocks_checks_reference_ids(field: str, value: int) -> None:
    good = make_record(ref_id=2, next_ref_id=-1)
    bad = make_record(**{field: value, "pos": 1 if field == "ref_id" and value < 0 else 100})
    data = good + bad
    out = np.zeros(4, dtype=RECORD_DTYPE)
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(_walk.RefIdError) as info:
        _walk.walk_blocks(data, 0, len(data), out, MAX, one, one, 3)
    assert info.value.args == (field, value, len(good))
    if value >= 0:  # with enough references the same records are fine
        assert _walk.walk_blocks(data, 0, len(data), out, MAX, one, one, value + 1) == (2, len(data))


def bad_record(mutate) -> bytes:
    record = bytearray(make_record(cigar="4M", l_seq=4, name=b"rd"))
    mutate(record)
    return bytes(record)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.__setitem__(slice(0, 4), struct.pack("<i", 20)), "below the 32-byte minimum"),
        (lambda r: r.__setitem__(slice(0, 4), struct.pack("<i", -5)), "below the 32-byte minimum"),
        (lambda r: r.__setitem__(slice(0, 4), struct.pack("<i", MAX + 1)), "above the record size limit"),
        (lambda r: r.__setitem__(12, 0), "l_read_name 0"),
        (lambda r: r.__setitem__(slice(20, 24), struct.pack("<i", -1)), "negative l_seq"),
        (lambda r: r.__setitem__(slice(20, 24), struct.pack("<i", 1000)), "exceed its block_size"),
        (lambda r: r.__setitem__(slice(16, 18), struct.pack("<H", 500)), "exceed its block_size"),
        (lambda r: r.__setitem__(38, ord("x")), "not NUL-terminated"),
    ],
)
def test_impossible_records_raise_with_their_offset(mutate, message: str) -> None:
    good = make_record(name=b"ok")
    with pytest.raises(_walk.WalkError, match=message) as info:
        walk(good + bad_record(mutate))
    assert info.value.args[1] == len(good)


def test_malformed_aux_while_looking_for_cg() -> None:
    for aux in (b"CGB", b"XAZunterminated", b"ZZQ\x01", b"ZBBI" + struct.pack("<I", 1000), b"ZBBq" + struct.pack("<I", 1)):
        with pytest.raises(_walk.WalkError, match="aux data is malformed"):
            walk(make_record(pos=10, cigar="12S40N", l_seq=12, aux=aux))


def test_argument_checks() -> None:
    data = make_record()
    out = np.zeros(2, dtype=RECORD_DTYPE)
    for start, stop in ((-1, 5), (5, 2), (0, len(data) + 1)):
        with pytest.raises(ValueError, match="outside the data buffer"):
            _walk.walk(data, start, stop, out, MAX)
    with pytest.raises(ValueError, match="max_block_size"):
        _walk.walk(data, 0, len(data), out, 8)
    with pytest.raises((TypeError, BufferError)):
        _walk.walk(data, 0, len(data), b"read-only", MAX)
    with pytest.raises(ValueError, match="64-byte rows"):
        _walk.walk(data, 0, len(data), bytearray(640), MAX)
    # a dtype that lost the struct padding must be refused, not filled at the wrong stride
    names = list(RECORD_DTYPE.names)
    packed = np.dtype({
        "names": names,
        "formats": [RECORD_DTYPE.fields[n][0] for n in names],
        "offsets": [RECORD_DTYPE.fields[n][1] for n in names],
        "itemsize": 60,  # what np.concatenate makes of RECORD_DTYPE
    })
    with pytest.raises(ValueError, match="item size 60"):
        _walk.walk(data, 0, len(data), np.zeros(4, dtype=packed), MAX)
    with pytest.raises(ValueError, match="C-contiguous"):
        _walk.walk(data, 0, len(data), np.zeros(8, dtype=RECORD_DTYPE)[::2], MAX)


def test_helpers_roundtrip() -> None:
    assert cigar_ops("3M1I") == [3 << 4 | 0, 1 << 4 | 1]


def test_decode_records_of_a_bare_buffer() -> None:
    from bams3.bam.records import decode_records
    from bams3.errors import BamFormatError

    a, b = make_record(name=b"first", pos=7), make_record(name=b"second", pos=9, cigar="3M", l_seq=3)
    batch = decode_records(a + b, name="frame")
    assert batch.records["pos"].tolist() == [7, 9] and batch.read_names().tolist() == [b"first", b"second"]
    assert batch.raw_bytes() == a + b and batch.records["voffset"].tolist() == [0, 0]
    with pytest.raises(BamFormatError, match=r"^frame: the data ends inside a BAM record \(at byte \d+ of \d+\)$"):
        decode_records(a + b[:-1], name="frame")
    with pytest.raises(BamFormatError, match=r"^frame: record has l_read_name 0 .* \(record at byte \d+\)$"):
        decode_records(a + b[:12] + b"\0" + b[13:], name="frame")
    many = decode_records(a * 500, name="frame")  # more rows than the first guess
    assert len(many) == 500
