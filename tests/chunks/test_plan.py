"""The plan model, its JSON Schema, sort keys and the shard sizing arithmetic (pure parts)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bams3.bam.bgzf import VirtualPosition
from bams3.chunks import ChunkPlan, Shard, ShardSizing, SortKey, load_plan, plan_from_dict, save_plan
from bams3.chunks._keys import UNPLACED, pack_keys
from bams3.chunks._sizing import ScanCutter, greedy_cuts
from bams3.errors import ConfigError, UsageError


def _scan_plan(**changes: object) -> ChunkPlan:
    shards = (
        Shard(VirtualPosition(100, 5), VirtualPosition(900, 10), None, None, 2000, 2000),
        Shard(VirtualPosition(900, 10), None, None, None, 500, 500),
    )
    fields = dict(bam_url="s3://b/x.bam", bam_size=2000, bam_etag='"abc"', index_url=None, index_format=None,
                  method="scan", chunk_size=1000, sizing=ShardSizing(reads=2000, bytes=None), total_reads=2500,
                  total_chunks=3, references=(("chr1", 1000), ("chr2", 500)), shards=shards)
    fields.update(changes)
    return ChunkPlan(**fields)  # type: ignore[arg-type]


def _index_plan() -> ChunkPlan:
    shards = (
        Shard(VirtualPosition(100, 5), VirtualPosition(700, 0), None, SortKey(0, 16384), None, 1200),
        Shard(VirtualPosition(600, 7), VirtualPosition(900, 3), SortKey(0, 16384), UNPLACED, None, 1000),
        Shard(VirtualPosition(900, 3), None, UNPLACED, None, 300, 300),
    )
    return ChunkPlan(bam_url="x.bam", bam_size=2000, bam_etag=None, index_url="x.bam.bai", index_format="bai",
                     method="index", chunk_size=1000, sizing=ShardSizing(), total_reads=2500, total_chunks=4,
                     references=(("chr1", 100_000),), shards=shards)


def test_plans_round_trip_through_validated_json(tmp_path: Path) -> None:
    for plan in (_scan_plan(), _index_plan()):
        save_plan(plan, tmp_path / "plan.json")
        assert load_plan(tmp_path / "plan.json") == plan
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary left behind


def test_scan_plans_fix_chunk_ids_and_index_plans_do_not() -> None:
    scan = _scan_plan()
    assert scan.chunk_ids_final and [scan.first_chunk_id(k) for k in range(2)] == [1, 3]
    index = _index_plan()
    assert not index.chunk_ids_final and index.first_chunk_id(1) is None
    with pytest.raises(UsageError, match="no shard 3"):
        index.shard(3)


def test_byte_ranges_reach_the_block_holding_stop() -> None:
    plan = _index_plan()
    assert plan.shards[0].byte_range(plan.bam_size) == (100, 700)  # stop at a block start: nothing of it needed
    assert plan.shards[1].byte_range(plan.bam_size) == (600, 2000)  # inside a block: up to 64 KiB more, capped
    assert plan.shards[2].byte_range(plan.bam_size) == (900, 2000)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.pop("shards"), "'shards' is a required property"),
        (lambda d: d["shards"][0].update(start=-1), "shards/0/start"),
        (lambda d: d.update(method="guess"), "method"),
        (lambda d: d["shards"][0].update(reads=1999), "whole chunks"),
        (lambda d: d.update(total_reads=2501), "add up"),
        (lambda d: d["shards"][0].update(stop=d["shards"][1]["start"] + 1), "stop where the next one starts"),
        (lambda d: d["shards"][0].update(first=[0, 5]), "key ranges"),
    ],
)
def test_bad_plans_fail_on_load_with_one_line(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = _scan_plan().to_dict()
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=message) as caught:
        load_plan(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_index_plans_must_tile_the_key_space() -> None:
    doc = _index_plan().to_dict()
    doc["shards"][1]["first"] = [0, 20000]  # a gap between shard 0 and shard 1
    with pytest.raises(ConfigError, match="without gaps"):
        plan_from_dict(doc)
    doc = _index_plan().to_dict()
    doc["shards"][2]["end"] = [-1, 5]
    with pytest.raises(ConfigError, match="from start to end"):
        plan_from_dict(doc)


def test_sort_keys_follow_samtools_order() -> None:
    keys = [SortKey(0, -1), SortKey(0, 0), SortKey(0, 5), SortKey(1, 0), SortKey(2, 1 << 30), UNPLACED]
    assert sorted(reversed(keys)) == keys
    packed = pack_keys(np.array([k.ref_id for k in keys]), np.array([k.pos for k in keys]))
    assert packed.tolist() == [k.packed for k in keys] and bool(np.all(np.diff(packed.astype(np.float64)) > 0))


def _greedy_by_hand(cum_reads: np.ndarray, cum_bytes: np.ndarray, max_reads: float | None, max_bytes: float | None) -> list[int]:
    starts, s = [0], 0
    n = len(cum_reads) - 1
    for e in range(1, n):
        if (max_reads is not None and cum_reads[e] - cum_reads[s] >= max_reads) or (
            max_bytes is not None and cum_bytes[e] - cum_bytes[s] >= max_bytes
        ):
            starts.append(e)
            s = e
    return starts


@pytest.mark.parametrize("seed", range(5))
def test_greedy_cuts_close_shards_at_the_first_target_reached(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    cum_reads = np.concatenate([[0], np.cumsum(rng.integers(0, 50, n))])
    cum_bytes = np.concatenate([[0], np.cumsum(rng.integers(0, 5000, n))])
    for max_reads, max_bytes in ((100, None), (None, 20_000), (300, 40_000), (1, 1)):
        got = greedy_cuts(cum_reads, cum_bytes, max_reads=max_reads, max_bytes=max_bytes).tolist()
        assert got == _greedy_by_hand(cum_reads, cum_bytes, max_reads, max_bytes)


@pytest.mark.parametrize("seed", range(5))
def test_the_streaming_cutter_cuts_where_greedy_cuts_would(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_records, chunk = int(rng.integers(1, 5000)), int(rng.integers(1, 50))
    coffsets = np.cumsum(rng.integers(0, 300, n_records))
    voffsets = (coffsets.astype(np.uint64) << np.uint64(16)) | rng.integers(0, 65536, n_records).astype(np.uint64)
    max_reads, max_bytes = int(rng.integers(1, 400)), int(rng.integers(1, 50_000))
    cutter = ScanCutter(chunk_size=chunk, max_reads=max_reads // chunk * chunk or chunk, max_bytes=max_bytes)
    cuts = []
    for part in np.array_split(voffsets, rng.integers(1, 30)):
        cuts += cutter.feed(part)
    assert cutter.records == n_records
    chunk_starts = np.arange(0, n_records, chunk)
    expected = greedy_cuts(
        np.append(chunk_starts, n_records), np.append(coffsets[chunk_starts], 1 << 60),
        max_reads=max_reads // chunk * chunk or chunk, max_bytes=max_bytes,
    )
    assert [o for o, _ in cuts] == chunk_starts[expected[1:]].tolist()
    assert [v for _, v in cuts] == voffsets[chunk_starts[expected[1:]]].tolist()


def test_sizing_needs_a_target() -> None:
    with pytest.raises(UsageError):
        ShardSizing(reads=None, bytes=None)
    assert ShardSizing(reads=2500).aligned_reads(1000) == 2000
    assert ShardSizing(reads=10).aligned_reads(1000) == 1000


def test_outputs_to_a_device_are_written_in_place(tmp_path: Path) -> None:
    """Renaming a temporary file onto /dev/stdout-like paths would replace the device: write to it instead."""
    import os

    from bams3.io.localfiles import atomic_path

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with atomic_path(fifo) as target:
        assert target == fifo
    assert fifo.is_fifo()
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "f.txt") as target:
        target.write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == [fifo]
