"""BGZF: virtual positions, the writer's blocks and positions, the block iterator and its checks."""
from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from bams3.bam import _layout as L
from bams3.bam import _walk, bgzf
from bams3.bam.bgzf import (
    Block,
    BlockReader,
    VirtualPosition,
    inflate_block,
    iter_block_runs,
    iter_blocks,
    parse_header,
    parse_trailer,
    read_frame,
)
from bams3.bam.bgzf_writer import BgzfWriter, compress_block
from bams3.errors import BgzfError


def bgzf_bytes(payload: bytes, *, level: int = 6, flush_every: int | None = None) -> bytes:
    out = io.BytesIO()
    with BgzfWriter(out, level=level) as writer:
        if flush_every is None:
            writer.write(payload)
        else:
            for i in range(0, len(payload), flush_every):
                writer.write(payload[i : i + flush_every])
                writer.flush()
    return out.getvalue()


def test_virtual_position_packing_and_order() -> None:
    vp = VirtualPosition(4660, 86)
    assert int(vp) == 0x12340056
    assert VirtualPosition.from_int(int(vp)) == vp
    assert sorted([VirtualPosition(2, 0), VirtualPosition(1, 65535), VirtualPosition(1, 3)]) == [
        VirtualPosition(1, 3),
        VirtualPosition(1, 65535),
        VirtualPosition(2, 0),
    ]
    assert str(vp) == "4660:86"
    with pytest.raises(ValueError):
        VirtualPosition(0, 65536)
    with pytest.raises(ValueError):
        VirtualPosition(1 << 48, 0)
    with pytest.raises(ValueError):
        VirtualPosition.from_int(-1)


def test_writer_positions_blocks_and_eof_marker() -> None:
    out = io.BytesIO()
    payload = os.urandom(200_000)  # incompressible: stored blocks must still fit in 64 KiB
    positions = []
    with BgzfWriter(out) as writer:
        for i in range(0, len(payload), 10_000):
            positions.append((i, writer.tell()))
            writer.write(payload[i : i + 10_000])
        end = writer.tell()
    data = out.getvalue()
    assert data.endswith(L.BGZF_EOF_MARKER)
    blocks = list(iter_blocks(io.BytesIO(data), name="mem"))
    assert b"".join(b.data for b in blocks) == payload
    assert all(b.csize <= L.BGZF_MAX_BLOCK_SIZE and b.isize <= L.BGZF_WRITE_BLOCK_SIZE for b in blocks)
    assert [b.isize for b in blocks[:-2]] == [L.BGZF_WRITE_BLOCK_SIZE] * (len(blocks) - 2)
    assert blocks[-1].isize == 0 and blocks[-1].coffset == len(data) - 28
    # every tell() points at the byte written next: block start + offset in its data
    starts = {}
    total = 0
    for b in blocks:
        starts[b.coffset] = total
        total += b.isize
    for i, vp in positions:
        assert starts[vp.compressed] + vp.uncompressed == i
    assert end == VirtualPosition(blocks[-2].coffset, len(payload) % L.BGZF_WRITE_BLOCK_SIZE)
    assert gzip.decompress(data) == payload  # BGZF is gzip


def test_writer_tell_after_full_block_points_at_the_next_block() -> None:
    out = io.BytesIO()
    writer = BgzfWriter(out, level=1)
    writer.write(b"a" * L.BGZF_WRITE_BLOCK_SIZE)
    vp = writer.tell()
    assert vp.uncompressed == 0 and vp.compressed == len(out.getvalue()) > 0
    writer.write(b"b" * 10)
    assert writer.tell() == VirtualPosition(vp.compressed, 10)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError):
        writer.write(b"x")


