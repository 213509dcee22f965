#!/usr/bin/env python3
"""How long Snakemake takes to build the bams3 DAG for a big cohort (``snakemake -n``).

For each cohort size it makes a working directory with a sample sheet of fake samples
(``s3://bams3-scale/<sample>.bam``: remote URLs, so building the DAG asks nothing of them),
and a plan file (the real plan schema, made with :mod:`bams3.chunks`) for every sample with
``--shards`` shards, so that the ``plan_chunks`` checkpoints count as done and the dry run
expands every shard job. It then times ``snakemake -n`` (wall clock and peak memory of the
snakemake process) and checks that the dry run lists every expected job.

    .venv/bin/python tools/dag-scale.py                       # 100 200 500 1000 samples x 10 shards
    .venv/bin/python tools/dag-scale.py --samples 1000 --shards 10 --profile profiles/cluster

Used by tests/scale/test_dag_scale.py at a size that keeps the suite fast.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
BUCKET = "bams3-scale"
READS_PER_SHARD = 2_000_000
CHUNK_SIZE = 1000


@dataclass(frozen=True)
class DryRun:
    """One measured ``snakemake -n``."""

    samples: int
    shards: int
    seconds: float
    cpu_seconds: float
    peak_mb: float
    jobs: dict[str, int]

    def line(self) -> str:
        total = sum(self.jobs.values())
        return (f"{self.samples:>6} samples x {self.shards} shards: {self.seconds:6.1f} s ({self.cpu_seconds:.1f} s CPU), "
                f"{self.peak_mb:5.0f} MB peak, {total} jobs ({', '.join(f'{k} {v}' for k, v in sorted(self.jobs.items()))})")


def sample_name(i: int) -> str:
    return f"S{i:05d}"


def fake_plan(sample: str, shards: int) -> dict:
    """A valid scan plan of ``shards`` shards of READS_PER_SHARD reads each (bams3.chunks' own model)."""
    from bams3.bam.bgzf import VirtualPosition
    from bams3.chunks import ChunkPlan, Shard, ShardSizing

    block = 40_000_000  # compressed bytes per shard: a 30x genome cut into ~256 MiB pieces looks alike
    plan = ChunkPlan(
        bam_url=f"s3://{BUCKET}/{sample}.bam",
        bam_size=block * shards,
        bam_etag=None,
        index_url=None,
        index_format=None,
        method="scan",
        chunk_size=CHUNK_SIZE,
        sizing=ShardSizing(reads=READS_PER_SHARD, bytes=None),
        total_reads=READS_PER_SHARD * shards,
        total_chunks=READS_PER_SHARD * shards // CHUNK_SIZE,
        references=(("chr1", 248_956_422),),
        shards=tuple(
            Shard(start=VirtualPosition(k * block, 0),
                  stop=None if k == shards - 1 else VirtualPosition((k + 1) * block, 0),
                  first=None, end=None, reads=READS_PER_SHARD, estimated_reads=READS_PER_SHARD)
            for k in range(shards)
        ),
    )
    return plan.to_dict()


def make_workdir(workdir: Path, samples: int, shards: int, extra_config: dict | None = None) -> Path:
    """Sheet, config and one plan per sample under ``workdir``; returns the config file."""
    import yaml

    sheet = workdir / "samples.tsv"
    rows = ["sample\tbam\tindex"] + [f"{sample_name(i)}\ts3://{BUCKET}/{sample_name(i)}.bam\t" for i in range(samples)]
    sheet.write_text("\n".join(rows) + "\n")
    template = fake_plan("SAMPLE", shards)
    for i in range(samples):
        name = sample_name(i)
        plan_path = workdir / "results" / "chunks" / name / "plan.json"
        plan_path.parent.mkdir(parents=True, exist_ok=True)
        plan = {**template, "bam": {**template["bam"], "url": f"s3://{BUCKET}/{name}.bam"}}
        plan_path.write_text(json.dumps(plan))
    # every per-sample stage the default target has (the cohort section joins it once its rules exist)
    config = {"samples": str(sheet), "chunks": {"shard_reads": READS_PER_SHARD}, "dataset": {"activate": True},
              **(extra_config or {})}
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return config_path


JOB_LINE = re.compile(r"^(\w+)\s+(\d+)$")


def parse_job_stats(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count} (without the total)."""
    jobs: dict[str, int] = {}
    in_table = False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            in_table, jobs = True, {}
            continue
        if in_table:
            match = JOB_LINE.match(line.strip())
            if match and match.group(1) != "total":
                jobs[match.group(1)] = int(match.group(2))
            elif match:
                in_table = False
    return jobs


def dry_run(workdir: Path, config_path: Path, *extra: str, env: dict[str, str] | None = None,
            timeout: float = 1800) -> tuple[subprocess.CompletedProcess[str], float, float, float]:
    """``snakemake -n`` in ``workdir``: the run, its wall and CPU seconds, and its peak memory (MB).

    CPU seconds say more than wall seconds on a busy machine (other processes only stretch the wall clock).
    """
    command = [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
               "--configfile", str(config_path), "--cores", "2", *extra]
    if not any(arg in ("--profile", "--workflow-profile") for arg in extra):
        command += ["--workflow-profile", "none"]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, cwd=REPO,
                                   env={**os.environ, **(env or {})})
        timer = threading.Timer(timeout, process.kill)  # a hung dry run ends as a failed one
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory, not the whole session's
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        cpu_seconds = usage.ru_utime + usage.ru_stime
        peak_mb = usage.ru_maxrss / 1024
        out.seek(0)
        err.seek(0)
        run = subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
    return run, seconds, cpu_seconds, peak_mb


def measure(samples: int, shards: int, *extra: str, keep: Path | None = None) -> DryRun:
    """Build the working directory and time one dry run; fails if a shard job is missing."""
    with tempfile.TemporaryDirectory(prefix="bams3-dag-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        config = make_workdir(workdir, samples, shards)
        run, seconds, cpu, peak = dry_run(workdir, config, *extra)
        if run.returncode != 0:
            raise SystemExit(f"snakemake -n failed for {samples} samples:\n{run.stderr[-4000:]}")
        jobs = parse_job_stats(run.stdout + run.stderr)
        if jobs.get("chunk_stats") != samples * shards or "plan_chunks" in jobs:
            raise SystemExit(f"{samples} samples: the dry run did not expand every shard: {jobs}")
        return DryRun(samples, shards, seconds, cpu, peak, jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[100, 200, 500, 1000])
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="build the working directory here and keep it (one size only)")
    parser.add_argument("extra", nargs="*", help="more snakemake arguments (after --), e.g. --profile profiles/cluster")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    import snakemake

    print(f"snakemake {snakemake.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} cores; "
          f"extra args: {' '.join(args.extra) or '(none)'}")
    for samples in args.samples:
        print(measure(samples, args.shards, *args.extra, keep=args.keep).line(), flush=True)


if __name__ == "__main__":
    main()
