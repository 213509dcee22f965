"""Request validation, manifest names, parameter resolution and the response shape."""
from __future__ import annotations

from pathlib import Path

import pytest

from bams3.errors import ConfigError
from bams3.stage import FileFailure, ManifestEntry, StageRequest, StageResponse
from bams3.stage._names import SCRATCH_DIR, check_name, target_path
from bams3.stage._params import resolve_params

SIGNED = "https://storage.example/bucket/sample.sam?X-Amz-Signature=deadbeefsecret&X-Amz-Expires=60"


def test_request_from_issue_example() -> None:
    request = StageRequest.from_dict({
        "params": {"input_file": "sample.sam", "reference_file": "hg38.fasta", "threads": 4},
        "data_manifest": {"sample.sam": SIGNED, "hg38.fasta": "s3://bucket/ref/hg38.fasta"},
    })
    assert [e.name for e in request.manifest] == ["sample.sam", "hg38.fasta"]
    assert request.manifest[0].url == SIGNED  # kept whole: the signature is needed to download
    assert "deadbeefsecret" not in repr(request.manifest[0])
    assert "deadbeefsecret" not in repr(request)
    assert request.to_dict()["data_manifest"]["sample.sam"] == SIGNED


def test_entry_object_form() -> None:
    entry = ManifestEntry.from_value("ref/hg38.fa", {"url": "file:///x/hg38.fa.gz", "sha256": "AB" * 32,
                                                     "decompress": True})
    assert entry.sha256 == "ab" * 32
    assert entry.decompress is True
    assert entry.to_value() == {"url": "file:///x/hg38.fa.gz", "sha256": "ab" * 32, "decompress": True}


@pytest.mark.parametrize(("data", "message"), [
    ([], "expected a JSON object"),
    ({"params": {}}, "missing 'data_manifest'"),
    ({"data_manifest": {}, "extra": 1}, "unknown keys ['extra']"),
    ({"params": [], "data_manifest": {}}, "'params' must be an object"),
    ({"data_manifest": ["a"]}, "'data_manifest' must be an object"),
    ({"data_manifest": {"a": 3}}, "expected a URL string"),
    ({"data_manifest": {"a": ""}}, "non-empty string"),
    ({"data_manifest": {"a": {"sha256": "00" * 32}}}, "missing 'url'"),
    ({"data_manifest": {"a": {"url": "s3://b/k", "md5": "x"}}}, "unknown keys ['md5']"),
    ({"data_manifest": {"a": {"url": "s3://b/k", "sha256": "xyz"}}}, "64 hexadecimal"),
    ({"data_manifest": {"a": {"url": "s3://b/k", "decompress": "yes"}}}, "true or false"),
    ({"data_manifest": {"a": "ftp://host/x"}}, "unsupported URL scheme 'ftp'"),
    ({"data_manifest": {"a": "gs://bucket/x"}}, "gs:// URLs are not supported"),
    ({"data_manifest": {"a": "s3:///key"}}, "no host or bucket"),
    ({"data_manifest": {"a": "s3://b/a", "a/b": "s3://b/b"}}, "also the directory"),
])
def test_bad_requests(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        StageRequest.from_dict(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unsupported_scheme_message_is_redacted() -> None:
    with pytest.raises(ConfigError) as info:
        StageRequest.from_dict({"data_manifest": {"a": "ftp://host/x?sig=topsecret"}})
    assert "topsecret" not in str(info.value)


@pytest.mark.parametrize("name", [
    "../x", "a/../../x", "/etc/passwd", "a//b", "a/", "./a", "a/./b", "..", ".", "",
    "a\\..\\b", "evil\nname", f"{SCRATCH_DIR}/x", "x" * 2000,
])
def test_unsafe_names_rejected(name: str) -> None:
    with pytest.raises(ConfigError):
        check_name(name)
    with pytest.raises(ConfigError):
        StageRequest.from_dict({"data_manifest": {name: "s3://bucket/key"}})


@pytest.mark.parametrize("name", ["a", "refs/hg38.fa", "...", "a..b", ".hidden", "dir/.x/y.bam"])
def test_safe_names_accepted(name: str) -> None:
    assert check_name(name) == name


def test_target_path_refuses_symlinked_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    outside = tmp_path / "outside"
    run_dir.mkdir()
    outside.mkdir()
    (run_dir / "refs").symlink_to(outside)
    with pytest.raises(ConfigError, match="symlink"):
        target_path(run_dir, "refs/hg38.fa")
    (run_dir / "taken").write_text("x")
    with pytest.raises(ConfigError, match="already exists"):
        target_path(run_dir, "taken")
    path = target_path(run_dir, "deep/er/file.bam")
    assert path == Path(run_dir.resolve(), "deep/er/file.bam") and path.parent.is_dir() and not path.exists()


def test_resolve_params_nested_and_untouched() -> None:
    paths = {"a.bam": "/run/a.bam", "ref.fa": "/run/ref.fa"}
    params = {
        "input": "a.bam",
        "opts": {"reference": "ref.fa", "threads": 4, "flag": True, "none": None, "ratio": 0.5},
        "many": ["a.bam", ["ref.fa", "other"], {"x": "ref.fa"}],
        "cmd": "--ref=ref.fa",
        "a.bam": "key names are not rewritten",
    }
    before = repr(params)
    resolved = resolve_params(params, paths)
    assert resolved == {
        "input": "/run/a.bam",
        "opts": {"reference": "/run/ref.fa", "threads": 4, "flag": True, "none": None, "ratio": 0.5},
        "many": ["/run/a.bam", ["/run/ref.fa", "other"], {"x": "/run/ref.fa"}],
        "cmd": "--ref=ref.fa",
        "a.bam": "key names are not rewritten",
    }
    assert repr(params) == before


def test_response_round_trip() -> None:
    response = StageResponse(
        status="partial", staged_files=("a",), plugin_params={"x": "/r/a", "y": "b"}, run_dir="/r",
        failed_files=(FileFailure(name="b", url="https://h/b?<redacted>", error="not found",
                                  kind="ObjectNotFoundError"),),
    )
    data = response.to_dict()
    assert data["success"] is False
    assert data["result"]["status"] == "partial"
    assert data["result"]["failed_files"][0]["kind"] == "ObjectNotFoundError"
    assert StageResponse.from_dict(data) == response
    ok = StageResponse(status="success", staged_files=("a",), plugin_params={"x": "/r/a"}, run_dir="/r")
    assert ok.to_dict() == {"success": True, "result": {"status": "success", "staged_files": ["a"], "failed_files": [],
                                                        "plugin_params": {"x": "/r/a"}, "run_dir": "/r"}}


def test_response_from_error_is_redacted() -> None:
    response = StageResponse.from_error(ValueError(f"cannot read {SIGNED}"), params={"a": 1})
    assert response.to_dict()["success"] is False
    assert "deadbeefsecret" not in str(response.to_dict())
    assert response.status == "failed"
