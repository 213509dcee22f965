"""Serverless and service entry points: one typed handler per operation.

Each operation is a module of this package holding a pydantic request model, a response
model, ``handle(request) -> response`` (which calls the same library function as the
``bams3`` verb) and ``lambda_handler(event, context)``, the AWS Lambda entry point that
returns the envelope ``{"success", "result" | "error": {"type", "message"}}`` and never
raises. Point a Lambda function at ``bams3.handlers.<module>.lambda_handler``, or run one
locally with ``bams3 handle NAME --event event.json``. docs/HANDLERS.md describes each one;
docs/schemas/ holds their JSON Schemas (:mod:`bams3.handlers.schemas` writes them).

>>> from bams3.handlers import get_handler                                  # doctest: +SKIP
>>> get_handler("region-count").invoke({"dataset": "s3://b/NA12878.bams3", "region": "chr20:10M-11M"})
{'success': True, 'result': {'dataset': 's3://b/NA12878.bams3', 'region': 'chr20:10000000-11000000', 'count': 5123}}
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import Handler

__all__ = ["HANDLER_MODULES", "handler_names", "get_handler", "invoke"]

#: handler name -> module of this package, in the order the docs list them
HANDLER_MODULES: dict[str, str] = {
    "region-count": "region_count",
    "query-summary": "query_summary",
    "dataset-stats": "dataset_stats",
    "stage": "stage",
    "sync": "sync",
    "prepare-batch-sync": "prepare_batch_sync",
    "batch-sync": "batch_sync",
    "get-json": "get_json",
    "put-json": "put_json",
}


def handler_names() -> list[str]:
    """Every handler name, in documentation order."""
    return list(HANDLER_MODULES)


def get_handler(name: str) -> Handler[Any, Any]:
    """The handler called ``name`` (its module is imported on first use).

    Raises
    ------
    bams3.errors.UsageError
        No handler has that name.
    """
    from ..errors import UsageError

    module = HANDLER_MODULES.get(name)
    if module is None:
        raise UsageError(f"no handler named {name!r} (handlers: {', '.join(HANDLER_MODULES)})")
    return importlib.import_module(f"{__name__}.{module}").HANDLER  # type: ignore[no-any-return]


def invoke(name: str, event: Any) -> dict[str, Any]:
    """Run handler ``name`` on ``event`` and return its envelope (never raises for a bad event)."""
    return get_handler(name).invoke(event)
