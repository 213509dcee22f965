"""The bams3 DAG of a big cohort, built by ``snakemake -n`` and timed.

:func:`make_workdir` writes a sample sheet of fake samples (``s3://bams3-scale/<sample>.bam``: remote
URLs, so building the DAG asks nothing of them) and, for every sample, a plan with ``shards`` shards
(the real plan model of :mod:`bams3.chunks`, so it passes the plan schema), so that the
``plan_chunks`` checkpoints count as done and a dry run expands every shard job. :func:`measure`
times ``snakemake -n`` there (wall clock, CPU and peak memory of the snakemake process) and checks
that every expected job is listed.

Used by tools/dag-scale.py (the full measurement, 100 to 1000 samples) and by
tests/scale/test_dag_scale.py (one size that keeps the suite fast).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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


def fake_plan(bam_url: str, shards: int) -> dict:
    """A plan (bams3.chunks' own model, so it passes the schema) of ``shards`` shards of 2 M reads each."""
    from bams3.bam.bgzf import VirtualPosition
    from bams3.chunks import ChunkPlan, Shard, ShardSizing

    block = 256 * 1024 * 1024  # compressed bytes per shard, as a 30x genome is cut by default
    plan = ChunkPlan(
        bam_url=bam_url,
        bam_size=block * shards,
        bam_etag=None,
        index_url=None,
        index_format=None,
        method="scan",
        chunk_size=CHUNK_SIZE,
        sizing=ShardSizing(reads=READS_PER_SHARD, bytes=block),
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


#: a cohort query over every sample's dataset (workflow/rules/cohort.smk), for --cohort
COHORT_CONFIG = {"activate": True, "regions": ["chr1:1,000,001-2,000,000", "chr1:50,000,001-50,100,000"]}


def make_workdir(workdir: Path, samples: int, shards: int, *, cohort: bool = False) -> Path:
    """Sheet, config and one plan per sample under ``workdir``; returns the config file.

    The config switches on what a cohort run makes for every sample (chunk statistics, datasets,
    the report's figures) and, with ``cohort``, the cohort query over all of them.
    """
    import yaml

    urls = {sample_name(i): f"s3://{BUCKET}/{sample_name(i)}.bam" for i in range(samples)}
    sheet = workdir / "samples.tsv"
    sheet.write_text("sample\tbam\tindex\n" + "".join(f"{name}\t{url}\t\n" for name, url in urls.items()))
    template = fake_plan("s3://bucket/template.bam", shards)
    for name, url in urls.items():
        plan_path = workdir / "results" / "chunks" / name / "plan.json"
        plan_path.parent.mkdir(parents=True, exist_ok=True)
        plan_path.write_text(json.dumps({**template, "bam": {**template["bam"], "url": url}}))
    config = {"samples": str(sheet), "chunks": {"activate": True, "shard_reads": READS_PER_SHARD},
              "dataset": {"activate": True}}
    if cohort:
        config["cohort"] = COHORT_CONFIG
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


def measure(samples: int, shards: int, *extra: str, cohort: bool = False, workdir: Path | None = None) -> DryRun:
    """Make the working directory (in ``workdir``, else a temporary one) and time one dry run.

    Raises ``RuntimeError`` when the dry run fails or does not list one job per shard (the plans
    were not read) or lists a plan job (the fabricated plans were not taken as done).
    """
    with tempfile.TemporaryDirectory(prefix="bams3-dag-") as tmp:
        workdir = workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        config = make_workdir(workdir, samples, shards, cohort=cohort)
        run, seconds, cpu, peak = dry_run(workdir, config, *extra)
        if run.returncode != 0:
            raise RuntimeError(f"snakemake -n failed for {samples} samples:\n{run.stderr[-4000:]}")
        jobs = parse_job_stats(run.stdout + run.stderr)
        if jobs.get("chunk_stats") != samples * shards or "plan_chunks" in jobs:
            raise RuntimeError(f"{samples} samples: the dry run did not expand every shard: {jobs}")
        return DryRun(samples, shards, seconds, cpu, peak, jobs)
