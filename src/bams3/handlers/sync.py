"""Handler ``sync``: make a destination hold what a source holds (``bams3 sync SRC DST``).

Request: ``{"source": "results/", "destination": "s3://bucket/run-1/", "options": {...}}``.
Result: the sync report (copied, skipped, deleted and failed objects with byte totals).
With ``options.allow_partial_failure`` every object is tried and failures are listed in
the result; without it the first failure ends the sync with an error whose ``result`` is
the report of what was done (a rerun resumes).
"""
from __future__ import annotations

from pydantic import Field

from ._base import Handler, Model
from ._sync_models import SyncOptionsModel, SyncReportModel

__all__ = ["SyncHandlerRequest", "HANDLER", "handle", "lambda_handler", "report_from_error"]


class SyncHandlerRequest(Model):
    """Sync ``source`` to ``destination``: local folders or files and ``s3://`` prefixes or objects."""

    source: str = Field(min_length=1, description="Local folder or file, or s3:// prefix or object")
    destination: str = Field(min_length=1, description="Local folder or file, or s3:// prefix or object")
    options: SyncOptionsModel = Field(default_factory=SyncOptionsModel)


def handle(request: SyncHandlerRequest) -> SyncReportModel:
    """Run :func:`bams3.sync.sync` and return its report."""
    from ..sync import SyncRequest, sync

    report = sync(SyncRequest.from_dict(request.model_dump()), show_progress=False)
    return SyncReportModel.model_validate(report.to_dict())


def report_from_error(exc: BaseException) -> SyncReportModel | None:
    """The report a :class:`bams3.sync.SyncFailedError` carries (what was done before it stopped)."""
    from ..sync import SyncFailedError

    if isinstance(exc, SyncFailedError):
        return SyncReportModel.model_validate(exc.report.to_dict())
    return None


HANDLER = Handler(
    name="sync",
    summary="sync local folders and s3:// prefixes (any direction), skipping what is unchanged",
    request_model=SyncHandlerRequest,
    response_model=SyncReportModel,
    function=handle,
    recover=report_from_error,
)
lambda_handler = HANDLER.lambda_handler
