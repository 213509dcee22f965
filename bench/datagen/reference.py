"""A seeded synthetic reference genome that aligners treat like a real one.

Uniform random sequence is the easy case for an aligner and for a compressor: every read maps
uniquely with MAPQ 60 and nothing else happens. Real genomes vary in GC content over long
stretches (isochores), carry interspersed repeat families (Alu- and L1-like, diverged copies of a
consensus) and a few recent segmental duplications, and start with N gaps. Those produce reads with
low MAPQ, secondary and supplementary alignments, and GC-dependent coverage, which is what
statistics code and region queries meet in practice. Everything here is driven by one
``numpy.random.Generator``, so the same seed gives the same bytes.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: base codes used internally: index into this table gives the ASCII letter
_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)
_N = 4
FASTA_WIDTH = 60


@dataclass(frozen=True)
class Contig:
    """One reference sequence to generate."""

    name: str
    length: int
    #: bases of N at the start (a telomere-like gap; aligners and ART skip them)
    n_gap: int = 0
    #: interspersed repeat copies per Mbp: ~345 puts ~10% Alu-like and ~5% L1-like sequence in
    #: (human: 10% and 17%); 0 for a mitochondrion-like contig
    repeats_per_mbp: float = 345.0


def _isochore_sequence(rng: np.random.Generator, length: int) -> np.ndarray:
    """Random bases whose GC fraction changes in segments of ~50-300 kbp (mean 41%, like human)."""
    out = np.empty(length, dtype=np.uint8)
    pos = 0
    while pos < length:
        seg = min(length - pos, int(rng.integers(50_000, 300_000)))
        gc = float(np.clip(rng.normal(0.41, 0.05), 0.30, 0.60))
        probs = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
        out[pos : pos + seg] = rng.choice(4, size=seg, p=probs).astype(np.uint8)
        pos += seg
    return out


def _mutate(rng: np.random.Generator, seq: np.ndarray, divergence: float) -> np.ndarray:
    """A copy of ``seq`` with a fraction ``divergence`` of bases substituted."""
    copy = seq.copy()
    hits = rng.random(copy.size) < divergence
    copy[hits] = (copy[hits] + rng.integers(1, 4, size=int(hits.sum()), dtype=np.uint8)) % 4
    return copy


@dataclass(frozen=True)
class _Family:
    consensus: np.ndarray
    #: fraction of all interspersed copies that belong to this family
    share: float
    divergence: tuple[float, float]


def _families(rng: np.random.Generator) -> list[_Family]:
    """Alu-like (300 bp, many young copies) and L1-like (6 kbp, fewer, truncated) families."""
    return [
        _Family(_isochore_sequence(rng, 300), share=0.955, divergence=(0.02, 0.15)),
        _Family(_isochore_sequence(rng, 6_000), share=0.045, divergence=(0.01, 0.10)),
    ]


def _insert_repeats(
    rng: np.random.Generator, seq: np.ndarray, families: list[_Family], per_mbp: float
) -> None:
    """Overwrite random places of ``seq`` with diverged (and for long families, 5'-truncated) copies."""
    copies = int(per_mbp * seq.size / 1e6)
    if copies == 0:
        return
    shares = np.array([f.share for f in families])
    for fam_idx in rng.choice(len(families), size=copies, p=shares / shares.sum()):
        fam = families[int(fam_idx)]
        cons = fam.consensus
        # L1-like copies are mostly truncated at their 5' end, as in real genomes.
        start_in = int(rng.integers(0, cons.size // 2)) if cons.size > 1000 else 0
        piece = _mutate(rng, cons[start_in:], float(rng.uniform(*fam.divergence)))
        if rng.random() < 0.5:
            piece = (3 - piece)[::-1]  # reverse complement (A<->T, C<->G in 0..3 coding)
        if piece.size >= seq.size:
            continue
        at = int(rng.integers(0, seq.size - piece.size))
        seq[at : at + piece.size] = piece


def _segmental_duplications(rng: np.random.Generator, seqs: list[np.ndarray], count: int) -> None:
    """Copy ``count`` 10-40 kbp segments to another place (maybe another contig) at ~1% divergence."""
    big = [s for s in seqs if s.size > 1_000_000]
    if not big:
        return
    for _ in range(count):
        src = big[int(rng.integers(len(big)))]
        dst = big[int(rng.integers(len(big)))]
        length = int(rng.integers(10_000, 40_000))
        a = int(rng.integers(0, src.size - length))
        b = int(rng.integers(0, dst.size - length))
        dst[b : b + length] = _mutate(rng, src[a : a + length], 0.01)


def generate(contigs: Iterable[Contig], seed: int, segdups: int = 6) -> dict[str, np.ndarray]:
    """Sequences (as bytes of ``ACGTN`` in uint8 arrays) for ``contigs``, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    families = _families(rng)
    contigs = list(contigs)
    seqs = [_isochore_sequence(rng, c.length) for c in contigs]
    for contig, seq in zip(contigs, seqs, strict=True):
        _insert_repeats(rng, seq, families, contig.repeats_per_mbp)
    _segmental_duplications(rng, seqs, segdups)
    for contig, seq in zip(contigs, seqs, strict=True):
        seq[: contig.n_gap] = _N
    return {c.name: _LETTERS[s] for c, s in zip(contigs, seqs, strict=True)}


def random_sequence(seed: int, length: int, gc: float) -> np.ndarray:
    """Plain random sequence with a fixed GC fraction (a contaminant genome, say)."""
    rng = np.random.default_rng(seed)
    probs = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return _LETTERS[rng.choice(4, size=length, p=probs).astype(np.uint8)]


def write_fasta(path: Path, sequences: dict[str, np.ndarray]) -> None:
    """Write a FASTA with 60-column lines (what ``samtools faidx`` and aligners expect)."""
    with open(path, "wb") as fh:
        for name, seq in sequences.items():
            fh.write(f">{name}\n".encode())
            full = seq.size - seq.size % FASTA_WIDTH
            if full:
                lines = np.empty((full // FASTA_WIDTH, FASTA_WIDTH + 1), dtype=np.uint8)
                lines[:, :FASTA_WIDTH] = seq[:full].reshape(-1, FASTA_WIDTH)
                lines[:, FASTA_WIDTH] = ord("\n")
                fh.write(lines.tobytes())
            if seq.size % FASTA_WIDTH:
                fh.write(seq[full:].tobytes() + b"\n")
