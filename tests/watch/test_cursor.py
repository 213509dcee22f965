"""The compare-and-swap cursor on local disk and on the loopback S3 server."""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from bams3.errors import InputFormatError
from bams3.io import open_store
from bams3.watch.cursor import Cursor, open_cursor
from bams3.watch.state import CursorState, Item, Seen, Version
from tests.helpers.faultproxy import Fault, FaultProxy
from tests.helpers.s3server import S3Server


def _item(name: str) -> Item:
    return Item(source="s", bam=f"s3://b/{name}.bam", sample=name, state="waiting", seen=Seen(Version(1, "e")),
                first_seen=1.0, updated=1.0)


def _add(name: str):
    def change(state: CursorState) -> tuple[CursorState, str]:
        return replace(state, items={**state.items, ("s", f"s3://b/{name}.bam"): _item(name)}), name
    return change


@pytest.fixture(params=["local", "s3"])
def cursor_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "cursor")
    server: S3Server = request.getfixturevalue("s3_server")
    return f"s3://{server.make_bucket()}/watch/cursor/"


def test_an_empty_cursor_then_updates_and_no_op_updates(cursor_url: str) -> None:
    cursor = open_cursor(cursor_url)
    assert cursor.read().generation == 0 and cursor.read().state == CursorState()
    snapshot, result = cursor.update(_add("S1"))
    assert snapshot.generation == 1 and result == "S1"
    snapshot, _ = cursor.update(lambda state: (state, None))  # nothing changed: nothing written
    assert snapshot.generation == 1
    assert open_cursor(cursor_url).read().state.items.keys() == {("s", "s3://b/S1.bam")}  # a new reader sees it


def test_racing_writers_lose_no_update(cursor_url: str) -> None:
    writers, per_writer = 6, 4
    errors: list[BaseException] = []

    def work(w: int) -> None:
        cursor = open_cursor(cursor_url)  # each its own store and client, as separate watchers would be
        try:
            for k in range(per_writer):
                cursor.update(_add(f"w{w}-{k}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    snapshot = open_cursor(cursor_url).read()
    assert len(snapshot.state.items) == writers * per_writer
    assert snapshot.generation == writers * per_writer  # every write was its own generation


def test_old_generations_are_pruned(tmp_path: Path) -> None:
    cursor = Cursor(open_store(tmp_path / "c"), keep=3)
    for n in range(10):
        cursor.update(_add(f"S{n}"))
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert names == [f"cursor.{g:012d}.json" for g in range(7, 11)]  # the current one and 3 behind it
    latest = json.loads((tmp_path / "c" / names[-1]).read_text())
    assert latest["generation"] == 10 and len(latest["items"]) == 10


def test_a_write_whose_answer_was_lost_counts_once(s3_server: S3Server, fault_proxy: FaultProxy) -> None:
    bucket = s3_server.make_bucket()
    lose = Fault("lose", method="PUT", path=r"cursor\.000000000001\.json")
    fault_proxy.add(lose)
    cursor = Cursor(open_store(f"s3://{bucket}/c/", endpoint_url=fault_proxy.url))
    snapshot, _ = cursor.update(_add("S1"))
    assert snapshot.generation == 1 and lose.applied == 1
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["c/cursor.000000000001.json"]


def test_a_foreign_or_newer_cursor_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "cursor.000000000001.json").write_text('{"format": "something else"}')
    with pytest.raises(InputFormatError, match=r"cursor\.000000000001\.json: not a bams3 watch cursor"):
        open_cursor(str(folder)).read()
    (folder / "cursor.000000000002.json").write_text('{"format": "bams3.watch-cursor", "version": 99}')
    with pytest.raises(InputFormatError, match="version 99 is not supported"):
        open_cursor(str(folder)).read()
    (folder / "cursor.000000000003.json").write_text('{"format": "bams3.watch-cursor", "version": 1, '
                                                     '"written": "2026-01-01T00:00:00Z", "items": [{"bam": 1}], '
                                                     '"runs": []}')
    with pytest.raises(InputFormatError, match="item 0"):
        open_cursor(str(folder)).read()
