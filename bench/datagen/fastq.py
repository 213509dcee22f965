"""Interleave ART's paired FASTQ files into one stream, injecting PCR-like duplicates.

ART samples fragments independently, so its pairs almost never share both ends: a BAM made from them
alone has a duplicate rate of ~0%, while real libraries have 3-15%. Re-emitting some pairs (under a
new name) gives ``samtools markdup`` real work and makes the "duplicates" line of flagstat non-zero.

The interleaved stream (mate 1 then mate 2 of each pair, same name) is what ``minimap2 -x sr`` reads
as pairs from a single input, so the whole alignment step can run as a pipe with no extra file.

Run as ``python -m bench.datagen.fastq --dup-rate 0.04 --seed 1 A_1.fq A_2.fq [B_1.fq B_2.fq ...]``;
the stream goes to stdout, progress lines to stderr.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO

#: a FASTQ record as its four lines (each still ending in a newline)
Record = tuple[bytes, bytes, bytes, bytes]


def records(fh: BinaryIO) -> Iterator[Record]:
    """Four-line FASTQ records (ART writes no wrapped sequences)."""
    while True:
        head = fh.readline()
        if not head:
            return
        seq, plus, qual = fh.readline(), fh.readline(), fh.readline()
        if not head.startswith(b"@") or not qual:
            raise ValueError(f"{fh.name}: malformed FASTQ record near {head[:60]!r}")
        yield head, seq, plus, qual


def _renamed(rec: Record, suffix: bytes) -> Record:
    """``@name/1`` -> ``@name<suffix>/1`` (keeping the mate suffix minimap2 strips)."""
    head = rec[0].rstrip(b"\n")
    name, slash, mate = head.rpartition(b"/")
    if not slash:
        name, mate = head, b""
    new = name + suffix + (b"/" + mate if slash else b"") + b"\n"
    return new, rec[1], rec[2], rec[3]


def interleave(
    pairs: Sequence[tuple[str, str]],
    out: BinaryIO,
    dup_rate: float,
    seed: int,
    progress_every: int = 250_000,
) -> tuple[int, int]:
    """Write every pair of every file pair to ``out``; return (pairs read, duplicate pairs added).

    A pair gets one extra copy with probability ``dup_rate`` and each further copy with
    probability 0.25, so a few templates have several duplicates, as in a real library.
    """
    rng = random.Random(seed)
    n_pairs = n_dups = 0
    t0 = time.monotonic()
    for path1, path2 in pairs:
        with open(path1, "rb") as f1, open(path2, "rb") as f2:
            it2 = records(f2)
            for r1 in records(f1):
                r2 = next(it2, None)
                if r2 is None:
                    raise ValueError(f"{path2}: fewer records than {path1}")
                out.writelines(r1 + r2)
                n_pairs += 1
                if rng.random() < dup_rate:
                    copy = 1
                    while True:
                        suffix = b":dup%d" % copy
                        out.writelines(_renamed(r1, suffix) + _renamed(r2, suffix))
                        n_dups += 1
                        if rng.random() >= 0.25:
                            break
                        copy += 1
                if n_pairs % progress_every == 0:
                    rate = n_pairs / max(time.monotonic() - t0, 1e-9)
                    print(f"[data]     {n_pairs:,} pairs streamed to the aligner ({rate:,.0f}/s)",
                          file=sys.stderr, flush=True)
            if next(it2, None) is not None:
                raise ValueError(f"{path2}: more records than {path1}")
    return n_pairs, n_dups


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.datagen.fastq", description=__doc__)
    parser.add_argument("--dup-rate", type=float, default=0.04)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("fastq", nargs="+", help="R1 R2 [R1 R2 ...]")
    args = parser.parse_args(argv)
    if len(args.fastq) % 2:
        parser.error("FASTQ files come in pairs (R1 R2)")
    pairs = list(zip(args.fastq[::2], args.fastq[1::2], strict=True))
    try:
        n_pairs, n_dups = interleave(pairs, sys.stdout.buffer, args.dup_rate, args.seed)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        print("bench.datagen.fastq: the aligner stopped reading", file=sys.stderr)
        return 1
    print(f"[data]     {n_pairs:,} pairs + {n_dups:,} duplicate pairs streamed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
