"""``bams3 watch``: start the workflow for each new BAM in folders, S3 prefixes or URL lists."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

USAGE = """bams3 watch [--config FILE] [SOURCES] [options] [-- SNAKEMAKE_ARG ...]
       bams3 watch --status [--json] [--config FILE | --cursor URL]
       bams3 watch --reset NAME [NAME ...] [--config FILE | --cursor URL]"""

DESCRIPTION = """\
Watch folders, s3:// prefixes or lists of BAM URLs and start the workflow (snakemake) for
every new BAM, exactly once, without anyone starting runs.

Every --interval (or once, with --once) the sources are listed. A BAM seen for the first
time waits for the next listing: it is started only once two listings in a row saw the
same size and ETag (an upload in progress does not), and with --require-index once a
.bai/.csi at least as new is next to it. New BAMs are grouped, up to --max-batch per run,
into a samples sheet (columns sample, bam, index; the index found next to the BAM) and a
config overlay pointing the workflow at it, written to <runs-dir>/<run id>/, and the run
is started as

  COMMAND [TARGET ...] [--snakefile S] [--profile P] --configfile CONFIGFILE... OVERLAY
          --rerun-incomplete [SNAKEMAKE_ARG ...]

(COMMAND defaults to the snakemake installed with bams3). Its output goes to run.log in
the same folder. A BAM is marked done only when its run succeeded. A failed run is retried
at the next tick (the BAMs of a failed run of several are retried one by one), up to
--max-attempts times per BAM; then the BAM is reported as failed and left alone until
--reset. Sample names are the file names without .bam.