def test_compress_block_is_a_valid_gzip_member() -> None:
    block = compress_block(b"hello bgzf", level=9)
    assert zlib.decompress(block, 31) == b"hello bgzf"
    header_size, block_size = parse_header(block, 0, name="m", coffset=0)
    assert (header_size, block_size) == (18, len(block))
    with pytest.raises(ValueError):
        compress_block(b"x" * (L.BGZF_WRITE_BLOCK_SIZE + 1))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("slab_bytes", [70_000, 1 << 22])
def test_iterator_same_blocks_whatever_threads_and_slab(threads: int, slab_bytes: int) -> None:
    payload = b"".join(i.to_bytes(4, "little") for i in range(150_000)) + os.urandom(100_000)
    data = bgzf_bytes(payload, flush_every=7_777)  # many small blocks, frames cut by slab edges
    blocks = list(iter_blocks(io.BytesIO(data), name="mem", threads=threads, slab_bytes=slab_bytes))
    assert b"".join(b.data for b in blocks) == payload
    offsets = [b.coffset for b in blocks]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert all(a.coffset + a.csize == b.coffset for a, b in zip(blocks, blocks[1:]))
    runs = list(iter_block_runs(io.BytesIO(data), name="mem", threads=threads, slab_bytes=slab_bytes))
    assert [(c, s, bytes(d)) for run in runs for c, s, d in run] == [(b.coffset, b.csize, bytes(b.data)) for b in blocks]


def test_stream_without_readinto_and_start_offset() -> None:
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self._f = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._f.read(min(n, 1000))  # short reads, as sockets give

    data = bgzf_bytes(b"xyz" * 50_000, flush_every=20_000)
    blocks = list(iter_blocks(ReadOnly(data), name="sock"))
    assert b"".join(b.data for b in blocks) == b"xyz" * 50_000
    second = blocks[1].coffset
    tail = list(iter_blocks(io.BytesIO(data[second:]), name="tail", start_coffset=second))
    assert [b.coffset for b in tail] == [b.coffset for b in blocks[1:]]


def test_read_frame_and_inflate_block_one_at_a_time() -> None:
    data = bgzf_bytes(b"one" * 30_000, flush_every=40_000)
    f = io.BytesIO(data)
    coffset, frames = 0, []
    while (frame := read_frame(f, name="m", coffset=coffset)) is not None:
        frames.append(frame)
        coffset += frame.csize
    blocks = [inflate_block(fr, name="m") for fr in frames]
    assert b"".join(b.data for b in blocks) == b"one" * 30_000
    assert frames[-1].raw() == L.BGZF_EOF_MARKER
    crc, isize = parse_trailer(frames[0])
    assert isize == 40_000 and crc == zlib.crc32((b"one" * 30_000)[:40_000])
    assert isinstance(blocks[0], Block) and blocks[0].virtual_position(5) == VirtualPosition(0, 5)


def test_general_header_with_extra_subfields_is_accepted() -> None:
    """A BC subfield after another subfield (allowed by RFC 1952 and SAMv1) is found."""
    block = compress_block(b"payload!")
    extra = b"XY\x02\x00ab" + block[12:18]
    xlen = len(extra)
    rebuilt = block[:10] + xlen.to_bytes(2, "little") + extra + block[18:]
    bsize = len(rebuilt) - 1
    rebuilt = rebuilt[: 12 + 6 + 4] + bsize.to_bytes(2, "little") + rebuilt[12 + 6 + 6 :]
    data = rebuilt + L.BGZF_EOF_MARKER
    blocks = list(iter_blocks(io.BytesIO(data), name="x"))
    assert blocks[0].data == b"payload!"
    assert blocks[1].coffset == len(rebuilt)


# --- errors: each names the file and the problem in one line -------------------------------


def errors_of(data: bytes, **kwargs: object) -> str:
    with pytest.raises(BgzfError) as info:
        list(iter_blocks(io.BytesIO(data), name="sample.bam", **kwargs))
    message = str(info.value)
    assert message.startswith("sample.bam: ") and "\n" not in message
    return message


