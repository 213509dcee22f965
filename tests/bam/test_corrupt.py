"""Damaged and wrong inputs: the right error type, one line naming the file, through the CLI too."""
from __future__ import annotations

import gzip
import io
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bams3.bam.bgzf import iter_blocks
from bams3.bam.bgzf_writer import BgzfWriter
from bams3.bam.flagstat import flagstat, flagstat_stream
from bams3.bam.reader import BamReader, read_header
from bams3.errors import BamFormatError, BgzfError, InputFormatError
from tests.bam import oracle
from tests.bam.records_helpers import make_record


def bgzf(data: bytes) -> bytes:
    out = io.BytesIO()
    with BgzfWriter(out) as w:
        w.write(data)
    return out.getvalue()


def header_bytes(tiny_bam: Path) -> bytes:
    with open(tiny_bam, "rb") as f:
        return read_header(f, name="x").raw


def corrupt_cases(tiny_bam: Path, edge_bam: Path) -> dict[str, tuple[bytes, type, str]]:
    """name -> (file bytes, error type, message fragment)."""
    good = edge_bam.read_bytes()
    blocks = list(iter_blocks(io.BytesIO(good), name="x"))
    crc_flip = bytearray(good)
    crc_flip[blocks[3].coffset + blocks[3].csize - 6] ^= 0x10
    header = header_bytes(tiny_bam)
    stream = oracle.uncompressed_stream(tiny_bam)
    return {
        "crc": (bytes(crc_flip), BgzfError, f"CRC mismatch in BGZF block at offset {blocks[3].coffset}"),
        "truncated": (good[: len(good) // 3], BgzfError, "truncated BGZF block at offset"),
        "no-eof": (good[:-28], BgzfError, "missing BGZF EOF marker"),
        "text": (b"chr1\t100\t200\n" * 50, BgzfError, "not a BGZF file (no gzip magic at offset 0)"),
        "gzip": (gzip.compress(stream), BgzfError, "plain gzip file, not BGZF"),
        "bam-magic": (bgzf(b"BAN\x01" + stream[4:]), BamFormatError, "not a BAM file (bad magic b'BAN\\x01'"),
        "vcf-bgzf": (bgzf(b"##fileformat=VCFv4.2\n" * 20), BamFormatError, "not a BAM file"),
        "header-len": (bgzf(b"BAM\x01" + struct.pack("<i", -7) + stream[8:]), BamFormatError, "impossible text length -7"),
        "n-ref": (bgzf(b"BAM\x01" + struct.pack("<ii", 0, 2**30)), BamFormatError, "impossible number of references"),
        "header-cut": (bgzf(header[:-5]), BamFormatError, "truncated BAM header"),
        "record-short": (bgzf(header + make_record(ref_id=0)[:-3]), BamFormatError, "truncated BAM record at virtual offset"),
        "record-len": (bgzf(header + struct.pack("<i", 12) + bytes(12)), BamFormatError, "block_size is below the 32-byte minimum"),
        "record-name": (bgzf(header + bytearray(make_record(ref_id=0)).replace(b"read1\0", b"read1x")), BamFormatError, "not NUL-terminated"),
        "empty": (b"", BgzfError, "empty file, not BGZF"),
    }


CASES = [
    "crc", "truncated", "no-eof", "text", "gzip", "bam-magic", "vcf-bgzf", "header-len", "n-ref",
    "header-cut", "record-short", "record-len", "record-name", "empty",
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("stream", [False, True])
def test_library_raises_the_right_error(case: str, threads: int, stream: bool, tiny_bam: Path, edge_bam: Path, tmp_path: Path) -> None:
    data, error, fragment = corrupt_cases(tiny_bam, edge_bam)[case]
    path = tmp_path / f"{case}.bam"
    path.write_bytes(data)
    with pytest.raises(error) as info:
        with open(path, "rb") as f:
            if stream:
                flagstat_stream(f, name=str(path), threads=threads)
            else:
                with BamReader(f, name=str(path), threads=threads) as reader:
                    flagstat(reader)
    message = str(info.value)
    assert isinstance(info.value, InputFormatError)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert fragment in message


@pytest.mark.parametrize("case", ["crc", "truncated", "no-eof", "text", "gzip", "bam-magic", "record-len", "empty"])
def test_cli_reports_one_line_and_fails(case: str, tiny_bam: Path, edge_bam: Path, tmp_path: Path) -> None:
    data, _, fragment = corrupt_cases(tiny_bam, edge_bam)[case]
    path = tmp_path / f"{case}.bam"
    path.write_bytes(data)
    result = subprocess.run([sys.executable, "-m", "bams3", "flagstat", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"bams3 flagstat: error: {path}: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.bam"
    result = subprocess.run([sys.executable, "-m", "bams3", "flagstat", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr and "Traceback" not in result.stderr
