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


@pytest.fixture(params=quality.MODELS, ids=[f"model{m}" for m in quality.MODELS])
def quality_model(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Write qualities with each model this bams3 reads (it writes the last)."""
    monkeypatch.setattr(quality, "MODEL", request.param)
    return int(request.param)


@pytest.mark.parametrize("alphabet", [[0xFF], [30], list(range(94)), list(range(256))])
def test_quality_alphabets(alphabet: list[int], quality_model: int) -> None:
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
    assert stream[0] == quality_model
    assert quality.decode_qualities(stream, l_seq, flag) == bytes(qual)


def test_damaged_quality_streams_are_detected(quality_model: int) -> None:
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


def _genome_block(rng: np.random.Generator, n: int = 600) -> tuple[bytes, int]:
    """Overlapping reads of one random genome, with sequencing errors, soft clips, insertions,
    deletions, N skips, N and '=' bases, unmapped reads and CIGARs that do not fit the sequence:
    every path of the revision 2 sequence model."""
    genome = rng.choice(np.array([1, 2, 4, 8], np.uint8), 20_000)
    kinds = ["M", "SM", "MIM", "MDM", "MNM", "MS", "unmapped", "bad", "star", "long"]
    pos = np.sort(rng.integers(0, 15_000, n)).astype(np.int32)
    recs: list[tuple[int, list[tuple[int, int]], np.ndarray, int]] = []
    for p in pos.tolist():
        kind = kinds[int(rng.integers(len(kinds)))]
        flag = 0x4 if kind == "unmapped" else int(rng.choice([0, 0x10, 0x100]))
        if kind == "star":
            recs.append((p, [(60, 0)], np.zeros(0, np.uint8), flag))
            continue
        ops = {"M": [(60, 0)], "SM": [(5, 4), (55, 0)], "MIM": [(20, 0), (3, 1), (37, 0)],
               "MDM": [(20, 0), (4, 2), (40, 0)], "MNM": [(10, 0), (500, 3), (50, 0)], "MS": [(50, 0), (10, 4)],
               "unmapped": [], "bad": [(70, 0)], "long": [(30, 0), (1 << 25, 3), (30, 0)]}[kind]
        seq = []
        at = p
        for length, op in ops:
            if op in (0, 7, 8):
                piece = genome[at: at + length].copy()
                piece = np.pad(piece, (0, length - len(piece)), constant_values=15)
                errors = rng.random(length) < 0.02
                piece[errors] = rng.choice(np.array([0, 1, 2, 4, 8, 15], np.uint8), int(errors.sum()))
                seq.append(piece)
            if op in (1, 4):
                seq.append(rng.integers(0, 16, length).astype(np.uint8))
            if op in (0, 2, 3, 7, 8):
                at += length
        codes = np.concatenate(seq) if seq else rng.choice(np.array([1, 2, 4, 8], np.uint8), 60)
        if kind == "bad":  # CIGAR says 70 bases, the record has 60
            codes = codes[:60]
        recs.append((p, ops, codes, flag))
    l_seq = np.array([len(c) for _, _, c, _ in recs], np.int32)
    cigar_ops = [ops for _, ops, _, _ in recs]
    n_cigar = np.array([len(o) for o in cigar_ops], np.uint16)
    cigar = b"".join(struct.pack(f"<{len(o)}I", *[(length << 4) | op for length, op in o]) for o in cigar_ops)
    nibbles = [np.append(c, 0) if len(c) % 2 else c for _, _, c, _ in recs]
    seq = b"".join(((x[0::2] << 4) | x[1::2]).astype(np.uint8).tobytes() for x in nibbles)
    ends = []
    for p, ops, _, _ in recs:
        span = sum(length for length, op in ops if op in (0, 2, 3, 7, 8))
        ends.append(p + max(span, 1))
    names = [f"g{i}".encode() for i in range(n)]
    raw = bytes(assemble(Columns(
        ref_id=np.zeros(n, np.int32), pos=pos, end=np.array(ends, np.int64),
        flag=np.array([f for *_, f in recs], np.uint16), mapq=np.full(n, 60, np.uint8),
        bin=reg2bin(pos, np.array(ends)).astype(np.uint16), l_seq=l_seq, next_ref_id=np.full(n, -1, np.int32),
        next_pos=np.full(n, -1, np.int32), tlen=np.zeros(n, np.int32), name_len=np.array([len(x) for x in names], np.uint8),
        names=b"".join(names), n_cigar=n_cigar, cigar=cigar, seq=seq,
        qual=rng.integers(2, 42, int(l_seq.sum()), dtype=np.uint8).tobytes(), aux_len=np.zeros(n, np.int64), aux=b"",
    )))
    return raw, n


@pytest.mark.parametrize("revision", [1, 2])
def test_sequence_model_round_trips_every_path(revision: int) -> None:
    """Both codec revisions give the records back byte for byte; revision 2 (the consensus model)
    stores these overlapping, noisy reads (2.4x coverage, 2% errors) in fewer sequence bytes."""
    rng = np.random.default_rng(12)
    raw, n = _genome_block(rng)
    codec = FieldsCodec(level=3, block_bytes=1 << 20, revision=revision)
    block = codec.encode(raw, ref_id=0, name="test")
    assert bytes(codec.decode(block.core, block.rest, block.sizes, ref_id=0, n_records=n)) == raw
    if revision == 2:
        old = FieldsCodec(level=3, block_bytes=1 << 20, revision=1).encode(raw, ref_id=0, name="test")
        assert block.sizes[3] < 0.9 * old.sizes[3]


def test_sequence_columns_that_do_not_fit_are_refused() -> None:
    from bams3.dataset.fields import sequence
    from bams3.dataset.fields.columns import split
    from bams3.dataset._records import decode_records

    rng = np.random.default_rng(13)
    raw, n = _genome_block(rng, 300)
    c = split(decode_records(raw, name="t"), name="t")
    codes, _ = sequence.unpack(c.seq, c.l_seq)
    cigar = np.frombuffer(c.cigar, "<u4")
    args = (c.l_seq, c.pos, c.flag, c.n_cigar, cigar)
    columns = sequence.encode_consensus(codes, *args)
    assert all(columns[:3]) and sequence.decode_consensus(columns, *args) == codes
    for k in range(4):
        for damaged in (columns[k][:-1], columns[k] + b"\x01"):
            broken = list(columns)
            broken[k] = damaged
            with pytest.raises(ValueError):
                sequence.decode_consensus(broken, *args)


def test_codec_revisions() -> None:
    from bams3.dataset.codecs import codec_from_dict
    from bams3.errors import DatasetError

    assert codec_from_dict({"name": "bams3.fields.v2", "configuration": {"level": 7, "block_bytes": 1 << 20}}).revision == 1
    assert FieldsCodec().to_dict()["configuration"]["revision"] == 2
    assert "revision" not in FieldsCodec(revision=1).to_dict()["configuration"]
    with pytest.raises(DatasetError, match="revision 3"):
        FieldsCodec(revision=3)
