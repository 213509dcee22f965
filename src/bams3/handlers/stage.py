"""Handler ``stage``: download the files of a data manifest and resolve tool parameters to them.

The request is the one ``bams3 stage`` and the GFL-style staging service take, plus
optional ``options``::

    {"params": {"input_file": "sample.sam", "threads": 4},
     "data_manifest": {"sample.sam": "https://host/bucket/sample.sam?X-Amz-Signature=...",
                       "hg38.fasta": {"url": "s3://bucket/ref/hg38.fasta.gz", "sha256": "...", "decompress": true}},
     "options": {"workdir": "/tmp", "jobs": 4, "on_error": "fail"}}

The result holds ``status`` (success, partial, failed), ``staged_files``, ``failed_files``
(redacted URL and reason), ``plugin_params`` (the parameters with manifest names replaced by
local paths) and ``run_dir``. The run directory is left in place for the tool that needs
the files: the caller removes it (on Lambda, ``/tmp`` goes with the execution environment).
A failed run (``on_error: fail``) removes what it had staged.
"""
from __future__ import annotations

import inspect
from typing import Any, Literal

from pydantic import Field

from ._base import Handler, Model, ResultModel

__all__ = ["StageHandlerRequest", "StageOptions", "StageResult", "HANDLER", "handle", "lambda_handler"]


def _manager_default(name: str) -> Any:
    """A :class:`bams3.stage.DataStagingManager` default, so that it is stated in one place."""
    from ..stage import DataStagingManager

    return inspect.signature(DataStagingManager).parameters[name].default


class ManifestEntryModel(Model):
    url: str = Field(min_length=1, description="Local path, file://, s3:// or http(s):// URL (signed URLs welcome)")
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$", description="Expected SHA-256 of the remote bytes")
    decompress: bool | None = Field(None, description="Decompress .gz/.zst (default: the options' decompress)")


class StageOptions(Model):
    """How the files are staged (the options of ``bams3 stage``)."""

    workdir: str | None = Field(None, description="Where the unique run directory is made (default: $TMPDIR)")
    run_dir: str | None = Field(None, description="Stage into exactly this directory (missing or empty)")
    jobs: int = Field(_manager_default("jobs"), ge=1, description="Files downloaded at once")
    on_error: Literal["fail", "continue"] = Field(
        _manager_default("on_error"),
        description="fail: stop at the first failure (an error response); continue: stage the rest and list the "
                    "failures in the result")
    decompress: bool = Field(_manager_default("decompress"), description="Decompress .gz/.zst entries by default")
    use_cache: bool = Field(_manager_default("use_cache"), description="Use the content cache")
    cache_dir: str | None = Field(None, description="Content cache root (default: $BAMS3_CACHE_DIR or ~/.cache/bams3)")


class StageHandlerRequest(Model):
    params: dict[str, Any] = Field(default_factory=dict, description="Tool parameters; strings equal to a manifest "
                                                                     "name become local paths, at any depth")
    data_manifest: dict[str, str | ManifestEntryModel] = Field(
        description="Logical file name (relative path in the run directory) -> URL or {url, sha256, decompress}")
    options: StageOptions = Field(default_factory=StageOptions)


class FileFailureModel(ResultModel):
    name: str
    url: str = Field(description="Redacted URL")
    error: str
    kind: str = Field(description="Error type")


class StageResult(ResultModel):
    status: Literal["success", "partial", "failed"]
    staged_files: list[str]
    failed_files: list[FileFailureModel]
    plugin_params: dict[str, Any]
    run_dir: str | None


def handle(request: StageHandlerRequest) -> StageResult:
    """Stage with :class:`bams3.stage.DataStagingManager`, as ``bams3 stage --keep`` does."""
    from ..stage import DataStagingManager, StageRequest

    stage_request = StageRequest.from_dict(request.model_dump(include={"params", "data_manifest"}, exclude_none=True))
    options = request.options
    manager = DataStagingManager(workdir=options.workdir, run_dir=options.run_dir, cache_dir=options.cache_dir,
                                 use_cache=options.use_cache, jobs=options.jobs, on_error=options.on_error,
                                 decompress=options.decompress, keep=True, show_progress=False)
    try:
        response = manager.stage(stage_request)
    except BaseException:
        manager.cleanup()
        raise
    return StageResult.model_validate(response.to_dict()["result"])


HANDLER = Handler(
    name="stage",
    summary="download the files of a data manifest into a run directory and resolve tool parameters to them",
    request_model=StageHandlerRequest,
    response_model=StageResult,
    function=handle,
)
lambda_handler = HANDLER.lambda_handler
