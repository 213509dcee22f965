"""Reading a staging request and writing its response as JSON files (or stdin/stdout)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import ConfigError
from ..io.localfiles import write_text_atomic
from .models import StageRequest, StageResponse

__all__ = ["read_request", "write_response"]


def read_request(source: str | os.PathLike[str]) -> StageRequest:
    """Read and validate a request from a JSON file, or from stdin when ``source`` is ``-``.

    Raises
    ------
    ConfigError
        If the file is missing, not JSON, or not a valid request (the message names it).
    """
    where = "stdin" if str(source) == "-" else str(source)
    try:
        text = sys.stdin.read() if where == "stdin" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the stage request ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    try:
        return StageRequest.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def write_response(response: StageResponse, dest: str | os.PathLike[str]) -> None:
    """Write ``response`` as indented JSON to ``dest`` (atomically), or to stdout for ``-``."""
    text = json.dumps(response.to_dict(), indent=2) + "\n"
    if str(dest) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_text_atomic(dest, text)
