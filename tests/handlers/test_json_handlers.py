"""get-json and put-json: documents at local and s3:// paths, and scratch keys."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bams3.handlers import invoke

from .conftest import assert_clean

DOCUMENT = {"cohort": ["NA12878", "NA12891"], "regions": ["chr20:10M-11M"], "note": "ünïcode", "empty": None}


def test_put_then_get_at_an_s3_path_and_a_local_path(tmp_path: Path, s3_bucket: str) -> None:
    for path in (f"s3://{s3_bucket}/configs/run-1.json", str(tmp_path / "run-1.json")):
        put = invoke("put-json", {"content": DOCUMENT, "path": path})
        assert put == {"success": True, "result": {"path": path}}
        assert invoke("get-json", {"path": path}) == {"success": True, "result": {"content": DOCUMENT}}
    refused = invoke("put-json", {"content": {}, "path": str(tmp_path / "run-1.json"), "if_absent": True})
    assert refused["success"] is False and refused["error"]["type"] == "PreconditionFailedError"
    assert json.loads((tmp_path / "run-1.json").read_text()) == DOCUMENT


def test_put_without_a_path_writes_a_unique_scratch_key(s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAMS3_SCRATCH_PREFIX", f"s3://{s3_bucket}/scratch")
    first = invoke("put-json", {"content": DOCUMENT, "name": "cohort config"})["result"]["path"]
    second = invoke("put-json", {"content": DOCUMENT, "name": "cohort config"})["result"]["path"]
    assert first != second
    assert first.startswith(f"s3://{s3_bucket}/scratch/cohort-config/") and first.endswith(".json")
    hashed = invoke("put-json", {"content": [1, 2], "scratch_prefix": f"s3://{s3_bucket}/other"})["result"]["path"]
    assert hashed.startswith(f"s3://{s3_bucket}/other/sha256-")
    for path in (first, second, hashed):
        assert invoke("get-json", {"path": path})["success"]


@pytest.mark.parametrize(("name", "event", "kind", "fragment"), [
    ("get-json", {"path": "S3/none.json"}, "ObjectNotFoundError", "none.json: no such file or object"),
    ("get-json", {"path": "BAD"}, "InputFormatError", "not valid JSON"),
    ("get-json", {}, "ValidationError", "path: Field required"),
    ("put-json", {"path": "S3/x.json"}, "ValidationError", "content: Field required"),
    ("put-json", {"content": 1}, "UsageError", "no scratch prefix"),
    ("put-json", {"content": 1, "path": "S3/x.json", "name": "n"}, "UsageError", "not both"),
    ("put-json", {"content": float("nan"), "path": "S3/x.json"}, "UsageError", "cannot be written as JSON"),
    ("put-json", {"content": 1, "path": "s3://no-such-bucket-here/x.json"}, "ObjectNotFoundError", "no-such-bucket"),
])
def test_bad_json_requests_get_clean_errors(tmp_path: Path, s3_bucket: str, name: str, event: dict[str, Any],
                                            kind: str, fragment: str, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    event = {k: v.replace("S3", f"s3://{s3_bucket}").replace("BAD", str(tmp_path / "bad.json"))
             if isinstance(v, str) else v for k, v in event.items()}
    response = invoke(name, event)
    assert response["success"] is False, response
    assert response["error"]["type"] == kind and fragment in response["error"]["message"], response
    assert_clean(json.dumps(response) + caplog.text)