The cursor (--cursor: a local folder or an s3:// prefix) records every BAM seen, which
run processed it, when and with what outcome. It is written atomically, one numbered
generation per change, with create-only writes, so watchers sharing a cursor never
clobber each other. A run's claim carries a lease (--lease) that its watcher renews; if
the watcher is killed, its runs stop too (Linux) and, once the lease has expired, the
next tick of any watcher retries them. Stopping the watcher (Ctrl-C, SIGTERM) stops its
runs cleanly and gives their BAMs back without counting an attempt."""

EPILOG = """\
Configuration: --config FILE reads the 'watch:' section of a workflow config (the file is
then also every run's --configfile, unless the section sets 'configfiles'), or a file of
watch keys only: sources (a list of {name, folder, pattern} or {name, urls, url_list}),
cursor, runs_dir, interval, lease, max_batch, max_runs, max_attempts, require_index,
reprocess_changed, command, snakefile, profile, configfiles, extra_args, targets (see
config/README.md). Options given here win; sources given here replace the file's.
Durations are seconds or 30s / 5m / 1h. Relative paths are relative to the current folder.

Logging: one line per tick (new, waiting, pending, running, done and failed counts) and
one per run started or ended, on stderr; --log-level ERROR keeps only the errors.

Exit status: --once: 0, or 1 if a run failed or a source could not be listed. Without
--once: runs until interrupted; 0 after SIGTERM, 130 after Ctrl-C. 2 for usage errors."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "watch",
        help="start the workflow for each new BAM in folders, s3:// prefixes or URL lists (durable cursor)",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--config", metavar="FILE",
                        help="YAML file: a workflow config with a 'watch:' section, or watch keys only")

    sources = parser.add_argument_group("sources (replace the config's sources when given)")
    sources.add_argument("--folder", action="append", metavar="URL",
                         help="a local folder, file:// URL or s3://bucket/prefix to list (repeatable)")
    sources.add_argument("--pattern", metavar="GLOB",
                         help="which files of the --folder sources are BAMs (default '*.bam'; '*' stays within "
                              "one level and skips hidden files; '**/' descends into subfolders)")
    sources.add_argument("--url", action="append", metavar="URL",
                         help="one BAM by URL, any scheme bams3 reads (repeatable)")
    sources.add_argument("--url-list", action="append", metavar="FILE",
                         help="a file (local or s3://) re-read every tick: one BAM URL per line, optionally "
                              "followed by its index URL (repeatable)")

    when = parser.add_argument_group("when and what")
    when.add_argument("--cursor", metavar="URL",
                      help="folder or s3:// prefix of the cursor (default: .bams3-watch/cursor)")
    when.add_argument("--interval", metavar="TIME", help="time between two listings (default: 60s)")
    when.add_argument("--max-batch", type=int, metavar="N", help="most BAMs per run (default: 10)")
    when.add_argument("--max-runs", type=int, metavar="N", help="most runs going at once (default: 1)")
    when.add_argument("--max-attempts", type=int, metavar="N",
                      help="runs per BAM before it is reported as failed (default: 3)")
    when.add_argument("--require-index", action="store_true",
                      help="wait until a .bai/.csi at least as new as the BAM is next to it")
    when.add_argument("--reprocess-changed", action="store_true",
                      help="process a BAM again when its size or ETag changes after it was processed")
    when.add_argument("--lease", metavar="TIME",
                      help="how long a run stays claimed without being renewed (default: 5m); a killed "
                           "watcher's runs are retried after this")

    launch = parser.add_argument_group("how runs start")
    launch.add_argument("--command", metavar="CMD",
                        help="the command that runs the workflow, split like a shell would "
                             "(default: the snakemake installed with bams3)")
    launch.add_argument("--snakefile", metavar="FILE", help="passed to each run as --snakefile")
    launch.add_argument("--profile", metavar="DIR", help="passed to each run as --profile")
    launch.add_argument("--configfile", dest="configfiles", action="append", metavar="FILE",
                        help="the workflow's config file for each run (repeatable; default: --config when "
                             "it is a workflow config)")
    launch.add_argument("--target", dest="targets", action="append", metavar="TARGET",
                        help="a target of each run (repeatable; default: the workflow's default target)")
    launch.add_argument("--runs-dir", metavar="DIR",
                        help="where each run's sheet, overlay and log go (default: .bams3-watch/runs)")
    launch.add_argument("snakemake_args", nargs="*", default=[], metavar="SNAKEMAKE_ARG",
                        help="after '--': further arguments of each run (e.g. -- --cores 8)")

    mode = parser.add_argument_group("what to do (default: watch until interrupted)").add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one tick, then wait for the runs it started")
    mode.add_argument("--status", action="store_true", help="print the cursor as a table and exit")
    mode.add_argument("--reset", nargs="+", metavar="NAME",
                      help="forget BAMs by sample name or BAM URL (or a source's failed BAMs, by source "
                           "name) so that the next ticks process them again")
    parser.add_argument("--json", action="store_true", help="with --status: print JSON instead of a table")
    parser.set_defaults(func=run, once=False, status=False, json=False)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The watch keys given on the command line, named as in the config file."""
    from ..errors import UsageError

    out: dict[str, Any] = {}
    for name in ("cursor", "runs_dir", "interval", "lease", "max_batch", "max_runs", "max_attempts",
                 "require_index", "reprocess_changed", "command", "snakefile", "profile", "configfiles", "targets"):
        if hasattr(args, name):
            out[name] = getattr(args, name)
    if args.snakemake_args:
        out["extra_args"] = list(args.snakemake_args)
    folders = getattr(args, "folder", [])
    if hasattr(args, "pattern") and not folders:
        raise UsageError("--pattern applies to --folder sources; give a --folder")
    sources: list[dict[str, Any]] = [
        {"folder": f, **({"pattern": args.pattern} if hasattr(args, "pattern") else {})} for f in folders
    ]
    if hasattr(args, "url"):
        sources.append({"name": "urls", "urls": list(args.url)})
    sources += [{"url_list": f} for f in getattr(args, "url_list", [])]
    if sources:
        out["sources"] = sources
    return out


def _cursor_url(args: argparse.Namespace) -> str:
    """The cursor of --status / --reset: --cursor, else the config's, else the default."""
    from ..watch.config import section_from_file
    from ..watch.settings import WatchSettings

    if hasattr(args, "cursor"):
        return str(args.cursor)
    if hasattr(args, "config"):
        section, _ = section_from_file(args.config)
        if isinstance(section.get("cursor"), str):
            return section["cursor"]
    return WatchSettings(sources=()).cursor


def _quiet_level(name: str) -> int:
    """Tick lines are INFO: shown unless the user asked for ERROR only."""
    level = logging.getLevelName(name)
    return logging.INFO if level in (logging.INFO, logging.WARNING) else level


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..watch import Watcher, load_settings, open_cursor, reset
    from ..watch.status import status_json, status_table

    logging.getLogger("bams3.watch").setLevel(_quiet_level(args.log_level))
    if args.json and not args.status:
        raise UsageError("--json goes with --status")
    if args.status or hasattr(args, "reset"):
        cursor = open_cursor(_cursor_url(args))
        if args.status:
            snapshot = cursor.read()
            if args.json:
                json.dump(status_json(snapshot, url=cursor.url), sys.stdout, indent=2)
                print()
            else:
                print(status_table(snapshot, url=cursor.url, now=time.time()))
            return 0
        removed = reset(cursor, list(args.reset))
        for item in removed:
            print(f"reset {item.sample} ({item.state}, {item.bam}, source {item.source})")
        return 0
    settings = load_settings(getattr(args, "config", None), _overrides(args))
    return Watcher(settings).serve(once=args.once)
