"""Declared sizes are claims, not allocations: decompression bombs and huge length fields.

A few bytes can claim terabytes: a zstd frame header's content size, a packed table's row
count, a chunk footer's frame count, a BAM header's ``l_text``, an index's bin count. A
reader must check such a claim against what can be true (the bytes that are there, the
format's limits) before it allocates, and must fail with its own error type, never with
``MemoryError`` (which the CLI would print as a traceback) or by exhausting the machine.
Peak memory is measured with :mod:`tracemalloc`, which sees every Python buffer, including
the output buffers zstandard and numpy allocate for us.
"""
from __future__ import annotations

import base64
import io
import json
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from bams3.errors import BamFormatError, DatasetError, IndexFormatError, IntegrityError

MiB = 1024 * 1024
#: what any of these inputs may cost, at most
BOUND = 64 * MiB


def measure(action: Callable[[], object]) -> tuple[BaseException | None, int]:
    """Run ``action``; return what it raised (None if nothing) and the peak of traced memory."""
    tracemalloc.start()
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the caller checks the type
        return exc, tracemalloc.get_traced_memory()[1]
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return None, peak


def zstd_frame_claiming(content_size: int, payload: bytes = b"x" * 10) -> bytes:
    """A zstd frame whose header declares ``content_size`` bytes but whose one raw block holds ``payload``."""
    header = struct.pack("<I", 0xFD2FB528) + bytes([0xC0, 0x00]) + struct.pack("<Q", content_size)
    return header + (1 | (len(payload) << 3)).to_bytes(3, "little") + payload


def assert_refused(exc: BaseException | None, peak: int, error: type[BaseException]) -> None:
    assert isinstance(exc, error), f"expected {error.__name__}, got {exc!r}"
    assert "\n" not in str(exc)
    assert peak < BOUND, f"peak {peak / MiB:.0f} MiB"


# ------------------------------------------------------------------ BAMS3 chunks and metadata

def test_chunk_frame_claiming_a_terabyte() -> None:
    from bams3.dataset.codecs import ZstdFramesCodec

    exc, peak = measure(lambda: ZstdFramesCodec.decompress(zstd_frame_claiming(2**40), 8192, name="c.bch"))
    assert_refused(exc, peak, IntegrityError)


def test_frame_table_claiming_4_gib_per_frame() -> None:
    from bams3.dataset.codecs import ZstdFramesCodec

    size = 2**32 - 1
    exc, peak = measure(lambda: ZstdFramesCodec.decompress(zstd_frame_claiming(size), size, name="c.bch"))
    assert_refused(exc, peak, IntegrityError)


def footer_claiming(n_frames: int, table: bytes) -> bytes:
    from bams3.dataset.codecs import _SKIPPABLE_HEAD, _TRAILER, FOOTER_MAGIC, FOOTER_VERSION, SKIPPABLE_MAGIC

    payload = table + _TRAILER.pack(FOOTER_VERSION, n_frames, len(table), zlib.crc32(table), FOOTER_MAGIC)
    return _SKIPPABLE_HEAD.pack(SKIPPABLE_MAGIC, len(payload)) + payload


def test_chunk_footer_claiming_4_billion_frames() -> None:
    from bams3.dataset.codecs import FrameTable

    footer = footer_claiming(2**32 - 1, zstd_frame_claiming(2**40))
    exc, peak = measure(lambda: FrameTable.decode_footer(footer, chunk_size=10**6, name="c.bch"))
    assert_refused(exc, peak, IntegrityError)


def metadata_document(inputs_dataset: Path) -> dict:
    return json.loads((inputs_dataset / "_metadata.json").read_bytes())


