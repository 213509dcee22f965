"""Chunk keys stay inside ``chunks/<run_id>/`` and run ids carry their start time."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bams3.dataset.keys import ChunkKeyEncoding, new_run_id, run_id_time
from bams3.errors import DatasetError


def test_run_id_round_trips_its_time() -> None:
    when = datetime(2026, 11, 23, 10, 15, 0, tzinfo=timezone.utc)
    run_id = new_run_id(when)
    assert run_id.startswith("20261123T101500Z-")
    assert run_id_time(run_id) == when
    assert run_id != new_run_id(when)  # the random part differs
    assert run_id_time("not-a-run") is None


def test_keys() -> None:
    keys = ChunkKeyEncoding("20261123T101500Z-0a1b2c3d")
    assert keys.encode(0, 0) == "chunks/20261123T101500Z-0a1b2c3d/0/0.bch"
    assert keys.encode(24, 248) == "chunks/20261123T101500Z-0a1b2c3d/24/248.bch"
    assert keys.encode(3, -1) == "chunks/20261123T101500Z-0a1b2c3d/3/-1.bch"  # placed reads without a position
    assert keys.encode(-1, 7) == "chunks/20261123T101500Z-0a1b2c3d/unplaced/7.bch"
    assert ChunkKeyEncoding.from_dict(keys.to_dict()) == keys


@pytest.mark.parametrize("run_id", ["../../elsewhere", "20261123T101500Z-0a1b2c3d/../x", "", "x" * 26,
                                    "20261123T101500Z-0A1B2C3D"])
def test_run_ids_that_could_escape_are_refused(run_id: str) -> None:
    with pytest.raises(DatasetError):
        ChunkKeyEncoding(run_id)


@pytest.mark.parametrize("ref_id, bin_", [(-2, 0), (0, -2), (-1, -1)])
def test_bad_coordinates(ref_id: int, bin_: int) -> None:
    with pytest.raises(DatasetError):
        ChunkKeyEncoding("20261123T101500Z-0a1b2c3d").encode(ref_id, bin_)


def test_unknown_encoding_name() -> None:
    with pytest.raises(DatasetError):
        ChunkKeyEncoding.from_dict({"name": "other", "configuration": {"run_id": "20261123T101500Z-0a1b2c3d"}})
