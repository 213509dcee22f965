"""sync, prepare-batch-sync and batch-sync between local trees and the loopback S3 server."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bams3.handlers import invoke
from tests.sync._trees import local_hashes, make_tree, random_bytes, s3_hashes

from .conftest import assert_clean

SIZES = {"big.bam": 9000, "a.bam": 4000, "b.bam": 3500, "c.txt": 1200, "sub/d.txt": 700, "sub/e.txt": 100}


def _tree(root: Path) -> dict[str, str]:
    return make_tree(root, {key: random_bytes(size, i) for i, (key, size) in enumerate(SIZES.items())})


def test_sync_copies_then_skips(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    expected = _tree(tmp_path / "src")
    event = {"source": str(tmp_path / "src"), "destination": f"s3://{s3_bucket}/run-1/",
             "options": {"filters": [{"exclude": "sub/*"}, {"include": "sub/d.txt"}], "jobs": 2}}
    first = invoke("sync", event)
    assert first["success"], first
    result = first["result"]
    assert result["format"] == "bams3.sync-report" and result["summary"]["copied"]["count"] == len(SIZES) - 1
    assert sorted(item["key"] for item in result["copied"]) == sorted(k for k in SIZES if k != "sub/e.txt")
    assert s3_hashes(s3_server.client(), s3_bucket, "run-1") == {k: v for k, v in expected.items() if k != "sub/e.txt"}
    again = invoke("sync", event)["result"]
    assert again["summary"]["copied"]["count"] == 0 and again["summary"]["skipped"]["count"] == len(SIZES) - 1


def test_prepared_batches_run_by_batch_sync_reproduce_the_source(tmp_path: Path, s3_server: Any,
                                                                  s3_bucket: str) -> None:
    expected = _tree(tmp_path / "src")
    prepared = invoke("prepare-batch-sync", {"source": str(tmp_path / "src"), "destination": f"s3://{s3_bucket}/d",
                                             "batch_bytes": "8KiB"})
    assert prepared["success"], prepared
    requests = prepared["result"]["requests"]
    assert prepared["result"]["summary"]["batches"] == len(requests) >= 3
    assert prepared["result"]["summary"]["bytes"] == sum(SIZES.values())
    for request in requests:  # first-fit decreasing under the limit; the oversized object alone
        sizes = [item["size"] for item in request["items"]]
        assert sum(sizes) <= 8192 or sizes == [9000]
    assert [item["key"] for item in requests[0]["items"]] == ["big.bam"]
    for request in requests:  # each request is a batch-sync event as it stands
        response = invoke("batch-sync", request)
        assert response["success"], response
        assert response["result"]["batch_index"] == request["index"]
    assert s3_hashes(s3_server.client(), s3_bucket, "d") == expected


def test_batches_by_reference_to_a_plan_in_s3(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    expected = _tree(tmp_path / "src")
    plan_path = f"s3://{s3_bucket}/plans/run-1.json"
    prepared = invoke("prepare-batch-sync", {"source": str(tmp_path / "src"), "destination": str(tmp_path / "dst"),
                                             "batch_bytes": 10_000, "plan_path": plan_path})
    assert prepared["success"], prepared
    requests = prepared["result"]["requests"]
    assert requests == [{"plan_path": plan_path, "index": k, **dict.fromkeys(
        ("source", "destination", "items", "options", "allow_partial_failure"))} for k in range(len(requests))]
    assert invoke("get-json", {"path": plan_path})["result"]["content"]["format"] == "bams3.sync-plan"
    for request in requests:
        assert invoke("batch-sync", {"plan_path": plan_path, "index": request["index"]})["success"]
    assert local_hashes(tmp_path / "dst") == expected


def test_batch_sync_with_and_without_partial_failure(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    _tree(tmp_path / "src")
    make_tree(tmp_path / "dst", {"c.txt/inside": b"a directory where a file must go"})
    prepared = invoke("prepare-batch-sync", {"source": str(tmp_path / "src"), "destination": str(tmp_path / "dst"),
                                             "batch_bytes": "1MiB", "options": {"jobs": 1}})
    (request,) = prepared["result"]["requests"]

    stopped = invoke("batch-sync", request)
    assert stopped["success"] is False and stopped["error"]["type"] == "SyncFailedError"
    assert "c.txt" in stopped["error"]["message"] and "a rerun resumes" in stopped["error"]["message"]
    assert [item["key"] for item in stopped["result"]["failed"]] == ["c.txt"]  # what it did before stopping

    partial = invoke("batch-sync", {**request, "allow_partial_failure": True})
    assert partial["success"], partial  # the request allowed failures: they are in the result
    assert [item["key"] for item in partial["result"]["failed"]] == ["c.txt"]
    copied_or_skipped = partial["result"]["summary"]["copied"]["count"] + partial["result"]["summary"]["skipped"]["count"]
    assert copied_or_skipped == len(SIZES) - 1
    assert_clean(json.dumps([stopped, partial]) + caplog.text)


@pytest.mark.parametrize(("name", "event", "kind", "fragment"), [
    ("sync", {"source": "SRC"}, "ValidationError", "destination: Field required"),
    ("sync", {"source": "SRC", "destination": "DST", "options": {"compare": "fast"}}, "ValidationError",
     "options.compare"),
    ("sync", {"source": "SRC", "destination": "DST", "options": {"move": True, "compare": "size"}}, "ConfigError",
     "--move needs proof"),
    ("sync", {"source": "MISSING", "destination": "DST", "options": {"fail_if_missing": True}},
     "ObjectNotFoundError", "MISSING"),
    ("sync", {"source": "https://host/x.bam?X-Amz-Signature=SiGnAtUrEsEcReT42", "destination": "DST"},
     "UsageError", "s3://"),
    ("prepare-batch-sync", {"source": "SRC", "destination": "DST", "batch_bytes": "lots"}, "UsageError", "lots"),
    ("prepare-batch-sync", {"source": "SRC", "destination": "DST", "batch_bytes": 0}, "UsageError", "positive"),
    ("prepare-batch-sync", {"source": "SRC", "destination": "DST"}, "ValidationError", "batch_bytes"),
    ("batch-sync", {"plan_path": "PLAN"}, "ValidationError", "plan_path needs index"),
    ("batch-sync", {"plan_path": "PLAN", "index": 0, "source": "SRC"}, "ValidationError", "not both"),
    ("batch-sync", {"source": "SRC", "destination": "DST"}, "ValidationError", "missing items"),
    ("batch-sync", {"plan_path": "PLAN", "index": 0}, "ObjectNotFoundError", "plan.json"),
    ("batch-sync", {"source": "SRC", "destination": "DST", "items": [{"key": "a", "size": -1}]}, "ValidationError",
     "items[0].size"),
])
def test_bad_sync_requests_get_clean_errors(tmp_path: Path, s3_bucket: str, name: str, event: dict[str, Any],
                                            kind: str, fragment: str, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "src").mkdir()
    names = {"SRC": str(tmp_path / "src"), "DST": f"s3://{s3_bucket}/dst/", "MISSING": str(tmp_path / "MISSING"),
             "PLAN": f"s3://{s3_bucket}/plan.json"}
    event = {k: names.get(v, v) if isinstance(v, str) else v for k, v in event.items()}
    response = invoke(name, event)
    assert response["success"] is False, response
    assert response["error"]["type"] == kind and fragment in response["error"]["message"], response
    assert_clean(json.dumps(response) + caplog.text)
