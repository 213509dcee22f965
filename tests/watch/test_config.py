"""Watch settings from a workflow config's ``watch:`` section, watch-only files and the command line."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from bams3.cli import build_parser
from bams3.cli.watch import _overrides
from bams3.errors import ConfigError, UsageError
from bams3.watch import Launch, Source, UrlEntry, WatchSettings, load_settings


def _write(path: Path, document: dict) -> str:
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_a_workflow_config_section_is_read_and_the_file_becomes_the_runs_config(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.yaml", {
        "samples": None, "output_dir": "results",
        "watch": {
            "activate": True, "cursor": "s3://lab/watch/", "interval": "5m", "lease": 90, "max_batch": 4,
            "require_index": True, "profile": "profiles/cluster", "extra_args": "--cores 8 --keep-going",
            "sources": [{"name": "drop", "folder": "s3://lab/incoming/", "pattern": "**/*.bam"},
                        {"urls": ["s3://lab/x/A.bam", {"bam": "https://h/B.bam?sig=1", "index": "https://h/B.bai?sig=2",
                                                       "sample": "B-1"}]}],
        },
    })
    settings = load_settings(path)
    assert settings == WatchSettings(
        sources=(Source(name="drop", folder="s3://lab/incoming/", pattern="**/*.bam"),
                 Source(name="urls", urls=(UrlEntry("s3://lab/x/A.bam"),
                                           UrlEntry("https://h/B.bam?sig=1", "https://h/B.bai?sig=2", "B-1")))),
        cursor="s3://lab/watch/", interval=300.0, lease=90.0, max_batch=4, require_index=True,
        launch=Launch(profile="profiles/cluster", configfiles=(path,), extra_args=("--cores", "8", "--keep-going")),
    )
    assert settings.launch.command == (sys.executable, "-m", "snakemake")


def test_command_line_values_win_and_replace_the_sources(tmp_path: Path) -> None:
    path = _write(tmp_path / "watch.yaml", {"sources": [{"folder": "/data/drop"}], "max_runs": 2,
                                            "command": ["my-snakemake", "--quiet"]})
    args = build_parser().parse_args(["watch", "--config", path, "--folder", "s3://b/in/", "--pattern", "*.cram",
                                      "--url", "s3://b/one.bam", "--url-list", "list.txt", "--interval", "30s",
                                      "--configfile", "wf.yaml", "--target", "all", "--", "--cores", "2"])
    settings = load_settings(path, _overrides(args))
    assert [s.name for s in settings.sources] == ["s3://b/in/", "urls", "list.txt"]
    assert settings.sources[0].pattern == "*.cram" and settings.sources[2].url_list == "list.txt"
    assert settings.interval == 30.0 and settings.max_runs == 2  # from the file: not given on the command line
    assert settings.launch == Launch(command=("my-snakemake", "--quiet"), configfiles=("wf.yaml",),
                                     targets=("all",), extra_args=("--cores", "2"))
    watch_only = load_settings(path)
    assert watch_only.launch.configfiles == () and watch_only.sources[0].name == "/data/drop"


@pytest.mark.parametrize(("section", "message"), [
    ({"activate": False, "sources": [{"folder": "x"}]}, "watch.activate is false"),
    ({"activate": True, "sources": [{"folder": "x"}], "bogus": 1}, "'bogus' was unexpected"),
    ({"activate": True, "sources": [{"folder": "x"}], "interval": "soon"}, "watch.interval"),
    ({"activate": True, "sources": [{"folder": "x"}], "max_batch": 0}, "watch.max_batch"),
    ({"activate": True, "sources": []}, "no sources to watch"),
    ({"activate": True, "sources": [{"folder": "x", "url_list": "y"}]}, "either a folder or urls"),
    ({"activate": True, "sources": [{"folder": "x"}, {"name": "x", "url_list": "y"}]}, "repeated: x"),
    ({"activate": True, "sources": [{"urls": [{"bam": "s3://b/k.bam", "sample": "../up"}]}]}, "sample"),
])
def test_bad_settings_are_one_line_errors_naming_the_file(tmp_path: Path, section: dict, message: str) -> None:
    path = _write(tmp_path / "config.yaml", {"watch": section})
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_a_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(str(tmp_path / "nope.yaml"))
    (tmp_path / "bad.yaml").write_text("watch: [unclosed")
    with pytest.raises(ConfigError, match="not a YAML file"):
        load_settings(str(tmp_path / "bad.yaml"))
    args = build_parser().parse_args(["watch", "--pattern", "*.bam", "--url", "x.bam"])
    with pytest.raises(UsageError, match="--pattern applies to --folder"):
        _overrides(args)
