"""Packed columnar tables decode to exactly what was encoded, and refuse damaged data."""
from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bams3.dataset._packed import Column, pack_table, unpack_table
from bams3.errors import DatasetError

COLUMNS = (Column("a", "<i4", ("delta",)), Column("b", "<u8"), Column("c", "<u1"), Column("d", "<i8", ("delta",)))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 300).flatmap(lambda n: st.tuples(
    hnp.arrays(np.int32, n), hnp.arrays(np.uint64, n), hnp.arrays(np.uint8, n), hnp.arrays(np.int64, n))))
def test_round_trip(arrays: tuple[np.ndarray, ...]) -> None:
    values = dict(zip("abcd", arrays))
    decoded = unpack_table(pack_table(COLUMNS, values))
    for name, array in values.items():
        assert decoded[name].dtype == np.dtype(dict((c.name, c.dtype) for c in COLUMNS)[name])
        np.testing.assert_array_equal(decoded[name], array)
        assert not decoded[name].flags.writeable


def test_values_that_do_not_fit_are_refused() -> None:
    with pytest.raises(DatasetError, match="do not fit"):
        pack_table((Column("x", "<u1"),), {"x": np.array([256])})
    with pytest.raises(DatasetError, match="do not fit"):
        pack_table((Column("x", "<u4"),), {"x": np.array([-1])})


def test_damaged_tables_are_refused() -> None:
    table = pack_table(COLUMNS, {k: np.arange(10) for k in "abcd"})
    with pytest.raises(DatasetError):
        unpack_table({**table, "rows": 11})
    with pytest.raises(DatasetError):
        unpack_table({**table, "data": "!!!" + table["data"]})
    blob = bytearray(base64.b64decode(table["data"]))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(DatasetError):
        unpack_table({**table, "data": base64.b64encode(bytes(blob)).decode()})
    with pytest.raises(DatasetError):
        unpack_table({**table, "encoding": "other"})
    with pytest.raises(DatasetError):
        unpack_table({**table, "columns": [{"name": "a", "dtype": "<f8"}]})
