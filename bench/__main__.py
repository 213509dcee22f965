"""``python -m bench [SUBCOMMAND] [options]``: the benchmark harness's command line.

Subcommands: ``data`` (make or show the cached BAM), ``list``, ``all`` (the default when none is
given; what ``make bench`` runs), and one per benchmark in :mod:`bench.registry`. Exit codes:
0 done, 1 a benchmark failed (a tool crashed or the outputs differed), 2 a tool or verb is missing
or the command line is wrong.
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import registry, report
from .context import Context
from .datagen import DatasetSpec, ensure_dataset
from .datagen.pipeline import DEFAULT_CACHE, DataGenError
from .machine import REPO_ROOT, load_average
from .runner import BenchFailure, BenchUnavailable

DOC = REPO_ROOT / "docs" / "BENCHMARKS.md"
RESULTS = REPO_ROOT / "bench" / "results"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _default_bams3() -> str:
    """The bams3 of the interpreter running the harness (the project's venv), else one on PATH."""
    beside = Path(sys.executable).parent / "bams3"
    if beside.exists():
        return str(beside)
    return shutil.which("bams3") or str(REPO_ROOT / ".venv" / "bin" / "bams3")


def _data_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("data set")
    d = DatasetSpec()
    g.add_argument("--coverage", type=float, default=d.coverage, help="ART fold coverage (default: %(default)g)")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of genome and reads (default: %(default)s)")
    g.add_argument("--dup-rate", type=float, default=d.dup_rate,
                   help="fraction of pairs given a PCR duplicate (default: %(default)g)")
    g.add_argument("--small", action="store_true",
                   help="~30 MB BAM (genome / 10) for smoke runs; results are then not written unless --write")
    g.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where data sets are cached")
    return p


def _run_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("measurement")
    g.add_argument("--repeats", type=int, default=3, metavar="N", help="timed runs per command (default: 3)")
    g.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help="skip the untimed warm-up run of each command")
    g.add_argument("--bams3", default=_default_bams3(), help="bams3 executable (default: %(default)s)")
    g.add_argument("--samtools", default="samtools", help="samtools executable (default: %(default)s)")
    g.add_argument("--wait-for-load", type=float, default=None, metavar="L",
                   help="before each benchmark, wait (up to 15 min) until the 1-minute load average is "
                        "below L: on a shared machine, results with nothing else running")
    g.add_argument("--profile", action="store_true",
                   help="afterwards, run each bams3 command once under cProfile (reports in bench/.cache/scratch/)")
    g.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                   help="write docs/BENCHMARKS.md sections and bench/results/*.json "
                        "(default: yes, except with --small)")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Side-by-side benchmarks of bams3 against samtools on a realistic BAM; results "
                    "go to docs/BENCHMARKS.md (one marked section per benchmark) and bench/results/.",
        epilog="Without a subcommand, runs 'all'. Example: make bench BENCH_ARGS='flagstat --repeats 5'",
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    data, run = _data_options(), _run_options()
    sub.add_parser("data", parents=[data], help="make (or show) the cached benchmark BAM")
    sub.add_parser("list", help="list the benchmarks and whether they are written yet")
    all_ = sub.add_parser("all", parents=[data, run], help="every implemented benchmark, in registry order")
    all_.add_argument("--only", type=lambda s: [n for n in s.split(",") if n], default=None, metavar="A,B",
                      help="run only these benchmarks (comma-separated, registry order, default options)")
    for entry in registry.REGISTRY:
        summary = entry.summary if entry.implemented else f"(planned) {entry.summary}"
        p = sub.add_parser(entry.name, parents=[data, run], help=summary, description=summary)
        if entry.implemented:
            entry.load().add_arguments(p)
    return parser


def _spec(args: argparse.Namespace) -> DatasetSpec:
    return DatasetSpec(coverage=args.coverage, seed=args.seed, small=args.small, dup_rate=args.dup_rate)