def test_crc_mismatch() -> None:
    data = bytearray(bgzf_bytes(b"z" * 1000))
    first_end = parse_header(data, 0, name="x", coffset=0)[1]
    data[first_end - 8] ^= 0xFF  # the CRC field
    assert errors_of(bytes(data)) == "sample.bam: CRC mismatch in BGZF block at offset 0"


def test_flipped_data_byte_in_a_stored_block_is_a_crc_mismatch() -> None:
    data = bytearray(bgzf_bytes(b"stored data " * 100, level=0))
    data[100] ^= 0x01  # inside the stored payload: inflates fine, CRC catches it
    assert "CRC mismatch in BGZF block at offset 0" in errors_of(bytes(data))


@pytest.mark.parametrize("threads", [1, 2])
def test_flipped_byte_in_deflate_data_is_reported_at_its_block(threads: int) -> None:
    rng = random.Random(1)
    text = "".join(rng.choice("ACGT") for _ in range(250_000)).encode()  # compressible, every bit matters
    data = bytearray(bgzf_bytes(text, level=6))
    blocks = list(iter_blocks(io.BytesIO(bytes(data)), name="x"))
    target = blocks[2]
    data[target.coffset + target.csize // 2] ^= 0x55
    message = errors_of(bytes(data), threads=threads)
    assert f"BGZF block at offset {target.coffset}" in message
    assert any(word in message for word in ("CRC mismatch", "corrupt deflate data", "ISIZE mismatch"))


def test_isize_above_64k_is_rejected_before_inflating() -> None:
    block = bytearray(compress_block(b"q" * 100))
    block[-4:] = (70_000).to_bytes(4, "little")
    assert "declares ISIZE 70000, above the 65536 limit" in errors_of(bytes(block) + L.BGZF_EOF_MARKER)


def test_isize_mismatch() -> None:
    block = bytearray(compress_block(b"q" * 100))
    block[-4:] = (50).to_bytes(4, "little")
    message = errors_of(bytes(block) + L.BGZF_EOF_MARKER)
    assert "BGZF block at offset 0" in message and ("ISIZE" in message or "corrupt deflate" in message)


def test_not_gzip_at_all() -> None:
    assert errors_of(b"@HD\tVN:1.6\n" * 10) == "sample.bam: not a BGZF file (no gzip magic at offset 0)"


def test_plain_gzip_is_not_bgzf() -> None:
    message = errors_of(gzip.compress(b"hello" * 1000))
    assert "plain gzip file, not BGZF" in message


def test_bad_magic_later_in_the_file() -> None:
    data = bgzf_bytes(b"abc" * 1000) + b"garbage that is long enough to hold a header"
    message = errors_of(data)
    assert "bad gzip magic in BGZF block at offset" in message


def test_truncated_file() -> None:
    data = bgzf_bytes(b"abc" * 100_000, flush_every=50_000)
    assert "truncated BGZF block at offset" in errors_of(data[:-100])
    assert "truncated BGZF block" in errors_of(data[:10])


def test_missing_eof_marker() -> None:
    data = bgzf_bytes(b"abc" * 1000)[: -len(L.BGZF_EOF_MARKER)]
    assert "missing BGZF EOF marker" in errors_of(data)
    # a ranged read of the middle of a file does not need one
    assert b"".join(b.data for b in iter_blocks(io.BytesIO(data), name="x", require_eof=False)) == b"abc" * 1000


def test_empty_file() -> None:
    assert errors_of(b"") == "sample.bam: empty file, not BGZF"


def test_block_size_too_small() -> None:
    block = bytearray(compress_block(b"x"))
    block[16:18] = (10).to_bytes(2, "little")
    assert "declares size 11, too small" in errors_of(bytes(block))


@pytest.mark.parametrize("threads", [1, 2])
def test_errors_come_only_when_the_consumer_reaches_the_bad_block(threads: int) -> None:
    data = bgzf_bytes(b"k" * 400_000, flush_every=10_000)
    cut = data[: len(data) // 2]  # a ranged read that ends inside a block
    it = iter_blocks(io.BytesIO(cut), name="x", threads=threads, require_eof=False)
    good = [next(it) for _ in range(5)]  # read-ahead may already have met the cut: no error yet
    assert b"".join(b.data for b in good) == b"k" * 50_000
    with pytest.raises(BgzfError, match="truncated BGZF block"):
        list(it)


@pytest.mark.parametrize("cut", [1, 2, 10, 16, 17, 30])
def test_short_heads_are_truncation_errors(cut: int) -> None:
    data = bgzf_bytes(b"abc" * 10)[:cut]
    with pytest.raises(BgzfError, match=r"^m: truncated BGZF block"):
        read_frame(io.BytesIO(data), name="m", coffset=0)
    assert "truncated BGZF block" in errors_of(data)


# --- the two inflate paths and the run reader -------------------------------------------------


@pytest.fixture(params=["libdeflate", "deflate-package"])
def inflate_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the C helper's libdeflate path and with the block-by-block fallback."""
    if request.param == "libdeflate":
        if not _walk.HAVE_LIBDEFLATE:
            pytest.skip("the C helper was built without libdeflate")
        monkeypatch.setattr(bgzf, "_INFLATE_FRAMES", bgzf._inflate_frames_c)
    else:
        monkeypatch.setattr(bgzf, "_INFLATE_FRAMES", bgzf._inflate_frames_py)
    return request.param


@pytest.mark.parametrize("threads", [1, 2])
def test_both_inflate_paths_give_the_same_blocks(inflate_path: str, threads: int) -> None:
    payload = b"".join(i.to_bytes(4, "little") for i in range(100_000)) + os.urandom(70_000)
    data = bgzf_bytes(payload, flush_every=5_555)
    blocks = list(iter_blocks(io.BytesIO(data), name="mem", threads=threads, slab_bytes=80_000))
    assert b"".join(b.data for b in blocks) == payload
    assert [b.coffset for b in blocks] == [0] + list(itertools.accumulate(b.csize for b in blocks[:-1]))


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        ("crc", "CRC mismatch in BGZF block at offset {coffset}"),
        ("isize-small", "BGZF block at offset {coffset}"),
        ("isize-large", "BGZF block at offset {coffset} declares ISIZE 70000, above the 65536 limit"),
        ("deflate", "corrupt deflate data in BGZF block at offset {coffset}"),
    ],
)
def test_both_inflate_paths_give_the_same_errors(inflate_path: str, edit: str, fragment: str) -> None:
    data = bytearray(bgzf_bytes(b"acgt" * 60_000, flush_every=30_000))
    blocks = list(iter_blocks(io.BytesIO(bytes(data)), name="x"))
    target = blocks[2]
    end = target.coffset + target.csize
    if edit == "crc":
        data[end - 8] ^= 0xFF
    elif edit == "isize-small":
        data[end - 4 : end] = (target.isize - 1).to_bytes(4, "little")
    elif edit == "isize-large":
        data[end - 4 : end] = (70_000).to_bytes(4, "little")
    else:
        data[target.coffset + 18] = 0xFF  # deflate block type 3 (reserved): invalid at once
    message = errors_of(bytes(data))
    assert fragment.format(coffset=target.coffset) in message
    if edit == "isize-small":
        assert "ISIZE mismatch" in message or "corrupt deflate data" in message


