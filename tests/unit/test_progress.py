"""Progress goes to the log (not a bar) when stderr is not a terminal."""
from __future__ import annotations

import logging

from bams3 import progress as progress_mod


def test_log_mode_writes_periodic_lines(monkeypatch, caplog) -> None:
    monkeypatch.setenv("BAMS3_PROGRESS", "log")
    monkeypatch.setattr(progress_mod, "LOG_INTERVAL", 0.0)
    with caplog.at_level(logging.INFO, logger="bams3.progress"):
        with progress_mod.progress("convert s.bam", total=4 * 2**20) as bar:
            bar.update(2**20)
            bar.update(2**20)
    lines = [r.getMessage() for r in caplog.records]
    assert any("convert s.bam: 1.0 MiB of 4.0 MiB (25%)" in line for line in lines)
    assert "done in" in lines[-1]


def test_off_mode_is_silent(monkeypatch, caplog) -> None:
    monkeypatch.setenv("BAMS3_PROGRESS", "off")
    with caplog.at_level(logging.INFO, logger="bams3.progress"):
        with progress_mod.progress("x", total=10, unit="reads") as bar:
            bar.update(10)
    assert caplog.records == []