def _wait_for_load(limit: float, max_wait_s: float = 900, poll_s: float = 15) -> None:
    """Sleep until the 1-minute load average drops below ``limit`` (or give up and say so)."""
    deadline = time.monotonic() + max_wait_s
    while (load := load_average()[0]) >= limit:
        if time.monotonic() >= deadline:
            _log(f"[bench] load still {load:.2f} after {max_wait_s / 60:.0f} min; measuring anyway")
            return
        _log(f"[bench] load {load:.2f} >= {limit:g}: waiting")
        time.sleep(poll_s)


def _cmd_list() -> int:
    for entry in registry.REGISTRY:
        status = "ready  " if entry.implemented else "planned"
        print(f"{entry.name:10s} {status} {entry.summary}")
    return 0


def _with_defaults(module: registry.BenchmarkModule, args: argparse.Namespace) -> argparse.Namespace:
    """``args`` plus the module's own options at their defaults where ``args`` lacks them (``all``)."""
    own = argparse.ArgumentParser(add_help=False)
    module.add_arguments(own)
    merged = own.parse_args([])
    for key, value in vars(args).items():
        setattr(merged, key, value)
    return merged


def _run_benchmarks(names: Sequence[str], args: argparse.Namespace, invocation: str) -> int:
    write = (not args.small) if args.write is None else args.write
    ctx = Context(
        bams3=args.bams3, samtools=args.samtools, spec=_spec(args), cache_dir=args.cache_dir,
        repeats=args.repeats, warmup=args.warmup, invocation=invocation, log=_log, profile=args.profile,
    )
    done: list[report.BenchResult] = []
    failed: list[str] = []
    code = 0
    for name in names:
        entry = registry.get(name)
        if not entry.implemented:
            _log(f"[bench] {name}: planned, not written yet (see bench/registry.py)")
            code = max(code, 2)
            continue
        module = entry.load()
        _log(f"[bench] === {name}: {module.TITLE}")
        if args.wait_for_load is not None:
            _wait_for_load(args.wait_for_load)
        try:
            result = module.run(ctx, _with_defaults(module, args))
        except BenchUnavailable as exc:
            _log(f"[bench] {name}: UNAVAILABLE: {exc}")
            failed.append(name)
            code = max(code, 2)
            continue
        except BenchFailure as exc:
            _log(f"[bench] {name}: FAILED: {exc}")
            failed.append(name)
            code = 1
            continue
        done.append(result)
        print(report.section(result) + "\n")
        if write:
            report.update_doc(DOC, name, report.section(result))
            path = report.write_json(RESULTS, result)
            _log(f"[bench] {name}: wrote {ctx.rel(DOC)} (section '{name}') and {ctx.rel(path)}")
        else:
            _log(f"[bench] {name}: not written (smoke run; pass --write to record it)")
    for line in report.summary_lines(done):
        _log(f"[bench] {line}")
    if failed:
        _log(f"[bench] failed or unavailable: {', '.join(failed)}")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv or ["all"])
    invocation = shlex.join(["python", "-m", "bench", *(argv or ["all"])])
    try:
        if args.command == "list":
            return _cmd_list()
        if args.command == "data":
            t = time.monotonic()
            dataset = ensure_dataset(_spec(args), args.cache_dir, _log)
            print(dataset.bam)
            _log(f"[data] {time.monotonic() - t:.1f} s")
            return 0
        if args.command == "all":
            names = [e.name for e in registry.REGISTRY if e.implemented]
            if args.only is not None:
                unknown = sorted(set(args.only) - {e.name for e in registry.REGISTRY})
                if unknown:
                    parser.error(f"--only: no benchmark named {', '.join(unknown)} (see python -m bench list)")
                names = [e.name for e in registry.REGISTRY if e.name in args.only]
        else:
            names = [args.command]
        return _run_benchmarks(names, args, invocation)
    except DataGenError as exc:
        _log(f"[data] FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        _log("[bench] interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
