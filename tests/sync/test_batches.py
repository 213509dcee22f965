"""``plan`` + ``run_batch``: batches under the byte limit that together reproduce the source."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bams3.errors import UsageError
from bams3.jsondocs import get_json, put_json
from bams3.sync import PlanRequest, SyncOptions, SyncPlan, plan, run_batch

from ._trees import local_hashes, make_tree, random_bytes, s3_hashes


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAMS3_PROGRESS", "off")


SIZES = {"huge.bam": 9000, "a.bam": 4000, "b.bam": 3500, "c.bam": 3000, "d.txt": 1200, "e.txt": 700,
         "sub/f.txt": 100, "sub/empty": 0}


def test_plan_batches_and_running_every_batch_reproduces_the_source(tmp_path: Path, s3_server: Any,
                                                                    s3_bucket: str) -> None:
    expected = make_tree(tmp_path / "src", {k: random_bytes(n, i) for i, (k, n) in enumerate(SIZES.items())})
    dst = f"s3://{s3_bucket}/dst"
    result = plan(PlanRequest(str(tmp_path / "src"), dst, 5000))
    keys = [item.key for batch in result.batches for item in batch.items]
    assert sorted(keys) == sorted(SIZES)  # every object in exactly one batch
    for batch in result.batches:
        assert batch.bytes <= 5000 or len(batch.items) == 1
    assert [item.key for item in result.batches[0].items] == ["huge.bam"]  # oversized: alone, first
    assert result.total_bytes == sum(SIZES.values())

    # the plan survives a trip through S3 as JSON
    plan_url = f"s3://{s3_bucket}/plans/p.json"
    put_json(plan_url, result.to_dict())
    loaded = SyncPlan.from_dict(get_json(plan_url))
    assert loaded == result

    for index in range(len(loaded.batches)):
        report = run_batch(loaded.request_for(index), show_progress=False)
        assert report.batch_index == index and report.ok
    assert s3_hashes(s3_server.client(), s3_bucket, "dst") == expected

    # rerunning a batch copies nothing; re-planning finds nothing to do
    assert run_batch(loaded.request_for(0), show_progress=False).count("copied") == 0
    again = plan(PlanRequest(str(tmp_path / "src"), dst, 5000))
    assert again.batches == () and again.skipped_count == len(SIZES)


def test_batches_recheck_objects_changed_since_planning(tmp_path: Path, s3_bucket: str) -> None:
    make_tree(tmp_path / "src", {"x.bin": b"1" * 10, "gone.bin": b"2" * 10})
    result = plan(PlanRequest(str(tmp_path / "src"), f"s3://{s3_bucket}/d", 1000))
    (tmp_path / "src" / "gone.bin").unlink()
    report = run_batch(result.request_for(0), show_progress=False)
    assert {r.key: (r.action, r.reason) for r in report.results} == {
        "x.bin": ("copied", "new"), "gone.bin": ("skipped", "no longer in the source")}


def test_a_plan_of_an_s3_prefix_to_a_local_folder_with_a_single_object(tmp_path: Path, s3_server: Any,
                                                                       s3_bucket: str) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="one/x.bam", Body=b"xyz")
    result = plan(PlanRequest(f"s3://{s3_bucket}/one/x.bam", str(tmp_path / "renamed.bam"), 10))
    assert [(i.key, i.dest_key) for i in result.batches[0].items] == [("x.bam", "renamed.bam")]
    run_batch(result.request_for(0), show_progress=False)
    assert (tmp_path / "renamed.bam").read_bytes() == b"xyz"


def test_plans_refuse_deletion_and_keep_their_options(tmp_path: Path, s3_bucket: str) -> None:
    with pytest.raises(UsageError, match="does not delete"):
        PlanRequest(str(tmp_path), f"s3://{s3_bucket}/x", 10, SyncOptions(delete=True))
    make_tree(tmp_path / "src", {"a": b"a"})
    result = plan(PlanRequest(str(tmp_path / "src"), str(tmp_path / "dst"), 10, SyncOptions(move=True, jobs=3)))
    assert result.request_for(0).options.move
    run_batch(result.request_for(0), show_progress=False)
    assert local_hashes(tmp_path / "src") == {} and (tmp_path / "dst" / "a").read_bytes() == b"a"