def test_runs_leave_the_gap_free_and_carry_block_tables() -> None:
    payload = os.urandom(50_000) + b"z" * 300_000
    data = bgzf_bytes(payload, flush_every=20_000)
    with BlockReader(io.BytesIO(data), name="m", gap=1000) as reader:
        runs = []
        while (run := reader.read(70_000)) is not None:
            runs.append(run)
    assert all(r.start == 1000 and r.size >= 70_000 for r in runs[:-1])
    assert b"".join(bytes(r.data[r.start : r.stop]) for r in runs) == payload
    blocks = list(iter_blocks(io.BytesIO(data), name="m"))
    assert [c for r in runs for c in r.coffsets.tolist()] == [b.coffset for b in blocks]
    assert [s for r in runs for s in r.csizes.tolist()] == [b.csize for b in blocks]
    for r in runs:  # each block's data starts where the table says
        for start, block in zip(r.starts.tolist(), (b for b in blocks if b.coffset in set(r.coffsets.tolist()))):
            assert bytes(r.data[start : start + block.isize]) == block.data


@pytest.mark.parametrize("threads", [1, 2])
def test_limit_stops_reads_and_read_beyond_limit_goes_on(threads: int) -> None:
    data = bgzf_bytes(b"q" * 400_000, flush_every=25_000)
    blocks = list(iter_blocks(io.BytesIO(data), name="m"))
    limit = blocks[6].coffset
    with BlockReader(io.BytesIO(data), name="m", threads=threads, limit=limit) as reader:
        reader.start_read_ahead(30_000)
        seen = []
        while (run := reader.read(1)) is not None:
            seen += run.coffsets.tolist()
        assert seen == [b.coffset for b in blocks[:6]]
        more = reader.read_beyond_limit(1)
        assert more is not None and more.coffsets.tolist()[0] == limit
        assert reader.read() is None  # the limit still holds for plain reads


