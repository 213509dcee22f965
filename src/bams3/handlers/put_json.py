"""Handler ``put-json``: write a JSON document to a path, or under the scratch prefix.

With ``path`` the document is written there atomically (``if_absent`` refuses to replace
an existing one). Without it, it goes to ``<scratch prefix>/<name or content hash>/<time>-<random>.json``
(create-only, so concurrent writers never collide); the prefix is ``scratch_prefix`` or
the ``BAMS3_SCRATCH_PREFIX`` environment variable (set it in the function's configuration).
The result says where the document went.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from ._base import Handler, Model, ResultModel

__all__ = ["PutJsonRequest", "PutJsonResponse", "HANDLER", "handle", "lambda_handler"]


class PutJsonRequest(Model):
    content: Any = Field(description="The document (any JSON value; NaN and infinities are refused)")
    path: str | None = Field(None, min_length=1, description="Where to write (local, file:// or s3://); "
                                                             "omit for a scratch key")
    name: str | None = Field(None, min_length=1, description="Scratch key name (default: a hash of the content)")
    scratch_prefix: str | None = Field(None, min_length=1,
                                       description="Scratch location (default: $BAMS3_SCRATCH_PREFIX)")
    if_absent: bool = Field(False, description="Fail if something is already at path")


class PutJsonResponse(ResultModel):
    path: str = Field(description="Where the document was written")


def handle(request: PutJsonRequest) -> PutJsonResponse:
    """:func:`bams3.jsondocs.handle_put`, as ``bams3 json put`` uses it."""
    from ..jsondocs import JsonPutRequest, handle_put

    response = handle_put(JsonPutRequest(request.content, path=request.path, name=request.name,
                                         scratch_prefix=request.scratch_prefix, if_absent=request.if_absent))
    return PutJsonResponse(path=response.path)


HANDLER = Handler(
    name="put-json",
    summary="write a JSON document to a path, or to a unique scratch key when no path is given",
    request_model=PutJsonRequest,
    response_model=PutJsonResponse,
    function=handle,
)
lambda_handler = HANDLER.lambda_handler
