"""Data staging: bring the remote files a tool needs into a per-run directory.

A request names tool parameters and a data manifest (logical file name -> URL);
:class:`DataStagingManager` downloads every manifest entry into a fresh run directory
(in parallel, resuming, through a content cache, verifying checksums, decompressing
on request) and returns the parameters with the names replaced by local paths.

>>> with DataStagingManager(workdir="/scratch") as stager:          # doctest: +SKIP
...     params = stager.stage_files({"ref": "hg38.fa"}, {"hg38.fa": "s3://bucket/hg38.fa"})
...     run_tool(params["ref"])
"""
from __future__ import annotations

from ._fetch import StagedFile, StageFileError
from ._jsonfile import read_request, write_response
from .manager import DataStagingManager, OnError
from .models import FileFailure, ManifestEntry, StageRequest, StageResponse

__all__ = [
    "DataStagingManager",
    "FileFailure",
    "ManifestEntry",
    "OnError",
    "StageFileError",
    "StageRequest",
    "StageResponse",
    "StagedFile",
    "read_request",
    "write_response",
]
