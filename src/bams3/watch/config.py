"""Watch settings from a YAML file and the command line.

The file is either a workflow config with a ``watch:`` section (then it is also the
config file every run gets, unless the section names ``configfiles``) or a file holding
only the section's keys. Command-line values win over the file's; sources given on the
command line replace the file's sources. The section is checked against
``config.schema.json`` (next to this module), then turned into
:class:`~bams3.watch.settings.WatchSettings`; every problem is one
:class:`~bams3.errors.ConfigError` line naming the file and the key.
"""
from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from .settings import DEFAULT_PATTERN, Launch, Source, UrlEntry, WatchSettings

__all__ = ["load_settings", "parse_duration", "section_from_file"]

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | float | int, *, what: str = "duration") -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"1.5h"`` or ``"1d"``.

    >>> parse_duration("5m"), parse_duration(2.5), parse_duration("1h")
    (300.0, 2.5, 3600.0)
    """
    if isinstance(value, bool):
        raise UsageError(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise UsageError(f"{what}: cannot read {value!r} as a duration (seconds, or 30s, 5m, 1h, 1d)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not seconds > 0:
        raise UsageError(f"{what}: must be more than 0 seconds, got {value!r}")
    return seconds


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads((Path(__file__).with_name("config.schema.json")).read_text())
    return jsonschema.Draft202012Validator(schema)


def _check_schema(section: Mapping[str, Any], where: str) -> None:
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(section))
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path)
        message = error.message
        if error.validator == "pattern" and path in ("interval", "lease"):
            message = f"{error.instance!r} is not a duration (seconds, or 30s, 5m, 1h, 1d)"
        raise ConfigError(f"{where}: watch{'.' + path if path else ''}: {message}")


def section_from_file(path: str) -> tuple[dict[str, Any], bool]:
    """The watch section of the YAML file at ``path`` (local or ``s3://``), and whether the
    file is a workflow config (holds a ``watch:`` key) rather than a watch-only file."""
    import yaml

    from ..io import open_url
    from ..io.redact import redact

    store, key = open_url(path)
    data = store.get(key)
    if data is None:
        raise ConfigError(f"{redact(path)}: no such file")
    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{redact(path)}: not a YAML file: {' '.join(str(exc).split())}") from None
    document = {} if document is None else document
    if not isinstance(document, dict):
        raise ConfigError(f"{redact(path)}: expected a YAML mapping at the top level")
    if "watch" not in document:
        return document, False
    section = document["watch"]
    if not isinstance(section, dict):
        raise ConfigError(f"{redact(path)}: 'watch' must be a mapping of settings")
    if section.get("activate") is False:
        raise ConfigError(f"{redact(path)}: watch.activate is false; set it to true to watch these sources")
    return dict(section), True


def _words(value: str | list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(shlex.split(value)) if isinstance(value, str) else tuple(value)


def _source(spec: Mapping[str, Any]) -> Source:
    urls = tuple(
        UrlEntry(entry) if isinstance(entry, str) else UrlEntry(entry["bam"], entry.get("index"), entry.get("sample"))
        for entry in spec.get("urls", ())
    )
    name = spec.get("name") or spec.get("folder") or (spec.get("url_list") if not urls else "urls")
    return Source(name=str(name), folder=spec.get("folder"), pattern=spec.get("pattern", DEFAULT_PATTERN),
                  urls=urls, url_list=spec.get("url_list"))


def _settings(section: Mapping[str, Any]) -> WatchSettings:
    knobs: dict[str, Any] = {}
    for name in ("cursor", "runs_dir", "max_batch", "max_runs", "max_attempts", "require_index", "reprocess_changed"):
        if name in section:
            knobs[name] = section[name]
    for name in ("interval", "lease"):
        if name in section:
            knobs[name] = parse_duration(section[name], what=name)
    launch: dict[str, Any] = {}
    command = _words(section.get("command"))
    if command is not None:
        launch["command"] = command
    for name in ("snakefile", "profile"):
        if section.get(name) is not None:
            launch[name] = section[name]
    launch["configfiles"] = tuple(section.get("configfiles") or ())
    launch["extra_args"] = _words(section.get("extra_args")) or ()
    launch["targets"] = tuple(section.get("targets") or ())
    return WatchSettings(sources=tuple(_source(s) for s in section.get("sources", ())), launch=Launch(**launch),
                         **knobs)


def load_settings(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> WatchSettings:
    """Settings from the file at ``path`` (if any) with ``overrides`` on top.

    Parameters
    ----------
    path
        A workflow config with a ``watch:`` section, or a file of watch keys only.
    overrides
        Section keys given on the command line (same names and forms as in the file).
        ``sources``, when present, replaces the file's.

    Raises
    ------
    bams3.errors.ConfigError
        The file or a value is invalid, or no source is configured.
    """
    from ..io.redact import redact

    section: dict[str, Any] = {}
    where = "command line"
    if path is not None:
        section, is_workflow_config = section_from_file(path)
        where = redact(path)
        _check_schema(section, where)
        if is_workflow_config and section.get("configfiles") is None:
            section["configfiles"] = [path]
    section.update(overrides or {})
    _check_schema(section, where)
    if not section.get("sources"):
        raise ConfigError(f"{where}: no sources to watch (give watch.sources, or --folder / --url / --url-list)")
    try:
        return _settings(section)
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc}") from None
