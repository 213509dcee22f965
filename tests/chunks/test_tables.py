"""The chunk table writers' shortcuts give exactly what the plain way gives."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from bams3.chunks._aggregate import _arrow_array, _parquet_schema, _renumbered


@pytest.mark.parametrize(
    ("values", "type"),
    [
        ([1, None, -(2**63), 2**63 - 1], pa.int64()),
        ([0, 2**64 - 1, None], pa.uint64()),
        ([None, 1.5, 60.0, 0.1234], pa.float64()),
        (["chr1", None, "", "contig_ü_名"], pa.string()),
        ([["chr1"], [], ["chr2", "chrM"], ["é"]], pa.list_(pa.string())),
        ([], pa.list_(pa.string())),
        ([None, None], pa.int64()),
    ],
)
def test_arrow_arrays_from_buffers_equal_pa_array(values: list, type: pa.DataType) -> None:
    got = _arrow_array(values, type)
    got.validate(full=True)
    assert got.equals(pa.array(values, type=type))


def test_renumbered_line_equals_reserialising_the_object() -> None:
    record = {
        "stats": {"total_reads": 3, "avg_mapping_quality": 37.1234, "references": ["chr1", "ctg\"x", "é"]},
        "flagstat": {"total": [3, 0]},
        "chunk_info": {"chunk_id": None, "total_chunks": None, "bam_url": 's3://b/"chunk_info":{"chunk_id":1,.bam',
                       "chunk_size": 3, "shard": 0, "chunk_in_shard": 0, "first_voffset": 123},
    }
    line = json.dumps(record, separators=(",", ":"))
    record["chunk_info"].update(chunk_id=17, total_chunks=40)
    assert _renumbered(line, 17, 40) == json.dumps(record, separators=(",", ":"))
    assert _renumbered(json.dumps(record), 1, 2) is None  # not the compact form: the caller re-serialises


def test_schema_columns_are_all_supported_types() -> None:
    for field in _parquet_schema():
        assert _arrow_array([None], field.type).type == field.type


def test_scan_and_flagstat_do_not_import_pandas_or_boto3(tmp_path: Path) -> None:
    """Start-up cost: pandas alone is ~0.5 s, as long as reading a 250 MB BAM."""
    from tests.helpers import bamgen

    bam = bamgen.write_preset("tiny", tmp_path)
    script = f"""
import sys
from bams3.cli import main
code = main(["scan", {str(bam)!r}, "-o", {str(tmp_path / "out")!r}, "--workers", "1", "--no-progress"])
code |= main(["flagstat", {str(bam)!r}])
heavy = sorted(m for m in ("pandas", "boto3", "botocore", "matplotlib") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy))
sys.exit(code)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip().endswith("HEAVY=")


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_chunk_lines_equal_serialising_chunk_json(bams: dict[str, Path], unsorted_bam: Path, chunk_size: int) -> None:
    """Every chunk of the edge-case BAMs (unmapped, unplaced, QC-failed, several references,
    no MAPQ) formats to exactly the text json.dumps gives for chunk_json's object."""
    import numpy as np

    from bams3.bam.reader import BamReader
    from bams3.chunks import ChunkAccumulator
    from bams3.chunks._shard import ChunkLines, chunk_json

    for path in (bams["edge_cases"], unsorted_bam):
        with open(path, "rb") as handle, BamReader(handle, name=str(path)) as reader:
            rows = np.concatenate([b.records for b in reader.batches()])
            references = tuple((r.name, r.length) for r in reader.header.references) + (('odd "name" é\t', 5),)
        accumulator = ChunkAccumulator(chunk_size=chunk_size)
        chunks = accumulator.add(rows) + accumulator.finish()
        url = 's3://bucket/"quoted" ü.bam'
        lines = ChunkLines(references=references, chunk_size=chunk_size, bam_url=url, shard=2)
        kinds = set()
        for i, stats in enumerate(chunks):
            chunk_id, total = (None, None) if i % 2 else (i + 1, len(chunks))
            expected = json.dumps(chunk_json(stats, references=references, chunk_size=chunk_size, bam_url=url, shard=2,
                                             chunk_in_shard=i, chunk_id=chunk_id, total_chunks=total), separators=(",", ":"))
            assert lines.line(stats, chunk_in_shard=i, chunk_id=chunk_id, total_chunks=total) == expected
            kinds.add((stats.first is None, stats.to_json(references)["stats"]["avg_mapping_quality"] is None))
        if chunk_size == 1:  # chunks with and without positions, with and without an average MAPQ
            assert {(True, True), (False, False), (False, True)} <= kinds, kinds
