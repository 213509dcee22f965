"""Progress for long steps: a bar on a terminal, periodic log lines otherwise.

A bioinformatician watching ``bams3 convert`` in a terminal wants a bar; the same step in a
Slurm job or a Snakemake log wants a line every so often (a bar's carriage returns make
logs unreadable). ``BAMS3_PROGRESS=bar|log|off`` forces one behaviour.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from types import TracebackType

from .units import format_bytes

__all__ = ["Progress", "progress"]

log = logging.getLogger("bams3.progress")

#: seconds between two log lines when not on a terminal
LOG_INTERVAL = float(os.environ.get("BAMS3_PROGRESS_INTERVAL", "10"))


class Progress:
    """The common face of the bar and the log: ``update(n)``, ``set_total(n)``, ``close()``."""

    def __init__(self, *, desc: str, total: float | None, unit: str, mode: str) -> None:
        self.desc, self.total, self.unit, self.mode = desc, total, unit, mode
        self.done = 0.0
        self._lock = threading.Lock()
        self._start = self._last = time.monotonic()
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, unit_divisor=1024 if unit == "B" else 1000,
                             file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(self, n: float = 1) -> None:
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)
            elif self.mode == "log":
                now = time.monotonic()
                if now - self._last >= LOG_INTERVAL:
                    self._last = now
                    log.info("%s", self._line(now))

    def set_total(self, total: float) -> None:
        with self._lock:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()

    def _amount(self, value: float) -> str:
        return format_bytes(value) if self.unit == "B" else f"{value:,.0f} {self.unit}"

    def _line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.desc}: {self._amount(self.done)}"
        if self.total:
            text += f" of {self._amount(self.total)} ({100 * self.done / self.total:.0f}%)"
            if rate > 0:
                text += f", ETA {max(self.total - self.done, 0) / rate:.0f} s"
        rate_text = f"{format_bytes(rate)}/s" if self.unit == "B" else f"{rate:,.0f} {self.unit}/s"
        return f"{text}, {rate_text}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "log" and self.done:
            log.info("%s (done in %.1f s)", self._line(time.monotonic()), time.monotonic() - self._start)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _mode() -> str:
    forced = os.environ.get("BAMS3_PROGRESS", "auto").lower()
    if forced in ("bar", "log", "off"):
        return forced
    return "bar" if sys.stderr.isatty() else "log"


def progress(desc: str, *, total: float | None = None, unit: str = "B", enabled: bool = True) -> Progress:
    """Start reporting progress of one step (use as a context manager)."""
    return Progress(desc=desc, total=total, unit=unit, mode=_mode() if enabled else "off")
