"""JSON documents at local and s3:// paths, scratch keys, and the ``bams3 json`` verb."""
from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from bams3.cli import main
from bams3.errors import InputFormatError, ObjectNotFoundError, PreconditionFailedError, UsageError
from bams3.jsondocs import (
    JsonGetRequest,
    JsonGetResponse,
    JsonPutRequest,
    JsonPutResponse,
    get_json,
    handle_get,
    handle_put,
    put_json,
    put_json_scratch,
    scratch_url,
)

DOC = {"sample": "NA12878", "regions": ["chr1:1-1000"], "depth": 31.5, "nested": {"ok": True, "none": None},
       "text": "Zürich ✓"}


def stdin_bytes(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


@pytest.mark.parametrize("where", ["local", "file", "s3"])
def test_put_then_get_round_trips(where: str, tmp_path: Path, s3_bucket: str) -> None:
    url = {"local": str(tmp_path / "a" / "b" / "doc.json"), "file": f"file://{tmp_path}/doc.json",
           "s3": f"s3://{s3_bucket}/docs/doc.json"}[where]
    assert put_json(url, DOC) == url
    assert get_json(url) == DOC
    put_json(url, [1, 2])
    assert get_json(url) == [1, 2]
    with pytest.raises(PreconditionFailedError):
        put_json(url, {}, if_absent=True)
    assert get_json(url) == [1, 2]


def test_missing_and_malformed_documents_fail_with_one_line(tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    with pytest.raises(ObjectNotFoundError, match="nope.json"):
        get_json(f"s3://{s3_bucket}/nope.json")
    s3_server.client().put_object(Bucket=s3_bucket, Key="bad.json", Body=b'{"a": 1,,}')
    with pytest.raises(InputFormatError, match=r"bad\.json: not valid JSON: .* line 1 column 9"):
        get_json(f"s3://{s3_bucket}/bad.json")
    (tmp_path / "nan.json").write_text('{"x": NaN}')
    with pytest.raises(InputFormatError, match="NaN"):
        get_json(str(tmp_path / "nan.json"))
    with pytest.raises(UsageError, match="cannot be written as JSON"):
        put_json(str(tmp_path / "out.json"), {"x": float("nan")})
    assert not (tmp_path / "out.json").exists()


def test_scratch_keys() -> None:
    named = scratch_url("s3://b/scratch/", name="cohort config.json", unique_id="u1")
    assert named == "s3://b/scratch/cohort-config/u1.json"
    by_content = scratch_url("s3://b/scratch", content={"b": 1, "a": 2}, unique_id="u1")
    assert by_content == scratch_url("s3://b/scratch", content={"a": 2, "b": 1}, unique_id="u1")  # canonical
    assert by_content != scratch_url("s3://b/scratch", content={"a": 3}, unique_id="u1")
    generated = scratch_url("/tmp/s", name="x")
    assert re.fullmatch(r"/tmp/s/x/\d{8}T\d{6}Z-[0-9a-f]{12}\.json", generated)
    with pytest.raises(UsageError, match="no scratch prefix"):
        scratch_url("", name="x")
    with pytest.raises(UsageError, match="no usable characters"):
        scratch_url("s3://b/s", name="///")
    with pytest.raises(UsageError, match="unique id"):
        scratch_url("s3://b/s", name="x", unique_id="../escape")


def test_scratch_puts_never_collide(monkeypatch: pytest.MonkeyPatch, s3_bucket: str) -> None:
    monkeypatch.setenv("BAMS3_SCRATCH_PREFIX", f"s3://{s3_bucket}/scratch")
    first, second = put_json_scratch(DOC, name="doc"), put_json_scratch(DOC, name="doc")
    assert first != second and first.startswith(f"s3://{s3_bucket}/scratch/doc/")
    assert get_json(first) == get_json(second) == DOC
    with pytest.raises(PreconditionFailedError):  # scratch writes are create-only
        put_json_scratch(DOC, name="doc", unique_id=first.rsplit("/", 1)[1].removesuffix(".json"))


def test_handlers_and_models(tmp_path: Path) -> None:
    target = str(tmp_path / "h.json")
    put = JsonPutRequest.from_dict(json.loads(json.dumps(JsonPutRequest(DOC, path=target).to_dict())))
    response = handle_put(put)
    assert JsonPutResponse.from_dict(response.to_dict()) == response and response.path == target
    got = handle_get(JsonGetRequest.from_dict({"path": target}))
    assert JsonGetResponse.from_dict(got.to_dict()).content == DOC
    scratch = handle_put(JsonPutRequest(DOC, scratch_prefix=str(tmp_path / "s")))
    assert scratch.path.startswith(str(tmp_path / "s" / "sha256-"))
    with pytest.raises(UsageError, match="not both"):
        handle_put(JsonPutRequest(DOC, path=target, name="x"))


def test_cli_put_get_and_scratch(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                 s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/cli/doc.json"
    stdin_bytes(monkeypatch, json.dumps(DOC).encode())
    assert main(["json", "put", url]) == 0
    assert capsys.readouterr().out.strip() == url
    assert main(["json", "get", url]) == 0
    assert json.loads(capsys.readouterr().out) == DOC
    assert main(["json", "get", url, "--compact"]) == 0
    assert capsys.readouterr().out.count("\n") == 1

    stdin_bytes(monkeypatch, b'{"k": 1}')
    assert main(["json", "put", "--name", "run-7", "--scratch-prefix", f"s3://{s3_bucket}/tmp"]) == 0
    written = capsys.readouterr().out.strip()
    assert written.startswith(f"s3://{s3_bucket}/tmp/run-7/") and get_json(written) == {"k": 1}

    stdin_bytes(monkeypatch, b"{not json")
    assert main(["json", "put", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stdin: not valid JSON" in err
    assert get_json(url) == DOC  # untouched
