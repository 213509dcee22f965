"""Handler ``get-json``: read the JSON document at a local path, ``file://`` or ``s3://`` URL.

Request ``{"path": "s3://bucket/configs/run-1.json"}``; result ``{"content": <the document>}``.
A missing object is an ``ObjectNotFoundError``, a document that is not JSON an ``InputFormatError``.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from ._base import Handler, Model, ResultModel

__all__ = ["GetJsonRequest", "GetJsonResponse", "HANDLER", "handle", "lambda_handler"]


class GetJsonRequest(Model):
    path: str = Field(min_length=1, description="Local path, file:// or s3:// URL of the document")


class GetJsonResponse(ResultModel):
    content: Any = Field(description="The parsed document")


def handle(request: GetJsonRequest) -> GetJsonResponse:
    """:func:`bams3.jsondocs.handle_get`, as ``bams3 json get`` uses it."""
    from ..jsondocs import JsonGetRequest, handle_get

    return GetJsonResponse(content=handle_get(JsonGetRequest(request.path)).content)


HANDLER = Handler(
    name="get-json",
    summary="read a JSON document from a local path or s3:// URL",
    request_model=GetJsonRequest,
    response_model=GetJsonResponse,
    function=handle,
)
lambda_handler = HANDLER.lambda_handler
