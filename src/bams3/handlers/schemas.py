"""JSON Schemas of the handlers' requests and responses, as checked into docs/schemas/.

``python -m bams3.handlers.schemas docs/schemas`` writes ``<name>.request.json`` and
``<name>.response.json`` for every handler (the response schema is the envelope with the
handler's result inside). The schemas come from the pydantic models, so they say exactly
what the handlers accept; a test fails when the checked-in files differ from the models.
Services that call the handlers can validate events with any JSON Schema validator
(draft 2020-12).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import get_handler, handler_names

__all__ = ["schema_documents", "write_schemas", "main"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _document(schema: dict[str, Any], name: str, kind: str, summary: str) -> dict[str, Any]:
    described = f"bams3 handler '{name}': {kind}. {summary[:1].upper()}{summary[1:]}."
    return {"$schema": DRAFT, **schema, "description": described}


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every handler's request and response."""
    out: dict[str, dict[str, Any]] = {}
    for name in handler_names():
        handler = get_handler(name)
        out[f"{name}.request.json"] = _document(handler.request_model.model_json_schema(mode="validation"),
                                                name, "request", handler.summary)
        out[f"{name}.response.json"] = _document(handler.response_type().model_json_schema(mode="serialization"),
                                                 name, "response", handler.summary)
    return out


def render(schema: dict[str, Any]) -> str:
    """The checked-in text of a schema (stable: two-space indent, final newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: str | Path) -> list[Path]:
    """Write every schema into ``directory``, and remove stale ``*.request/response.json`` files there."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    documents = schema_documents()
    written = []
    for filename, schema in documents.items():
        path = directory / filename
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    for stale in [*directory.glob("*.request.json"), *directory.glob("*.response.json")]:
        if stale.name not in documents:
            stale.unlink()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bams3.handlers.schemas",
                                     description="Write the handlers' JSON Schemas into DIRECTORY.")
    parser.add_argument("directory", nargs="?", default="docs/schemas")
    args = parser.parse_args(argv)
    for path in write_schemas(args.directory):
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
