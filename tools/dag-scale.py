#!/usr/bin/env python3
"""How long `snakemake -n` takes to build the bams3 DAG for cohorts of 100 to 1000 samples.

Every sample gets a fabricated plan (tests/scale/dagscale.py), so the dry run lists every shard job,
as a rerun of a planned cohort does. Prints wall and CPU seconds (CPU is what to compare on a busy
machine), peak memory and the jobs per rule.

    .venv/bin/python tools/dag-scale.py                              # 100 200 500 1000 samples x 10 shards
    .venv/bin/python tools/dag-scale.py --samples 1000 --cohort      # with the cohort query (rules/cohort.smk)
    .venv/bin/python tools/dag-scale.py --samples 200 -- --profile profiles/cluster   # as the cluster sees it
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.scale.dagscale import measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[100, 200, 500, 1000])
    parser.add_argument("--shards", type=int, default=10, help="shards per sample (default 10)")
    parser.add_argument("--cohort", action="store_true", help="also query every dataset as a cohort")
    parser.add_argument("--keep", type=Path, help="make the working directory here and keep it (one size only)")
    parser.add_argument("extra", nargs="*", help="more snakemake arguments, after --")
    args = parser.parse_args()
    if args.keep and len(args.samples) > 1:
        parser.error("--keep takes one --samples value")
    import snakemake

    print(f"snakemake {snakemake.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; snakemake arguments: {' '.join(args.extra) or '(none)'}", flush=True)
    for samples in args.samples:
        print(measure(samples, args.shards, *args.extra, cohort=args.cohort, workdir=args.keep).line(), flush=True)


if __name__ == "__main__":
    main()
