"""``_metadata.json``: round trip, size for a whole genome, versioning, unknown keys, tampering."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from bams3.bam.header import BamHeader
from bams3.dataset.codecs import ZstdFramesCodec
from bams3.dataset.metadata import CHUNK_COLUMNS, ChunkTable, DatasetMetadataV1, Totals, parse_metadata
from bams3.errors import DatasetError

RUN_ID = "20261123T101500Z-0a1b2c3d"
#: GRCh38's 24 primary chromosomes (Mbp, rounded up) and chrM
GRCH38 = [249, 243, 199, 191, 182, 171, 160, 146, 139, 134, 136, 134, 115, 108, 102, 91, 84, 81, 59, 65, 47, 51,
          157, 58]
BIN = 1_000_000


def raw_header(references: list[tuple[str, int]], text: str = "@HD\tVN:1.6\tSO:coordinate\n") -> bytes:
    text = text + "".join(f"@SQ\tSN:{n}\tLN:{length}\n" for n, length in references)
    out = [b"BAM\x01", struct.pack("<i", len(text)), text.encode(), struct.pack("<i", len(references))]
    for name, length in references:
        out += [struct.pack("<i", len(name) + 1), name.encode() + b"\0", struct.pack("<i", length)]
    return b"".join(out)


def genome_metadata(seed: int = 1) -> DatasetMetadataV1:
    """A whole 30x human genome's worth of chunks (~3,100), with realistic spreads of values."""
    rng = np.random.default_rng(seed)
    refs = [(f"chr{i + 1}", mbp * BIN - int(rng.integers(0, BIN))) for i, mbp in enumerate(GRCH38)] + [("chrM", 16569)]
    ref_id = np.concatenate([np.full(-(-length // BIN), i) for i, (_, length) in enumerate(refs)])
    bin_ = np.concatenate([np.arange(-(-length // BIN)) for _, length in refs])
    n = len(ref_id)
    n_records = rng.normal(200_000, 15_000, n).astype(np.int64)
    raw = n_records * 330 + rng.integers(0, 10_000, n)
    size = (raw * 0.27).astype(np.int64)
    footer = rng.integers(3_500, 4_500, n)
    columns = {
        "ref_id": ref_id, "bin": bin_, "codec": np.zeros(n, dtype=np.int64), "size": size + footer,
        "footer_size": footer, "crc32": rng.integers(0, 2**32, n, dtype=np.uint64),
        "n_records": n_records, "n_unmapped": rng.integers(0, 300, n), "raw_size": raw,
        "bases": n_records * 150 - rng.integers(0, 50_000, n), "min_pos": bin_ * BIN + rng.integers(0, 5, n),
        "max_pos": bin_ * BIN + BIN - 1 - rng.integers(0, 5, n), "max_end": bin_ * BIN + BIN + rng.integers(100, 400, n),
    }
    table = ChunkTable({c.name: np.asarray(columns[c.name]).astype(c.dtype) for c in CHUNK_COLUMNS})
    records = int(n_records.sum())
    unmapped = int(table.n_unmapped.sum())
    totals = Totals(records=records, mapped=records - unmapped, unmapped=unmapped, bases=int(table.bases.sum()),
                    raw_size=int(table.raw_size.sum()), stored_size=int(table.size.sum()), chunks=n,
                    aligned_bases=int(table.bases.sum()) // 2)
    return DatasetMetadataV1(run_id=RUN_ID, source_url="s3://bucket/NA12878.bam", source_size=10**11,
                             header=BamHeader.parse(raw_header(refs), name="h"), bin_size=BIN,
                             codecs=(ZstdFramesCodec(),), chunks=table, totals=totals)


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(genome_metadata().to_json())


def test_round_trip(document: dict) -> None:
    original = genome_metadata()
    parsed = parse_metadata(original.to_json())
    assert parsed.run_id == original.run_id and parsed.totals == original.totals
    assert parsed.header.raw == original.header.raw and parsed.codecs == original.codecs
    for name, column in original.chunks.columns.items():
        np.testing.assert_array_equal(parsed.chunks.columns[name], column)
    assert parsed.chunk_key(0) == f"chunks/{RUN_ID}/0/0.bch"


def test_a_whole_genome_stays_small() -> None:
    metadata = genome_metadata()
    assert len(metadata.chunks) > 3_000
    size = len(metadata.to_json())
    # ~21 bytes of entropy per chunk (size, CRC, counts) bound it from below; JSON rows would be ~300 KB
    assert size < 100_000, size


def _broken(document: dict, **changes: object) -> bytes:
    doc = json.loads(json.dumps(document))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = doc
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(doc).encode()


def test_unknown_fields(document: dict) -> None:
    with pytest.raises(DatasetError, match="unknown field 'checksums'"):
        parse_metadata(_broken(document, checksums={"sha256": "x"}))
    with pytest.raises(DatasetError, match="unknown field"):
        parse_metadata(_broken(document, note={"must_understand": True}))
    parsed = parse_metadata(_broken(document, provenance={"must_understand": False, "pipeline": "x"}))
    assert parsed.extensions == {"provenance": {"must_understand": False, "pipeline": "x"}}
    assert json.loads(parsed.to_json())["provenance"]["pipeline"] == "x"  # kept on rewrite


@pytest.mark.parametrize("version", [3, "1", "2", 1.0, None])
def test_other_versions_are_refused_by_name(document: dict, version: object) -> None:
    with pytest.raises(DatasetError, match="format_version"):
        parse_metadata(_broken(document, format_version=version))


def test_version_2_and_its_codec(document: dict) -> None:
    """Version 2 documents parse as such; a version 1 document may not name version 2's codec
    (a version 1 reader would open it and fail on every chunk)."""
    from bams3.dataset.metadata import DatasetMetadataV2

    fields = {"name": "bams3.fields.v2", "configuration": {"level": 7, "block_bytes": 1048576}}
    v2 = parse_metadata(_broken(document, format_version=2, codecs=[fields]))
    assert isinstance(v2, DatasetMetadataV2) and v2.format_version == 2 and v2.codecs[0].name == fields["name"]
    with pytest.raises(DatasetError, match="cannot name the codecs of version 2"):
        parse_metadata(_broken(document, codecs=[fields]))


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not valid JSON"),
    (b"[]", "not BAMS3 metadata"),
    (b'{"format": "zarr"}', "not BAMS3 metadata"),
])
def test_not_metadata(data: bytes, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_metadata(data)


@pytest.mark.parametrize("changes, message", [
    ({"totals": KeyError}, "schema at \\(top level\\)"),
    ({"run_id": "../../other-dataset"}, "schema at run_id"),
    ({"chunk_key_encoding__configuration__run_id": "20261123T101500Z-ffffffff"}, "another run"),
    ({"totals__records": 5}, "totals.records"),
    ({"totals__chunks": 3}, "chunk table has"),
    ({"bin_size": 500_000}, "outside its bin"),
    ({"bin_size": 2_000_000}, "beyond the end"),
    ({"header__crc32": 1}, "CRC-32"),
    ({"chunks__rows": 3}, "chunk table"),
    ({"codecs": []}, "schema at codecs"),
    ({"source__size": -1}, "schema at source/size"),
])
def test_tampering_is_detected(document: dict, changes: dict, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_metadata(_broken(document, **changes))


def test_chunks_out_of_order_are_refused() -> None:
    metadata = genome_metadata()
    columns = {k: v[::-1].copy() for k, v in metadata.chunks.columns.items()}
    with pytest.raises(DatasetError, match="file order"):
        DatasetMetadataV1(run_id=RUN_ID, source_url="x", source_size=None, header=metadata.header, bin_size=BIN,
                          codecs=metadata.codecs, chunks=ChunkTable(columns), totals=metadata.totals).check()