@pytest.mark.parametrize("threads", [1, 2])
def test_bad_bytes_past_the_limit_are_not_an_error_before_it(threads: int) -> None:
    """A ranged stream cut inside the block after its range: reading up to the limit is fine."""
    data = bgzf_bytes(b"w" * 300_000, flush_every=30_000)
    blocks = list(iter_blocks(io.BytesIO(data), name="m"))
    cut = data[: blocks[5].coffset + blocks[5].csize // 2]  # ends inside block 5
    with BlockReader(io.BytesIO(cut), name="m", threads=threads, require_eof=False, limit=blocks[5].coffset) as reader:
        reader.start_read_ahead(1)
        got = []
        while (run := reader.read(1)) is not None:
            got += run.coffsets.tolist()
        assert reader.read() is None and got == [b.coffset for b in blocks[:5]]
        with pytest.raises(BgzfError, match=f"truncated BGZF block at offset {blocks[5].coffset}"):
            reader.read_beyond_limit(1)


def test_build_without_libdeflate_falls_back(tmp_path: Path) -> None:
    """The C helper built with BAMS3_LIBDEFLATE=0 has no inflate_frames; bgzf then inflates
    through the deflate package, with the same results."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, BAMS3_LIBDEFLATE="0")
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "-b", str(tmp_path / "lib"), "-t", str(tmp_path / "tmp")],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (built,) = (tmp_path / "lib" / "bams3" / "bam").glob("_walk*.so")
    payload = b"fallback " * 50_000
    (tmp_path / "x.gz").write_bytes(bgzf_bytes(payload, flush_every=9_000))
    script = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("bams3.bam._walk", {str(built)!r})
module = importlib.util.module_from_spec(spec)
sys.modules["bams3.bam._walk"] = module
spec.loader.exec_module(module)
from bams3.bam import bgzf
assert module.HAVE_LIBDEFLATE is False and not hasattr(module, "inflate_frames")
assert bgzf._INFLATE_FRAMES is bgzf._inflate_frames_py
with open({str(tmp_path / "x.gz")!r}, "rb") as f:
    data = b"".join(b.data for b in bgzf.iter_blocks(f, name="x", threads=2))
sys.stdout.write(hashlib.sha256(data).hexdigest())
"""
    result = subprocess.run([sys.executable, "-c", "import hashlib\n" + script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == hashlib.sha256(payload).hexdigest()
