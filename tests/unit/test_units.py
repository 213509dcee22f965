"""Size parsing keeps genomic (decimal) and byte (binary) suffixes apart."""
from __future__ import annotations

import pytest

from bams3.errors import UsageError
from bams3.units import format_bytes, parse_bases, parse_bytes


def test_bases_are_decimal() -> None:
    assert parse_bases("1M") == 1_000_000
    assert parse_bases("2m") == 2_000_000
    assert parse_bases("16K") == 16_000
    assert parse_bases("1.5M") == 1_500_000
    assert parse_bases(1000) == 1000


def test_bytes_are_binary_unless_decimal_unit() -> None:
    assert parse_bytes("256M") == 256 * 2**20
    assert parse_bytes("256MiB") == 256 * 2**20
    assert parse_bytes("100MB") == 100 * 10**6


@pytest.mark.parametrize("bad", ["", "abc", "1Q", "-5", "0", "1.5"])
def test_bad_sizes(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_bytes(bad)


def test_format_bytes() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 2**30) == "3.0 GiB"