@pytest.fixture(scope="module")
def local_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset on disk: its metadata is the starting point of the tampering below."""
    from bams3.dataset import convert
    from tests.helpers import bamgen

    root = tmp_path_factory.mktemp("bombs")
    bam = bamgen.write_bam(root / "b.bam", n_pairs=300, seed=9)
    convert(str(bam), str(root / "b.bams3"), bin_size=64_000, frame_bytes=8192, show_progress=False)
    return root / "b.bams3"


def test_metadata_chunk_table_claiming_a_billion_rows(local_dataset: Path) -> None:
    from bams3.dataset.metadata import parse_metadata

    document = metadata_document(local_dataset)
    document["chunks"]["rows"] = 2**30
    exc, peak = measure(lambda: parse_metadata(json.dumps(document).encode(), name="_metadata.json"))
    assert_refused(exc, peak, DatasetError)


def test_metadata_header_claiming_a_terabyte(local_dataset: Path) -> None:
    from bams3.dataset.metadata import parse_metadata

    document = metadata_document(local_dataset)
    document["header"]["size"] = 2**40
    document["header"]["data"] = base64.b64encode(zstd_frame_claiming(2**40)).decode()
    exc, peak = measure(lambda: parse_metadata(json.dumps(document).encode(), name="_metadata.json"))
    assert_refused(exc, peak, DatasetError)


def test_metadata_chunk_table_claiming_more_rows_than_its_data(local_dataset: Path) -> None:
    """A modest lie (a thousand more rows than the data holds) is found without a large allocation."""
    from bams3.dataset.metadata import parse_metadata

    document = metadata_document(local_dataset)
    document["chunks"]["rows"] += 1000
    exc, peak = measure(lambda: parse_metadata(json.dumps(document).encode(), name="_metadata.json"))
    assert_refused(exc, peak, DatasetError)


# ------------------------------------------------------------------ BAM and index

def bgzf(data: bytes) -> bytes:
    from bams3.bam.bgzf_writer import BgzfWriter

    out = io.BytesIO()
    with BgzfWriter(out) as writer:
        writer.write(data)
    return out.getvalue()


def read_bam(data: bytes) -> None:
    from bams3.bam.flagstat import flagstat
    from bams3.bam.reader import BamReader

    with BamReader(io.BytesIO(data), name="bomb.bam") as reader:
        flagstat(reader)


@pytest.mark.parametrize("l_text", [2**31 - 1, 2**31 + 5, 256 * MiB - 1])
def test_bam_header_claiming_a_huge_text(l_text: int) -> None:
    """``l_text`` of 2 GiB (or just under the 256 MiB limit) with a few bytes behind it."""
    raw = b"BAM\1" + struct.pack("<I", l_text) + b"@HD\tVN:1.6\n" * 4
    exc, peak = measure(lambda: read_bam(bgzf(raw)))
    assert_refused(exc, peak, BamFormatError)


def test_bam_header_claiming_fifty_million_references() -> None:
    raw = b"BAM\1" + struct.pack("<i", 0) + struct.pack("<i", 50_000_000) + struct.pack("<i", 5) + b"chr1\0"
    exc, peak = measure(lambda: read_bam(bgzf(raw)))
    assert_refused(exc, peak, BamFormatError)


def test_bam_record_claiming_two_gib() -> None:
    header = b"BAM\1" + struct.pack("<i", 0) + struct.pack("<i", 1) + struct.pack("<i", 5) + b"chr1\0" + \
        struct.pack("<i", 1000)
    record = struct.pack("<i", 2**31 - 1) + bytes(40)
    exc, peak = measure(lambda: read_bam(bgzf(header + record)))
    assert_refused(exc, peak, BamFormatError)


@pytest.mark.parametrize("field", ["n_ref", "n_bin", "n_chunk", "n_intv"])
def test_index_claiming_two_billion_entries(field: str) -> None:
    """A BAI whose counts claim 2^31-1 references, bins, chunks or linear entries in 30 bytes."""
    from bams3.bam.bai import parse_index

    big = struct.pack("<i", 2**31 - 1)
    one = struct.pack("<i", 1)
    zero = struct.pack("<i", 0)
    parts = {
        "n_ref": b"BAI\1" + big,
        "n_bin": b"BAI\1" + one + big,
        "n_chunk": b"BAI\1" + one + one + struct.pack("<I", 4681) + big,
        "n_intv": b"BAI\1" + one + zero + big,
    }
    exc, peak = measure(lambda: parse_index(parts[field] + bytes(16), name="bomb.bai"))
    assert_refused(exc, peak, IndexFormatError)


# ------------------------------------------------------------------ staging: decompressing downloads

def zeros_zstd(size: int) -> bytes:
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    block = bytes(MiB)
    return b"".join([*(compressor.compress(block) for _ in range(size // MiB)), compressor.flush()])


def test_staged_zstd_bomb_is_decompressed_in_bounded_memory(tmp_path: Path) -> None:
    """160 MiB of zeros in ~5 KB of zstd: decompressed to disk without holding it in memory."""
    from bams3.stage._decompress import decompress_file

    source = tmp_path / "bomb.zst"
    source.write_bytes(zeros_zstd(160 * MiB))
    assert source.stat().st_size < 16_384
    dest = tmp_path / "bomb"
    exc, peak = measure(lambda: decompress_file(source, dest, what="bomb.zst"))
    assert exc is None and dest.stat().st_size == 160 * MiB
    assert peak < BOUND, f"peak {peak / MiB:.0f} MiB"


def test_staged_zstd_frame_claiming_a_terabyte(tmp_path: Path) -> None:
    from bams3.stage._decompress import decompress_file

    source = tmp_path / "claim.zst"
    source.write_bytes(zstd_frame_claiming(2**40))
    exc, peak = measure(lambda: decompress_file(source, tmp_path / "claim", what="claim.zst"))
    assert_refused(exc, peak, IntegrityError)
