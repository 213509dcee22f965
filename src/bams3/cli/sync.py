"""``bams3 sync``: sync SRC to DST, or plan batches (``sync plan``) and run one (``sync batch``).

One parser serves the three forms: ``plan`` and ``batch`` are recognised as the first word.
Real argparse sub-commands cannot sit beside the ``SRC DST`` positionals of the plain form
(argparse would take ``SRC`` for an unknown sub-command name), and one parser gives one
``--help`` page that explains all three. Options are checked against the form they are
used with, so ``bams3 sync plan ... --delete`` is a one-line usage error, not a silent no-op.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ._common import add_io_stats_argument, print_io_stats

FORMS = ("sync", "plan", "batch")

#: option destination -> (flag as users type it, forms that accept it)
_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "compare": ("--checksum/--size-only", ("sync", "plan")),
    "filters": ("--include/--exclude", ("sync", "plan")),
    "delete": ("--delete", ("sync",)),
    "dry_run": ("--dry-run", ("sync", "batch")),
    "fail_if_missing": ("--fail-if-missing", ("sync", "plan")),
    "move": ("--move/--retain-source", ("sync", "plan")),
    "allow_partial_failure": ("--allow-partial-failure", ("sync", "batch")),
    "jobs": ("--jobs", FORMS),
    "part_size": ("--part-size", ("sync", "plan")),
    "report": ("--report", ("sync", "batch")),
    "batch_bytes": ("--batch-bytes", ("plan",)),
    "output": ("--output", ("plan",)),
    "index": ("--index", ("batch",)),
}
#: options that become :class:`bams3.sync.SyncOptions` fields
_SYNC_OPTION_FIELDS = ("compare", "filters", "delete", "dry_run", "fail_if_missing", "move",
                       "allow_partial_failure", "jobs", "part_size")

USAGE = """bams3 sync [options] SRC DST
       bams3 sync plan [options] SRC DST --batch-bytes SIZE -o PLAN
       bams3 sync batch [options] PLAN --index K"""

DESCRIPTION = """\
Make DST hold what SRC holds, for local folders/files and s3:// prefixes/objects in any
direction (S3 to S3 copies server-side: no object bytes pass through this machine).

  bams3 sync SRC DST          copy what is new or changed (large objects in parallel parts)
  bams3 sync plan SRC DST     split that work into batches of at most --batch-bytes
                              (first-fit decreasing; an object larger than the limit gets a
                              batch of its own) and write the plan as JSON (-o, local or s3://)
  bams3 sync batch PLAN       run batch --index K of a plan (objects are checked again, so a
                              batch can be rerun; a plan never deletes: run 'bams3 sync
                              SRC DST --delete' after the batches)

What SRC and DST name: a local directory or an s3:// URL ending in '/' is a folder; a local
file is one object; any other s3:// URL is one object if it exists, else the prefix URL/.
A folder is copied into DST (SRC/a/b.bam -> DST/a/b.bam). One object is copied into DST if
DST ends in '/' or is an existing directory, else to DST itself.

What is skipped: an object whose destination has the same size and is at least as new
(compared at whole seconds, the 'aws s3 sync' rule: S3 sets the upload time, downloads and
local copies get the source's time). --size-only compares sizes, --checksum contents
(MD5 of single-part S3 uploads from their ETag, else read). Nothing is deleted unless
--delete is given, and then only destination objects the filters include, never when the
source is missing and never after a failed copy. The source is kept unless --move is given."""

EPILOG = """\
Filters: --include/--exclude take shell globs matched against paths relative to SRC ('*'
crosses '/'); all paths start included and the last matching rule wins, e.g.
--exclude '*' --include '*.bam' --include '*.bai'.

Report: --report FILE writes JSON (copied, skipped, deleted and failed objects with byte
totals; '-' for stdout, s3:// allowed); a summary line always goes to stderr. --dry-run
prints each planned action on stdout instead of doing it.

Exit status: 0 when every object is in place; 1 when an object failed (the first failure
stops the run unless --allow-partial-failure, which finishes the rest first); 2 for usage
errors. A failed or interrupted sync never leaves a partial object: rerun it to finish."""


class _FilterAction(argparse.Action):
    """Keep ``--include`` and ``--exclude`` in one ordered list: their order matters."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        rules = list(getattr(namespace, self.dest, None) or [])
        rules.append((self.const, values))
        setattr(namespace, self.dest, rules)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..sync.models import SyncOptions  # light: the models import no I/O code

    parser = subparsers.add_parser(
        "sync",
        help="sync local folders and s3:// prefixes (any direction); plan and run batches",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("words", nargs="+", metavar="ARGS", help="SRC DST, or plan SRC DST, or batch PLAN")

    what = parser.add_argument_group("what is copied (sync, plan)")
    compare = what.add_mutually_exclusive_group()
    compare.add_argument("--checksum", dest="compare", action="store_const", const="checksum",
                         help="skip only objects whose content is identical")
    compare.add_argument("--size-only", dest="compare", action="store_const", const="size",
                         help="skip objects of the same size, whatever their times")
    what.add_argument("--include", dest="filters", action=_FilterAction, const="include", metavar="GLOB",
                      help="include paths matching GLOB (repeatable; order matters)")
    what.add_argument("--exclude", dest="filters", action=_FilterAction, const="exclude", metavar="GLOB",
                      help="exclude paths matching GLOB (repeatable; order matters)")
    what.add_argument("--fail-if-missing", action="store_true",
                      help="a missing SRC is an error (default: a warning and nothing to do)")
    keep = what.add_mutually_exclusive_group()
    keep.add_argument("--retain-source", dest="move", action="store_false",
                      help="keep the source objects (the default)")
    keep.add_argument("--move", dest="move", action="store_true",
                      help="delete each source object once an identical copy is proven at DST "
                           "(compares contents, as --checksum; emptied local folders stay)")
    what.add_argument("--delete", action="store_true",
                      help="(sync only) delete DST objects that SRC lacks")

    run_group = parser.add_argument_group("how it runs (sync, batch)")
    run_group.add_argument("-j", "--jobs", type=int, metavar="N",
                           help=f"objects transferred at once (default: {SyncOptions().jobs})")
    run_group.add_argument("--part-size", metavar="SIZE",
                           help="(sync, plan) multipart part size for uploads, e.g. 64M (default: files up to "
                                "128 MiB go up in one PUT, larger ones in parts that grow with the object from "
                                "8 MiB; S3 allows 5 MiB to 5 GiB). Parts are read from disk by the sending "
                                "threads; $BAMS3_UPLOAD_BUFFER_MB (default 256) caps what a process holds")
    run_group.add_argument("-n", "--dry-run", action="store_true", help="print what would be done; change nothing")
    run_group.add_argument("--allow-partial-failure", action="store_true",
                           help="try every object and report the failures, instead of stopping at the first")
    run_group.add_argument("--report", metavar="FILE",
                           help="write the JSON report to FILE ('-' for stdout; local or s3://)")
    run_group.add_argument("--no-progress", action="store_true", help="do not report progress")
    add_io_stats_argument(run_group)  # type: ignore[arg-type]

    batch = parser.add_argument_group("plan and batch")
    batch.add_argument("--batch-bytes", metavar="SIZE",
                       help="(plan) most bytes per batch, e.g. 50G or 500GB (binary unless 'B' follows)")
    batch.add_argument("-o", "--output", metavar="PLAN", help="(plan) where to write the plan JSON (local or s3://)")
    batch.add_argument("--index", type=int, metavar="K", help="(batch) which batch to run, from 0")
    parser.set_defaults(func=run, io_stats=False, no_progress=False)


def _form(args: argparse.Namespace) -> tuple[str, list[str]]:
    """Split the positional words into the form and its operands, and check options fit the form."""
    from ..errors import UsageError

    words = list(args.words)
    form = words.pop(0) if words[0] in ("plan", "batch") else "sync"
    wanted = 1 if form == "batch" else 2
    if len(words) != wanted:
        operands = "PLAN" if form == "batch" else "SRC DST"
        command = "bams3 sync" if form == "sync" else f"bams3 sync {form}"
        hint = " (a folder named 'plan' or 'batch' can be given as ./plan)" if form != "sync" else ""
        raise UsageError(f"{command} takes {operands}, got {len(words)} operand(s){hint}")
    for dest, (flag, forms) in _OPTIONS.items():
        if dest in vars(args) and form not in forms:
            raise UsageError(f"{flag} is not an option of 'bams3 sync{'' if form == 'sync' else ' ' + form}'")
    return form, words


def _options(args: argparse.Namespace) -> Any:
    from ..sync import FilterRule, PathFilter, SyncOptions

    from ..units import parse_bytes

    given = {name: getattr(args, name) for name in _SYNC_OPTION_FIELDS if name in vars(args)}
    if "part_size" in given:
        given["part_size"] = parse_bytes(given["part_size"])
    if "filters" in given:
        given["filters"] = PathFilter(tuple(FilterRule(kind, pattern) for kind, pattern in given["filters"]))
    return SyncOptions(**given)


def _write_report(report: Any, target: str | None) -> None:
    if target is None:
        return
    from ..jsondocs import dump_json, put_json

    if target == "-":
        sys.stdout.buffer.write(dump_json(report.to_dict()))
        sys.stdout.flush()
    else:
        put_json(target, report.to_dict())


def _print_dry_run(report: Any) -> None:
    from ..units import format_bytes

    verbs = {"copied": "copy", "skipped": "skip", "deleted": "delete", "failed": "fail"}
    for result in report.results:
        target = f" -> {result.dest_key}" if result.dest_key else ""
        print(f"{verbs[result.action]:<6} {format_bytes(result.bytes):>10}  {result.key}{target}  ({result.reason})")


def _finish(report: Any, args: argparse.Namespace) -> int:
    if report.dry_run and getattr(args, "report", None) != "-":
        _print_dry_run(report)
    _write_report(report, getattr(args, "report", None))
    print(f"bams3 sync: {report.summary_line()}", file=sys.stderr)
    if not report.ok:
        failed = report.of("failed")
        print(f"bams3 sync: error: {len(failed)} object(s) failed, first: {failed[0].key}: {failed[0].reason}",
              file=sys.stderr)
        return 1
    return 0


def _run_sync_or_batch(form: str, words: list[str], args: argparse.Namespace) -> int:
    from ..sync import SyncFailedError, SyncPlan, SyncRequest, run_batch, sync

    show = not args.no_progress
    try:
        if form == "sync":
            report = sync(SyncRequest(words[0], words[1], _options(args)), show_progress=show)
        else:
            from ..errors import UsageError
            from ..jsondocs import get_json

            if "index" not in vars(args):
                raise UsageError("bams3 sync batch needs --index K")
            plan = SyncPlan.from_dict(get_json(words[0]))
            request = plan.request_for(args.index, allow_partial_failure=vars(args).get("allow_partial_failure"))
            overrides = {name: vars(args)[name] for name in ("jobs", "dry_run") if name in vars(args)}
            if overrides:
                from dataclasses import replace

                request = replace(request, options=request.options.evolve(**overrides))
            report = run_batch(request, show_progress=show)
    except SyncFailedError as exc:
        _write_report(exc.report, getattr(args, "report", None))
        raise
    return _finish(report, args)


def _run_plan(words: list[str], args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..jsondocs import dump_json, put_json
    from ..sync import PlanRequest, plan
    from ..units import format_bytes, parse_bytes

    if "batch_bytes" not in vars(args) or "output" not in vars(args):
        raise UsageError("bams3 sync plan needs --batch-bytes SIZE and -o PLAN")
    result = plan(PlanRequest(words[0], words[1], parse_bytes(args.batch_bytes), _options(args)))
    if args.output == "-":
        sys.stdout.buffer.write(dump_json(result.to_dict()))
        sys.stdout.flush()
    else:
        put_json(args.output, result.to_dict())
    objects = sum(len(batch.items) for batch in result.batches)
    print(f"bams3 sync plan: {len(result.batches)} batch(es), {objects} object(s), "
          f"{format_bytes(result.total_bytes)} to copy; {result.skipped_count} unchanged "
          f"({format_bytes(result.skipped_bytes)}) -> {args.output}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    form, words = _form(args)
    try:
        if form == "plan":
            return _run_plan(words, args)
        return _run_sync_or_batch(form, words, args)
    finally:
        print_io_stats(args)
