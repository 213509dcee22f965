"""The chunk container: independent zstd frames plus a footer that zstd itself skips."""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import zstandard

from bams3.dataset.codecs import FOOTER_OVERHEAD, FrameTable, UnknownCodec, ZstdFramesCodec, codec_from_dict
from bams3.dataset.fields.codec import FieldsCodec
from bams3.errors import DatasetError, IntegrityError


def _chunk(payloads: list[bytes], codec: ZstdFramesCodec) -> tuple[bytes, FrameTable]:
    frames = [codec.compress(p) for p in payloads]
    n = len(payloads)
    table = FrameTable(
        comp_size=np.array([len(f) for f in frames], dtype=np.uint32),
        raw_size=np.array([len(p) for p in payloads], dtype=np.uint32),
        n_records=np.arange(1, n + 1, dtype=np.uint32),
        min_pos=np.arange(n, dtype=np.int32) * 1000,
        max_pos=np.arange(n, dtype=np.int32) * 1000 + 900,
        max_end=np.arange(n, dtype=np.int64) * 1000 + 1150,
    )
    return b"".join(frames) + table.encode_footer(), table


@pytest.fixture
def chunk() -> tuple[bytes, FrameTable, list[bytes]]:
    rng = np.random.default_rng(0)
    payloads = [rng.integers(0, 4, 5000 + 100 * i, dtype=np.uint8).tobytes() for i in range(7)]
    data, table = _chunk(payloads, ZstdFramesCodec(level=3, frame_bytes=4096))
    return data, table, payloads


def test_footer_round_trip_and_frame_access(chunk: tuple[bytes, FrameTable, list[bytes]]) -> None:
    data, table, payloads = chunk
    footer_size = len(table.encode_footer())
    decoded = FrameTable.decode_footer(data[-footer_size:], chunk_size=len(data), name="c")
    for name in ("comp_size", "raw_size", "n_records", "min_pos", "max_pos", "max_end"):
        np.testing.assert_array_equal(getattr(decoded, name), getattr(table, name))
    for i, (offset, size) in enumerate(zip(decoded.offsets.tolist(), decoded.comp_size.tolist())):
        assert ZstdFramesCodec.decompress(data[offset:offset + size], int(decoded.raw_size[i]), name="c") == payloads[i]


def test_zstd_tools_read_a_chunk_as_the_raw_records(chunk: tuple[bytes, FrameTable, list[bytes]]) -> None:
    data, _, payloads = chunk
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    assert reader.read() == b"".join(payloads)  # the footer is a skippable frame


def test_frame_selection() -> None:
    table = FrameTable(*(np.array(v) for v in ([1, 1, 1], [1, 1, 1], [2, 2, 2], [0, 100, 200], [90, 190, 290],
                                               [500, 250, 300])))
    assert table.overlapping(95, 99).tolist() == [0]  # frame 0 holds a long read reaching over
    assert table.overlapping(240, 260).tolist() == [0, 1, 2]
    assert table.overlapping(255, 260).tolist() == [0, 2]
    assert table.overlapping(300, 400).tolist() == [0]
    assert table.inside(100, 200).tolist() == [False, True, False]
    assert table.inside(0, 1000).tolist() == [True, True, True]


@pytest.mark.parametrize("where", ["skippable_magic", "trailer_magic", "table", "size"])
def test_damaged_footers_are_detected(chunk: tuple[bytes, FrameTable, list[bytes]], where: str) -> None:
    data, table, _ = chunk
    footer = bytearray(table.encode_footer())
    size = len(data)
    if where == "skippable_magic":
        footer[0] ^= 1
    elif where == "trailer_magic":
        footer[-1] ^= 1
    elif where == "table":
        footer[10] ^= 1
    else:
        size += 1
    with pytest.raises(IntegrityError):
        FrameTable.decode_footer(bytes(footer), chunk_size=size, name="c")


def test_newer_footer_version_is_refused(chunk: tuple[bytes, FrameTable, list[bytes]]) -> None:
    _, table, _ = chunk
    footer = bytearray(table.encode_footer())
    struct.pack_into("<I", footer, len(footer) - FOOTER_OVERHEAD + 8, 2)
    with pytest.raises(DatasetError, match="version 2"):
        FrameTable.decode_footer(bytes(footer), chunk_size=0, name="c")


def test_corrupt_frame_fails_its_checksum(chunk: tuple[bytes, FrameTable, list[bytes]]) -> None:
    data, table, _ = chunk
    frame = bytearray(data[: int(table.comp_size[0])])
    frame[len(frame) // 2] ^= 0x55
    with pytest.raises(IntegrityError):
        ZstdFramesCodec.decompress(bytes(frame), int(table.raw_size[0]), name="c")
    with pytest.raises(IntegrityError, match="expected"):
        ZstdFramesCodec.decompress(data[: int(table.comp_size[0])], int(table.raw_size[0]) - 1, name="c")


def test_codec_registry() -> None:
    codec = ZstdFramesCodec(level=7, frame_bytes=65536)
    assert codec_from_dict(codec.to_dict()) == codec
    fields = FieldsCodec(level=3, block_bytes=65536)
    assert codec_from_dict(fields.to_dict()) == fields
    with pytest.raises(DatasetError):
        codec_from_dict({"name": fields.name, "configuration": {"level": 3, "frame_bytes": 1024}})
    unknown = codec_from_dict({"name": "bams3.future.v9", "configuration": {"x": 1}})
    assert isinstance(unknown, UnknownCodec)
    with pytest.raises(DatasetError, match="not supported"):
        unknown.require("chunk")
    with pytest.raises(DatasetError):
        codec_from_dict({"name": codec.name, "configuration": {"level": 3, "dictionary": "x"}})
    with pytest.raises(DatasetError):
        ZstdFramesCodec(level=0)
