"""``bams3 sync`` on the command line: the three forms, reports, dry runs, exit codes, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bams3.cli import main
from bams3.jsondocs import get_json

from ._trees import TREE, local_hashes, make_tree, s3_hashes


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAMS3_PROGRESS", "off")


def bams3(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process (to see exactly what users see)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "bams3", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_help_explains_all_three_forms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sync", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for form in ("bams3 sync [options] SRC DST", "bams3 sync plan [options] SRC DST --batch-bytes SIZE -o PLAN",
                 "bams3 sync batch [options] PLAN --index K", "--allow-partial-failure", "--delete", "--move",
                 "--checksum", "--size-only", "--include", "--exclude", "--dry-run", "--report", "--jobs"):
        assert form in text


def test_sync_report_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], s3_server: Any,
                                 s3_bucket: str) -> None:
    expected = make_tree(tmp_path / "src", TREE)
    dst = f"s3://{s3_bucket}/cli"
    assert main(["sync", str(tmp_path / "src"), dst, "--dry-run", "--exclude", "*.txt"]) == 0
    out = capsys.readouterr()
    assert "copy" in out.out and "a.bam" in out.out and "c.txt" not in out.out
    assert "would be copied 4" in out.err
    assert s3_hashes(s3_server.client(), s3_bucket, "cli") == {}

    report_path = tmp_path / "report.json"
    assert main(["sync", str(tmp_path / "src"), dst, "-j", "3", "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["summary"]["copied"] == {"count": len(TREE), "bytes": sum(len(v) for v in TREE.values())}
    assert s3_hashes(s3_server.client(), s3_bucket, "cli") == expected
    capsys.readouterr()

    assert main(["sync", str(tmp_path / "src"), dst, "--report", "-"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["summary"]["copied"]["count"] == 0 and again["summary"]["skipped"]["count"] == len(TREE)


def test_plan_and_batch_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            s3_server: Any, s3_bucket: str) -> None:
    expected = make_tree(tmp_path / "src", TREE)
    plan_url = f"s3://{s3_bucket}/plans/plan.json"
    assert main(["sync", "plan", str(tmp_path / "src"), f"s3://{s3_bucket}/out/", "--batch-bytes", "64K",
                 "-o", plan_url]) == 0
    assert "batch(es)" in capsys.readouterr().err
    batches = get_json(plan_url)["batches"]
    assert len(batches) == 2  # a.bam (70,000 B) alone, the rest together
    for index in range(len(batches)):
        assert main(["sync", "batch", plan_url, "--index", str(index), "--report",
                     str(tmp_path / f"r{index}.json")]) == 0
    assert s3_hashes(s3_server.client(), s3_bucket, "out") == expected
    assert json.loads((tmp_path / "r0.json").read_text())["batch_index"] == 0


def test_partial_failure_exit_status_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_tree(tmp_path / "src", {"a.txt": b"a", "blocked": b"b", "c.txt": b"c"})
    make_tree(tmp_path / "dst", {"blocked/inside": b"a directory where a file must go"})
    report_path = tmp_path / "report.json"
    code = main(["sync", str(tmp_path / "src"), str(tmp_path / "dst"), "--allow-partial-failure",
                 "--report", str(report_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "1 object(s) failed, first: blocked" in err
    report = json.loads(report_path.read_text())
    assert [item["key"] for item in report["failed"]] == ["blocked"]
    assert local_hashes(tmp_path / "dst").keys() == {"a.txt", "c.txt", "blocked/inside"}


def test_errors_are_one_line_without_traceback(tmp_path: Path, s3_bucket: str) -> None:
    cases = [
        (["sync", str(tmp_path / "missing"), f"s3://{s3_bucket}/x", "--fail-if-missing"], 1, "no such file"),
        (["sync", "plan", str(tmp_path), "--batch-bytes", "1G", "-o", "p.json"], 2, "takes SRC DST"),
        (["sync", "plan", str(tmp_path), f"s3://{s3_bucket}/x", "-o", "p.json"], 2, "--batch-bytes"),
        (["sync", "plan", str(tmp_path), f"s3://{s3_bucket}/x", "--batch-bytes", "lots", "-o", "p"], 2, "size"),
        (["sync", str(tmp_path), f"s3://{s3_bucket}/x", "--index", "3"], 2, "not an option"),
        (["sync", "batch", str(tmp_path / "nope.json"), "--index", "0"], 1, "nope.json"),
        (["sync", "https://h/x.bam?X-Amz-Signature=SECRET", str(tmp_path)], 2, "s3:// URLs only"),
        (["json", "get", f"s3://{s3_bucket}/none.json"], 1, "none.json"),
    ]
    (tmp_path / "plan.json").write_text('{"format": "bams3.sync-plan", "version": 1}')
    cases.append((["sync", "batch", str(tmp_path / "plan.json"), "--index", "0"], 2, "missing field"))
    make_tree(tmp_path / "src", {"blocked": b"b"})
    make_tree(tmp_path / "dst", {"blocked/inside": b"a directory where a file must go"})
    cases.append((["sync", str(tmp_path / "src"), str(tmp_path / "dst")], 1, "dst/blocked: cannot write"))
    for args, code, fragment in cases:
        result = bams3(*args)
        assert result.returncode == code, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        assert fragment in lines[0] and "SECRET" not in lines[0], (args, lines[0])
