"""Per-chunk statistics over batches equal a read-by-read computation with pysam."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest

from bams3.bam.flagstat import FlagstatHistogram
from bams3.bam.reader import BamReader
from bams3.chunks import FLAGSTAT_KEYS, ChunkAccumulator
from bams3.chunks._aggregate import flagstat_counts

from .conftest import samtools_flagstat


def _rows(path: Path) -> np.ndarray:
    with open(path, "rb") as handle, BamReader(handle, name=str(path)) as reader:
        return np.concatenate([batch.records for batch in reader.batches(target_bytes=256 * 1024)])


def _oracle(path: Path, chunk_size: int) -> list[dict]:
    """Each chunk's numbers, one read at a time with pysam (slow, obviously right)."""
    chunks: list[dict] = []
    with pysam.AlignmentFile(str(path), "rb") as bam:
        names = bam.references
        for i, read in enumerate(bam.fetch(until_eof=True)):
            if i % chunk_size == 0:
                chunks.append(dict(total=0, mapped=0, mapq=[], pos=[], refs=set(), secondary=0, supplementary=0,
                                   duplicate=0, qcfail=0, bases=0, first=None, last=None))
            c = chunks[-1]
            c["total"] += 1
            if not read.is_unmapped:
                c["mapped"] += 1
                if read.mapping_quality != 255:
                    c["mapq"].append(read.mapping_quality)
            if read.reference_id >= 0:
                c["refs"].add(names[read.reference_id])
                if read.reference_start >= 0:
                    c["pos"].append(read.reference_start)
                    c["first"] = c["first"] or (names[read.reference_id], read.reference_start)
                    c["last"] = (names[read.reference_id], read.reference_start)
            c["secondary"] += read.is_secondary
            c["supplementary"] += read.is_supplementary
            c["duplicate"] += read.is_duplicate
            c["qcfail"] += read.is_qcfail
            if not (read.is_secondary or read.is_supplementary):
                c["bases"] += len(read.query_sequence or "")
    return chunks


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_chunks_match_pysam_whatever_the_batch_boundaries(bams: dict[str, Path], chunk_size: int) -> None:
    path = bams["edge_cases"]
    rows = _rows(path)
    rng = np.random.default_rng(chunk_size)
    cuts = np.sort(rng.choice(np.arange(1, len(rows)), size=40, replace=False))
    accumulator = ChunkAccumulator(chunk_size=chunk_size)
    got = []
    for part in np.split(rows, cuts):
        got += accumulator.add(part)
    got += accumulator.finish()
    refs = tuple((r.name, r.length) for r in BamReader(open(path, "rb"), name="x").header.references)
    expected = _oracle(path, chunk_size)
    assert len(got) == len(expected) == -(-len(rows) // chunk_size)
    for stats, want in zip(got, expected):
        doc = stats.to_json(refs)["stats"]
        assert doc["total_reads"] == want["total"]
        assert doc["mapped_reads"] == want["mapped"]
        assert doc["unmapped_reads"] == want["total"] - want["mapped"]
        if want["mapq"]:
            assert doc["avg_mapping_quality"] == pytest.approx(np.mean(want["mapq"]), abs=1e-4)
        else:
            assert doc["avg_mapping_quality"] is None
        if want["pos"]:
            assert (doc["position_range"]["min"], doc["position_range"]["max"]) == (min(want["pos"]), max(want["pos"]))
            first, last = doc["position_range"]["first"], doc["position_range"]["last"]
            assert (first["ref"], first["pos"]) == want["first"] and (last["ref"], last["pos"]) == want["last"]
        else:
            assert doc["position_range"]["min"] is None
        assert set(doc["references"]) == want["refs"]
        assert doc["secondary_reads"] == want["secondary"]
        assert doc["supplementary_reads"] == want["supplementary"]
        assert doc["duplicate_reads"] == want["duplicate"]
        assert doc["qc_failed_reads"] == want["qcfail"]
        assert doc["total_bases"] == want["bases"]
        assert sum(doc["mapq_histogram"].values()) == want["mapped"]


def test_chunk_counters_add_up_to_samtools_flagstat(bams: dict[str, Path]) -> None:
    path = bams["edge_cases"]
    accumulator = ChunkAccumulator(chunk_size=333)
    chunks = accumulator.add(_rows(path)) + accumulator.finish()
    passed = sum(c.flagstat()[0] for c in chunks)
    failed = sum(c.flagstat()[1] for c in chunks)
    assert flagstat_counts(passed.tolist(), failed.tolist()).to_json() == samtools_flagstat(path)


@pytest.mark.parametrize("chunk_size", [1, 50, 10**9])
def test_categories_agree_with_the_flagstat_module(bams: dict[str, Path], chunk_size: int) -> None:
    """Two independent implementations of bam_stat.c: per record in C (chunks) and per flag
    histogram in numpy (flagstat), on every preset (unsorted and unmapped reads included)."""
    for path in bams.values():
        rows = _rows(path)
        accumulator = ChunkAccumulator(chunk_size=chunk_size)
        chunks = accumulator.add(rows) + accumulator.finish()
        histogram = FlagstatHistogram()
        histogram.add(rows)
        passed = sum(c.flagstat()[0] for c in chunks)
        failed = sum(c.flagstat()[1] for c in chunks)
        assert flagstat_counts(passed.tolist(), failed.tolist()) == histogram.counts()
    assert len(FLAGSTAT_KEYS) == 16


def test_reducer_rejects_bad_arguments() -> None:
    from bams3.bam.records import RECORD_DTYPE
    from bams3.chunks import _reduce
    from bams3.chunks._stats import _MAPQ_BIN_OF, _N_COUNTERS

    rows = np.zeros(10, dtype=RECORD_DTYPE)
    counters = np.empty((2, _N_COUNTERS), dtype=np.int64)
    positions = np.empty((2, _reduce.N_POSITIONS), dtype=np.int64)
    refs = np.empty(10, dtype=np.int64)
    assert _reduce.reduce_segments(rows, np.array([0, 5]), _MAPQ_BIN_OF, counters, positions, refs) == 2
    assert counters[:, 0].tolist() == [5, 5] and positions[:, 3].tolist() == [0, 5]
    for starts in ([1, 5], [0, 10], [0, 0], [5, 0]):
        with pytest.raises(ValueError, match="starts"):
            _reduce.reduce_segments(rows, np.array(starts), _MAPQ_BIN_OF, counters, positions, refs)
    with pytest.raises(ValueError, match="room"):
        _reduce.reduce_segments(rows, np.array([0, 5]), _MAPQ_BIN_OF, counters, positions, refs[:9])
    bad_bins = _MAPQ_BIN_OF.copy()
    bad_bins[7] = 99
    with pytest.raises(ValueError, match="bin"):
        _reduce.reduce_segments(rows, np.array([0, 5]), bad_bins, counters, positions, refs)
    with pytest.raises(ValueError, match="RECORD_DTYPE"):
        _reduce.reduce_segments(np.concatenate([rows, rows]), np.array([0, 5]), _MAPQ_BIN_OF, counters, positions, np.empty(20, np.int64))


def test_empty_batches_change_nothing() -> None:
    accumulator = ChunkAccumulator(chunk_size=10)
    from bams3.bam.records import RECORD_DTYPE

    assert accumulator.add(np.zeros(0, dtype=RECORD_DTYPE)) == []
    assert accumulator.finish() == []
    with pytest.raises(ValueError):
        ChunkAccumulator(chunk_size=0)
