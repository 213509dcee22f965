"""The stage handler: a manifest of s3:// and signed https URLs staged into a run directory."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from bams3.handlers import invoke
from bams3.handlers.stage import lambda_handler

from .conftest import SIGNATURE, assert_clean


def _objects(s3_server: Any, bucket: str) -> dict[str, bytes]:
    data = {"ref/genome.fa": b">chr1\nACGT\n" * 100, "reads/sample.sam": b"@HD\tVN:1.6\n"}
    client = s3_server.client()
    for key, body in data.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    return data


def test_stage_resolves_params_to_local_files(tmp_path: Path, s3_server: Any, s3_bucket: str, http_server: Any) -> None:
    data = _objects(s3_server, s3_bucket)
    http_server.write("signed/reads.bam", b"BAM\x01" * 50)
    event = {
        "params": {"reference": "genome.fa", "inputs": ["sample.sam", "reads.bam"], "threads": 4},
        "data_manifest": {
            "genome.fa": {"url": f"s3://{s3_bucket}/ref/genome.fa",
                          "sha256": hashlib.sha256(data["ref/genome.fa"]).hexdigest()},
            "sample.sam": f"s3://{s3_bucket}/reads/sample.sam",
            "reads.bam": http_server.signed_url("signed/reads.bam"),
        },
        "options": {"workdir": str(tmp_path / "work"), "jobs": 2},
    }
    response = lambda_handler(event, None)  # the Lambda entry point itself
    assert response["success"], response
    result = response["result"]
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == tmp_path / "work" and result["status"] == "success" and result["failed_files"] == []
    assert result["staged_files"] == ["genome.fa", "sample.sam", "reads.bam"]
    params = result["plugin_params"]
    assert Path(params["reference"]).read_bytes() == data["ref/genome.fa"]
    assert [Path(p).read_bytes() for p in params["inputs"]] == [data["reads/sample.sam"], b"BAM\x01" * 50]
    assert params["threads"] == 4 and Path(params["reference"]).parent == run_dir
    assert "Signature=" not in json.dumps(response)


def test_continue_on_error_lists_failures_without_their_signature(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                                                  http_server: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    _objects(s3_server, s3_bucket)
    http_server.write("x.bam", b"data")
    forged = f"{http_server.url}/x.bam?Expires=9999999999&X-Amz-Signature={SIGNATURE}"
    event = {"params": {"a": "genome.fa", "b": "x.bam"},
             "data_manifest": {"genome.fa": f"s3://{s3_bucket}/ref/genome.fa", "x.bam": forged},
             "options": {"workdir": str(tmp_path / "work"), "on_error": "continue"}}
    response = invoke("stage", event)
    assert response["success"], response  # the request allowed failures: they are in the result
    result = response["result"]
    assert result["status"] == "partial" and result["staged_files"] == ["genome.fa"]
    (failure,) = result["failed_files"]
    assert failure["name"] == "x.bam" and failure["kind"] == "AccessDeniedError"
    assert result["plugin_params"]["b"] == "x.bam"  # unresolved: the tool sees the failure
    assert_clean(json.dumps(response) + caplog.text)


def test_a_failed_staging_is_an_error_and_leaves_nothing(tmp_path: Path, s3_bucket: str, http_server: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    forged = f"{http_server.url}/none.bam?X-Amz-Signature={SIGNATURE}"
    event = {"data_manifest": {"none.bam": forged, "gone.fa": f"s3://{s3_bucket}/gone.fa"},
             "options": {"workdir": str(tmp_path / "work")}}
    response = invoke("stage", event)
    assert response["success"] is False
    assert response["error"]["type"] in ("AccessDeniedError", "ObjectNotFoundError")
    assert "cannot stage" in response["error"]["message"]
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())
    assert_clean(json.dumps(response) + caplog.text)


@pytest.mark.parametrize(("event", "fragment"), [
    ({"params": {}}, "data_manifest: Field required"),
    ({"data_manifest": {"a": {"url": "s3://b/a", "sha256": "xyz"}}}, "data_manifest.a"),
    ({"data_manifest": {"../escape": "s3://b/a"}}, "../escape"),
    ({"data_manifest": {"a": "gs://bucket/a"}}, "gs:// URLs are not supported"),
    ({"data_manifest": {"a": "s3://b/a"}, "options": {"on_error": "ignore"}}, "options.on_error"),
    ({"data_manifest": {}, "manifest": {}}, "manifest: Extra inputs are not permitted"),
])
def test_invalid_stage_requests(event: dict[str, Any], fragment: str) -> None:
    response = invoke("stage", event)
    assert response["success"] is False and response["error"]["type"] in ("ValidationError", "ConfigError")
    assert fragment in response["error"]["message"]
