"""Fuzzing the BGZF reader, the record walker and the index parser with mutated bytes.

Whatever the bytes, the outcome is a result or one of the project's error types, never
another exception, a crash or a hang. Time-boxed: BAMS3_FUZZ_EXAMPLES (default 150)
examples per test; ``make fuzz`` runs many more.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.mutations import apply
from tests.helpers.mutations import mutations as _mutations

from bams3.bam import _layout as L
from bams3.bam import _walk
from bams3.bam.bai import parse_index
from bams3.bam.bgzf_writer import BgzfWriter
from bams3.bam.flagstat import flagstat, flagstat_stream
from bams3.bam.reader import BamReader
from bams3.bam.records import RECORD_DTYPE
from bams3.errors import BamFormatError, BgzfError, IndexFormatError
from tests.bam import oracle
from tests.bam.records_helpers import cg_tag, make_record

EXAMPLES = int(os.environ.get("BAMS3_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 1000,  # the time-boxed run is reproducible; `make fuzz` explores
)


class SmallBam:
    """A small BAM with edge-case records: its bytes and its uncompressed stream."""

    def __init__(self, compressed: bytes, stream: bytes) -> None:
        self.compressed, self.stream = compressed, stream

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"SmallBam({len(self.compressed)} bytes)"


@pytest.fixture(scope="module")
def small_bam(tmp_path_factory: pytest.TempPathFactory) -> SmallBam:
    from tests.helpers import bamgen

    path = bamgen.write_bam(tmp_path_factory.mktemp("fuzz") / "f.bam", n_pairs=60, seed=5, long_reads=2)
    return SmallBam(path.read_bytes(), oracle.uncompressed_stream(path))


def mutations(size: int) -> st.SearchStrategy:
    return _mutations(size, max_edits=4)


def read_everything(data: bytes, threads: int = 1) -> None:
    """Both readers, which must agree: record rows (BamReader) and the counting walker (the CLI's)."""
    outcomes = []
    for stream in (False, True):
        try:
            if stream:
                counts = flagstat_stream(io.BytesIO(data), name="fuzz.bam", threads=threads, target_bytes=20_000)
            else:
                with BamReader(io.BytesIO(data), name="fuzz.bam", threads=threads) as reader:
                    counts = flagstat(reader, target_bytes=20_000)
            outcomes.append(counts)
        except (BgzfError, BamFormatError) as exc:
            outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]
    if isinstance(outcomes[0], tuple):
        error_type, message = outcomes[0]
        raise error_type(message)


@FUZZ
@given(data=st.data())
def test_mutated_compressed_file(small_bam: SmallBam, data: st.DataObject) -> None:
    compressed = small_bam.compressed
    edits = data.draw(mutations(len(compressed)))
    threads = data.draw(st.sampled_from([1, 2]))
    try:
        read_everything(apply(compressed, edits), threads)
    except (BgzfError, BamFormatError) as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.bam: ")


@FUZZ
@given(data=st.data())
def test_mutated_records_with_valid_framing(small_bam: SmallBam, data: st.DataObject) -> None:
    """Corrupt the BAM stream itself, re-compressed so every CRC is right: the walker must cope."""
    stream = small_bam.stream
    edits = data.draw(mutations(len(stream)))
    out = io.BytesIO()
    with BgzfWriter(out, level=0) as writer:
        writer.write(apply(stream, edits))
    try:
        read_everything(out.getvalue())
    except BamFormatError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.bam: ")


@FUZZ
@given(blob=st.binary(max_size=2_000), start=st.integers(0, 50))
def test_walker_on_arbitrary_bytes(blob: bytes, start: int) -> None:
    seed = make_record(pos=10, cigar="12S40N", l_seq=12, aux=b"XAZabc\0" + cg_tag("6M6I"))
    data = seed + blob
    out = np.zeros(64, dtype=RECORD_DTYPE)
    start = min(start, len(data))
    try:
        n, pos = _walk.walk(data, start, len(data), out, L.MAX_RECORD_BYTES)
    except _walk.WalkError as exc:
        message, offset = exc.args
        assert start <= offset < len(data) and isinstance(message, str)
        return
    assert start <= pos <= len(data) and 0 <= n <= 64
    assert np.all(out["offset"][:n] + out["size"][:n] <= len(data))


@FUZZ
@given(data=st.data())
def test_mutated_index(edge_bam: Path, data: st.DataObject) -> None:
    raw = edge_bam.with_name(edge_bam.name + ".bai").read_bytes()
    mutated = apply(raw, data.draw(mutations(len(raw))))
    try:
        index = parse_index(mutated, name="fuzz.bai")
    except IndexFormatError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.bai: ")
        return
    for ref_id in range(min(len(index.references), 4)):
        chunks = index.query_chunks(ref_id, 0, 100_000)
        starts = [c.start for c in chunks]
        assert starts == sorted(starts)  # merged output is ordered whatever the file claims
