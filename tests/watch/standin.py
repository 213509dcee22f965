"""A stand-in for snakemake that the watcher starts in tests: it takes the same arguments.

It reads the run's overlay (the last ``--configfile``) and the samples sheet it names,
records the invocation, and behaves as the control folder ``$STANDIN_DIR`` says:

``invocations.jsonl``  one line appended per run: run id, pid, samples, arguments
``done.jsonl``         one line appended per sample of a run that succeeded
``fail``               sample names (one per line) whose runs exit 1
``hang``               while this file exists, the run waits (after writing ``started.<run id>``)
``sleep``              seconds every run takes
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

import yaml


def _configfiles(argv: list[str]) -> list[str]:
    start = argv.index("--configfile") + 1
    files = []
    for word in argv[start:]:
        if word.startswith("-"):
            break
        files.append(word)
    return files


def _append(path: Path, record: dict) -> None:
    with open(path, "a") as handle:  # one short write per line: appends do not interleave
        handle.write(json.dumps(record) + "\n")


def main(argv: list[str]) -> int:
    control = Path(os.environ["STANDIN_DIR"])
    run = os.environ.get("BAMS3_WATCH_RUN", "?")
    configfiles = _configfiles(argv)
    overlay = yaml.safe_load(Path(configfiles[-1]).read_text())
    with open(overlay["samples"], newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    samples = [row["sample"] for row in rows]
    _append(control / "invocations.jsonl",
            {"run": run, "pid": os.getpid(), "samples": samples, "argv": argv, "configfiles": configfiles})
    if (control / "hang").exists():
        (control / f"started.{run}").write_text(str(os.getpid()))
        while (control / "hang").exists():
            time.sleep(0.05)
    if (control / "sleep").exists():
        time.sleep(float((control / "sleep").read_text()))
    failing = set((control / "fail").read_text().split()) if (control / "fail").exists() else set()
    if failing & set(samples):
        print(f"stand-in: failing on {sorted(failing & set(samples))}", file=sys.stderr)
        return 1
    for row in rows:
        _append(control / "done.jsonl", {"run": run, **row})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
