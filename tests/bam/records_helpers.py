"""Build single BAM records by hand (SAMv1 §4.2) for the walker and corruption tests."""
from __future__ import annotations

import struct

CIGAR_CODES = {op: i for i, op in enumerate("MIDNSHP=X")}


def cigar_ops(text: str) -> list[int]:
    ops, number = [], ""
    for ch in text:
        if ch.isdigit():
            number += ch
        else:
            ops.append(int(number) << 4 | CIGAR_CODES[ch])
            number = ""
    return ops


def make_record(
    *,
    ref_id: int = 0,
    pos: int = 100,
    flag: int = 0,
    mapq: int = 60,
    cigar: list[int] | str = "10M",
    l_seq: int = 10,
    name: bytes = b"read1",
    aux: bytes = b"",
    next_ref_id: int = -1,
    next_pos: int = -1,
    tlen: int = 0,
    bin_: int = 4680,
) -> bytes:
    ops = cigar_ops(cigar) if isinstance(cigar, str) else cigar
    body = struct.pack(
        "<iiBBHHHiiii",
        ref_id, pos, len(name) + 1, mapq, bin_, len(ops), flag, l_seq, next_ref_id, next_pos, tlen,
    )
    body += name + b"\0"
    body += struct.pack(f"<{len(ops)}I", *ops)
    body += bytes((l_seq + 1) // 2) + bytes([30] * l_seq)
    body += aux
    return struct.pack("<i", len(body)) + body


def cg_tag(text: str, subtype: str = "I") -> bytes:
    ops = cigar_ops(text)
    return b"CGB" + subtype.encode() + struct.pack(f"<I{len(ops)}I", len(ops), *ops)
