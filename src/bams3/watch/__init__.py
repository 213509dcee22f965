"""The sensor: start the workflow for each new BAM in a folder, an S3 prefix or a URL list.

Labs drop BAMs into a bucket or a folder (or keep a list of URLs) and want each processed
once, without anyone starting runs. A :class:`Watcher` lists its sources every
``interval`` seconds, notices BAMs it has not processed (waiting until an upload is
complete: the same size and ETag in two listings), and starts ``snakemake`` for them with
a per-run samples sheet. What it has seen, started, finished and failed is kept in a
durable :class:`~bams3.watch.cursor.Cursor` (a local folder or an ``s3://`` prefix):

- a BAM is marked done only after its run succeeded; a watcher killed at any moment
  loses nothing (its runs' leases expire and the BAMs are retried) and repeats nothing
  that succeeded;
- a failing BAM is retried up to ``max_attempts`` times, then reported and left alone
  until ``bams3 watch --reset``;
- watchers sharing a cursor never both process a BAM: claims are compare-and-swap writes
  of the cursor and carry a lease that the owner renews while the run goes.

Layout
------
``settings``     :class:`WatchSettings`, :class:`Source`, :class:`Launch` (values, defaults)
``config``       settings from YAML (a workflow config's ``watch:`` section) and the CLI
``sources``      listing folders, prefixes and URL lists; index discovery; sample names
``state``        the cursor's content (items, runs, attempts) and its JSON form
``transitions``  every change of the state, as pure functions (the rules live there)
``cursor``       the compare-and-swap cursor over create-only writes
``runner``       a run's sheet, overlay, process and stopping
``watcher``      the loop that ties them together
``status``       ``--status`` as a table or JSON

Examples
--------
>>> from bams3.watch import Source, WatchSettings, Watcher              # doctest: +SKIP
>>> settings = WatchSettings(sources=(Source(name="drop", folder="s3://lab/incoming/"),),
...                          cursor="s3://lab/watch/cursor/")
>>> Watcher(settings).serve(once=True)
"""
from __future__ import annotations

from .config import load_settings, parse_duration
from .cursor import Cursor, Snapshot, open_cursor
from .settings import DEFAULT_PATTERN, Launch, Source, UrlEntry, WatchSettings
from .state import Attempt, CursorState, Item, Run, Seen, Version
from .transitions import reset_items
from .watcher import TickReport, Watcher

__all__ = [
    "DEFAULT_PATTERN",
    "Attempt",
    "Cursor",
    "CursorState",
    "Item",
    "Launch",
    "Run",
    "Seen",
    "Snapshot",
    "Source",
    "TickReport",
    "UrlEntry",
    "Version",
    "WatchSettings",
    "Watcher",
    "load_settings",
    "open_cursor",
    "parse_duration",
    "reset",
]


def reset(cursor: Cursor, names: list[str], *, now: float | None = None) -> list[Item]:
    """Forget BAMs (by sample name or BAM URL, or a source's failed BAMs) so that they are
    processed again; see :func:`bams3.watch.transitions.reset_items`."""
    import time

    at = time.time() if now is None else now
    _, removed = cursor.update(lambda state: reset_items(state, names, now=at))
    return removed
