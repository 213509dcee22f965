"""The handler boundary: every module's Lambda entry point, unexpected errors, and ``bams3 handle``."""
from __future__ import annotations

import importlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bams3.cli import main
from bams3.errors import UsageError
from bams3.handlers import HANDLER_MODULES, get_handler, handler_names, invoke

from .conftest import SIGNATURE


@pytest.mark.parametrize("name", list(HANDLER_MODULES))
def test_every_handler_module_has_the_lambda_shape(name: str) -> None:
    module = importlib.import_module(f"bams3.handlers.{HANDLER_MODULES[name]}")
    assert module.HANDLER.name == name and module.HANDLER is get_handler(name)
    assert callable(module.handle) and callable(module.lambda_handler)
    response = module.lambda_handler(["not", "an", "object"], None)
    assert response["success"] is False and response["error"]["type"] == "ValidationError"
    json.dumps(response)


def test_an_unexpected_error_becomes_a_redacted_response_and_a_logged_traceback(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import bams3.jsondocs

    def broken(request: Any) -> Any:
        raise RuntimeError(f"boom reading https://host/x.json?X-Amz-Signature={SIGNATURE}\nsecond line")

    monkeypatch.setattr(bams3.jsondocs, "handle_get", broken)
    with caplog.at_level(logging.ERROR, logger="bams3.handlers"):
        response = invoke("get-json", {"path": "s3://bucket/x.json"})
    assert response == {"success": False, "error": {
        "type": "RuntimeError", "message": "boom reading https://host/x.json?<redacted> second line"}}
    assert "Traceback" in caplog.text and "broken" in caplog.text  # the bug is findable in the log ...
    assert SIGNATURE not in caplog.text  # ... without the secret


def test_unknown_handler_name() -> None:
    with pytest.raises(UsageError, match="no handler named 'count'.*region-count"):
        get_handler("count")


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None,
         monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_bams3_handle_runs_an_event_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "doc.json").write_text('{"a": 1}')
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"path": str(tmp_path / "doc.json")}))
    code, out, _ = _cli(["handle", "get-json", "--event", str(event)], capsys)
    assert code == 0 and json.loads(out) == {"success": True, "result": {"content": {"a": 1}}}

    code, out, _ = _cli(["handle", "get-json", "--event", "-"], capsys, stdin='{"path": "/no/such.json"}',
                        monkeypatch=monkeypatch)
    assert code == 1 and json.loads(out)["error"]["type"] == "ObjectNotFoundError"

    code, _, _ = _cli(["handle", "put-json", "-e", str(event), "-o", str(tmp_path / "response.json")], capsys)
    assert code == 2  # put-json needs content
    assert json.loads((tmp_path / "response.json").read_text())["error"]["type"] == "ValidationError"


def test_bams3_handle_lists_and_prints_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["handle", "--list"], capsys)
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == handler_names()
    code, out, _ = _cli(["handle", "batch-sync", "--schema", "request"], capsys)
    assert code == 0 and "plan_path" in json.loads(out)["properties"]
    code, _, err = _cli(["handle", "sync"], capsys)
    assert code == 2 and "needs --event" in err
    with pytest.raises(SystemExit):
        main(["handle", "nope", "--event", "x.json"])
