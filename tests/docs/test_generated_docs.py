"""The generated references are current: docs/CLI.md, docs/HANDLERS.md and docs/schemas/*.json."""
from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bams3.cli.docs import render_cli_markdown
from bams3.handlers import get_handler, handler_names
from bams3.handlers.docs import EXAMPLES, render_handlers_markdown
from bams3.handlers.schemas import render, schema_documents

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE_CLI = "regenerate it: .venv/bin/python -m bams3.cli.docs docs/CLI.md"
REGENERATE_HANDLERS = "regenerate them: .venv/bin/python -m bams3.handlers.docs docs"


def _same(path: Path, expected: str, how: str) -> None:
    actual = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual != expected:
        diff = "".join(list(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True),
                                                 str(path), "generated", n=1))[:40])
        pytest.fail(f"{path} is stale: {how}\n{diff}")


def test_cli_reference_is_current() -> None:
    _same(DOCS / "CLI.md", render_cli_markdown(), REGENERATE_CLI)


def test_cli_reference_lists_every_verb() -> None:
    from bams3.cli import build_parser

    text = render_cli_markdown()
    verbs = [a for a in build_parser()._actions if a.dest == "verb"][0].choices  # noqa: SLF001
    for verb in verbs:
        assert f"\n## bams3 {verb}\n" in text
    assert "\n### bams3 json put\n" in text and "--event FILE" in text


def test_handler_reference_is_current() -> None:
    _same(DOCS / "HANDLERS.md", render_handlers_markdown(), REGENERATE_HANDLERS)


def test_checked_in_schemas_are_the_models_schemas() -> None:
    documents = schema_documents()
    on_disk = {p.name for p in (DOCS / "schemas").glob("*.json")}
    assert on_disk == set(documents), f"docs/schemas/ has other files than the handlers' schemas: {REGENERATE_HANDLERS}"
    for name, schema in documents.items():
        _same(DOCS / "schemas" / name, render(schema), REGENERATE_HANDLERS)
        jsonschema.Draft202012Validator.check_schema(schema)


def _validator(name: str, kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((DOCS / "schemas" / f"{name}.{kind}.json").read_text()))


@pytest.mark.parametrize("name", handler_names())
def test_examples_are_valid_requests_for_the_models_and_the_schemas(name: str) -> None:
    get_handler(name).parse(EXAMPLES[name])
    _validator(name, "request").validate(EXAMPLES[name])


INVALID: list[tuple[str, dict[str, Any]]] = [
    ("region-count", {"dataset": "s3://b/x.bams3"}),
    ("region-count", {"dataset": "s3://b/x.bams3", "region": "chr1", "colour": "blue"}),
    ("query-summary", {"dataset": "s3://b/x.bams3", "region": "chr1", "show": -1}),
    ("stage", {"data_manifest": {"a": {"url": "s3://b/a", "sha256": "not-hex"}}}),
    ("sync", {"source": "a", "destination": "b", "options": {"compare": "fast"}}),
    ("batch-sync", {"plan_path": "s3://b/p.json"}),
    ("batch-sync", {"plan_path": "s3://b/p.json", "index": 1, "items": []}),
    ("batch-sync", {"source": "a", "destination": "b"}),
    ("prepare-batch-sync", {"source": "a", "destination": "b"}),
    ("put-json", {"path": "s3://b/x.json"}),
    ("get-json", {"path": 3}),
]


@pytest.mark.parametrize(("name", "event"), INVALID)
def test_schemas_and_models_reject_the_same_invalid_requests(name: str, event: dict[str, Any]) -> None:
    assert not _validator(name, "request").is_valid(event)
    response = get_handler(name).invoke(event)
    assert response["success"] is False and response["error"]["type"] == "ValidationError"


def test_response_schemas_accept_success_and_error_envelopes() -> None:
    for name in handler_names():
        validator = _validator(name, "response")
        validator.validate({"success": False, "error": {"type": "ObjectNotFoundError", "message": "x: no such"}})
        assert not validator.is_valid({"success": False, "error": {"type": "X"}})  # a message is required
    _validator("region-count", "response").validate(
        {"success": True, "result": {"dataset": "s3://b/x.bams3", "region": "chr1", "count": 3}})
    assert not _validator("region-count", "response").is_valid({"success": True, "result": {"count": -1}})
