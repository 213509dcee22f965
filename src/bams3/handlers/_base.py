"""The handler contract: a typed request, a typed response, one function, one Lambda adapter.

Every operation of :mod:`bams3.handlers` is a :class:`Handler`: a pydantic request model,
a pydantic response model and a ``handle`` function that calls the same library function
as the matching ``bams3`` verb. :meth:`Handler.invoke` is the boundary where an event from
outside (a Lambda event, ``bams3 handle NAME --event FILE``, a service) becomes a request,
and where *every* failure becomes an envelope instead of a traceback::

    {"success": true,  "result": {...}}
    {"success": false, "error": {"type": "ObjectNotFoundError", "message": "s3://b/x.json: no such ..."}}

``success`` is false only when the operation raised. Operations that may finish with some
items failed because the request allowed it (staging with ``on_error: continue``, a sync
with ``allow_partial_failure``) succeed and list the failures in their result; a sync that
stopped at its first failure is an error *with* a result (what it did before stopping).

Messages are one line and go through :func:`bams3.io.redact.redact_text`, so a signed URL
in a request never comes back in a response or a log line with its signature.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["Model", "ResultModel", "ErrorInfo", "HandlerResponse", "Handler", "validation_message"]

log = logging.getLogger("bams3.handlers")

#: validation problems listed in one error message (the rest are counted)
MAX_LISTED_PROBLEMS = 5


class Model(BaseModel):
    """Base of the request models: strict about unknown keys (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ResultModel(BaseModel):
    """Base of the response models: the library's JSON, checked against its documented shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorInfo(ResultModel):
    """Why a request failed, safe to show: no traceback, no secret."""

    type: str = Field(description="Error class: ValidationError for a malformed request, else the bams3 error "
                                  "type (ObjectNotFoundError, AccessDeniedError, RegionError, ...)")
    message: str = Field(description="One line naming the file or field and the problem (URLs redacted)")


ResultT = TypeVar("ResultT", bound=BaseModel)
RequestT = TypeVar("RequestT", bound=BaseModel)


class HandlerResponse(BaseModel, Generic[ResultT]):
    """The envelope every handler returns."""

    model_config = ConfigDict(extra="forbid")

    success: bool = Field(description="False only when the operation failed; see 'error'")
    result: ResultT | None = Field(default=None, description="The operation's result (also present on some "
                                                              "failures: what a stopped sync did)")
    error: ErrorInfo | None = Field(default=None, description="Present when success is false")


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "request"


def _rule(message: str) -> str:
    """pydantic's message without the "Value error, " it puts before a validator's own text."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def validation_message(exc: ValidationError, *, what: str) -> str:
    """One line listing what is wrong with a request, by field, without echoing its values.

    pydantic's own text repeats each bad input; an input can be a signed URL, so only the
    field path and the rule it broke are kept.
    """
    problems = [f"{_location(tuple(e['loc']))}: {_rule(e['msg'])}"
                for e in exc.errors(include_url=False, include_input=False)]
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(listed)
    return f"invalid {what} request: " + "; ".join(listed) + (f"; and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Handler(Generic[RequestT, ResultT]):
    """One operation: its models, its function, and the adapters around it.

    Attributes
    ----------
    name
        The name users call it by (``bams3 handle NAME``, docs/schemas/NAME.*.json).
    summary
        One line for ``bams3 handle --list`` and docs/HANDLERS.md.
    request_model, response_model
        The typed request and result (the envelope wraps the result).
    function
        ``handle(request) -> response``: the operation itself, calling the library.
    recover
        For errors that carry a result (a stopped sync's report): that result, else None.
    """

    name: str
    summary: str
    request_model: type[RequestT]
    response_model: type[ResultT]
    function: Callable[[RequestT], ResultT]
    recover: Callable[[BaseException], ResultT | None] | None = None

    def parse(self, event: Any) -> RequestT:
        """Validate an event (a decoded JSON object) into the request model.

        Raises
        ------
        pydantic.ValidationError
            The event does not fit the request model.
        """
        return self.request_model.model_validate(event)

    def handle(self, request: RequestT | Mapping[str, Any]) -> ResultT:
        """Run the operation; library errors propagate (use :meth:`invoke` for an envelope)."""
        if not isinstance(request, self.request_model):
            request = self.parse(request)
        return self.function(request)  # type: ignore[arg-type]

    def invoke(self, event: Any) -> dict[str, Any]:
        """Run the operation on a raw event and return the envelope as JSON-ready data.

        This is the boundary: every exception becomes ``{"success": false, "error": ...}``.
        Expected failures (a malformed request, any :class:`bams3.errors.Bams3Error`) are
        logged as one line; anything else is a bug and is logged with its traceback, both
        redacted.
        """
        try:
            result = self.handle(self.parse(event))
        except ValidationError as exc:
            return self._failure(exc, "ValidationError", validation_message(exc, what=self.name))
        except Exception as exc:  # noqa: BLE001 - the handler boundary: every error becomes a response
            return self._failure(exc, type(exc).__name__, _one_line(exc))
        return {"success": True, "result": result.model_dump(mode="json")}

    def lambda_handler(self, event: Any, context: Any = None) -> dict[str, Any]:
        """The AWS Lambda entry point (``context`` is not used)."""
        return self.invoke(event)

    def response_type(self) -> type[BaseModel]:
        """The envelope model of this handler's responses (for its JSON Schema)."""
        return HandlerResponse[self.response_model]  # type: ignore[name-defined]

    def _failure(self, exc: BaseException, kind: str, message: str) -> dict[str, Any]:
        from ..errors import Bams3Error

        expected = isinstance(exc, (Bams3Error, ValidationError))
        if expected:
            log.warning("handler %s failed: %s: %s", self.name, kind, message)
        else:
            from ..io.redact import redact_text

            log.error("handler %s failed: %s: %s\n%s", self.name, kind, message,
                      redact_text("".join(traceback.format_exception(exc))).rstrip())
        envelope: dict[str, Any] = {"success": False, "error": {"type": kind, "message": message}}
        if self.recover is not None:
            result = self.recover(exc)
            if result is not None:
                envelope["result"] = result.model_dump(mode="json")
        return envelope


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line with URLs and secrets redacted."""
    from ..io.redact import redact_text

    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text)
