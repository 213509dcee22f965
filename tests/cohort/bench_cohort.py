"""Benchmark: a synthetic cohort of many small datasets in a loopback S3 server x 20 regions.

Generator and runner in one, callable from bench/ or on its own::

    python -m tests.cohort.bench_cohort                              # 50, 100, 200 samples; jobs 1 and 16
    python -m tests.cohort.bench_cohort --samples 200 --jobs 1,4,16 --latency-ms 20 --json out.jsonl

What it does:

1. starts its own ``moto_server`` on loopback (or uses ``--endpoint``), and optionally a proxy in
   front of it that delays every request by ``--latency-ms`` (:mod:`tests.cohort._latency`; S3
   answers a ranged GET in roughly 10-50 ms, loopback moto in a few, which hides what parallel
   requests buy);
2. writes ``--distinct`` BAMs of different seeds with samtools (tests/helpers/bamgen.py), converts
   each once into S3, and copies those datasets server-side to ``S0000.bams3 ... S0199.bams3``
   (the content repeats, the objects and requests do not);
3. draws ``--regions`` regions (1 kbp to 200 kbp, fixed seed) and checks the cohort's counts of one
   sample against ``samtools view -c`` on its BAM;
4. for every sample count and ``jobs`` value runs :func:`bams3.cohort.run_cohort` over the first N
   samples and prints wall time, requests, requests per (sample, region), bytes read, and bytes
   against downloading every BAM. Listing a prefix is timed separately (one LIST per 1,000 keys).

Everything it writes goes to a temporary directory and to a fresh bucket of its own server.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REFERENCES = (("chr1", 1_000_000), ("chr2", 600_000), ("chrM", 16_569))
BIN_SIZE = 100_000


@dataclass(frozen=True)
class Row:
    samples: int
    regions: int
    jobs: int
    latency_ms: float
    seconds: float
    requests: int
    requests_per_query: float
    bytes_in: int
    whole_bam_bytes: int
    failed: int


def make_regions(n: int, *, seed: int = 5) -> list[Any]:
    """``n`` regions of 1 kbp to 200 kbp on chr1/chr2, reproducible."""
    from bams3.regions import Region

    rng = np.random.default_rng(seed)
    regions = []
    for j in range(n):
        contig, length = REFERENCES[j % 2]
        size = int(rng.integers(1_000, 200_000))
        start = int(rng.integers(0, length - size))
        regions.append(Region(contig, start, start + size, f"r{j:02d}"))
    return regions


def make_cohort(client: Any, bucket: str, workdir: Path, *, samples: int, distinct: int,
                n_pairs: int) -> tuple[list[Any], dict[str, Path]]:
    """Write ``distinct`` BAMs, convert each into S3 once, copy to ``samples`` datasets."""
    from bams3.cohort import CohortSample
    from bams3.dataset import convert
    from tests.helpers.bamgen import write_bam

    templates: dict[str, Path] = {}
    for k in range(distinct):
        bam = write_bam(workdir / f"T{k}.bam", n_pairs=n_pairs, seed=1000 + k, references=REFERENCES,
                        edge_cases=True)
        convert(str(bam), f"s3://{bucket}/templates/T{k}.bams3", bin_size=BIN_SIZE, show_progress=False)
        templates[f"T{k}"] = bam
    keys = {name: [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=f"templates/{name}.bams3/")
                   .get("Contents", [])] for name in templates}

    def copy(i: int) -> None:
        name = f"T{i % distinct}"
        for key in keys[name]:
            target = key.replace(f"templates/{name}.bams3/", f"cohort/S{i:04d}.bams3/", 1)
            client.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(copy, range(samples)))
    cohort = [CohortSample(f"S{i:04d}", f"s3://{bucket}/cohort/S{i:04d}.bams3") for i in range(samples)]
    bams = {f"S{i:04d}": templates[f"T{i % distinct}"] for i in range(samples)}
    return cohort, bams


def run(args: argparse.Namespace) -> list[Row]:
    import pysam

    from bams3.cohort import find_datasets, run_cohort
    from tests.cohort._latency import LatencyProxy
    from tests.helpers.s3server import TEST_CREDENTIALS, S3Server

    sizes = sorted(int(x) for x in args.samples.split(","))
    jobs_list = [int(x) for x in args.jobs.split(",")]
    rows: list[Row] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bams3-bench-cohort-") as tmp:
        stack.enter_context(_environment({**TEST_CREDENTIALS, "AWS_ENDPOINT_URL_S3": None}))
        server = None if args.endpoint else stack.enter_context(S3Server.start())
        endpoint = args.endpoint or server.endpoint_url  # type: ignore[union-attr]
        os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
        if server is not None:
            bucket = server.make_bucket()
            client = server.client()
        else:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint)
            bucket = f"bench-cohort-{int(time.time())}"
            client.create_bucket(Bucket=bucket)
        started = time.monotonic()
        samples, bams = make_cohort(client, bucket, Path(tmp), samples=max(sizes), distinct=args.distinct,
                                    n_pairs=args.pairs)
        print(f"generated {len(samples)} datasets ({args.distinct} distinct BAMs of {args.pairs:,} pairs) "
              f"in {time.monotonic() - started:.1f} s", file=sys.stderr)
        if args.latency_ms:
            proxy = stack.enter_context(LatencyProxy(endpoint, args.latency_ms / 1000))
            os.environ["AWS_ENDPOINT_URL_S3"] = proxy.url
        regions = make_regions(args.regions)

        check = run_cohort(samples[:1], regions, show_progress=False)
        expected = [int(pysam.view("-c", str(bams[samples[0].name]), r.to_samtools())) for r in regions]
        if check.counts[0].tolist() != expected:
            raise SystemExit(f"counts differ from samtools: {check.counts[0].tolist()} != {expected}")

        started = time.monotonic()
        listed = find_datasets(f"s3://{bucket}/cohort/")
        print(f"listing s3://{bucket}/cohort/ found {len(listed)} datasets in {time.monotonic() - started:.2f} s",
              file=sys.stderr)
        for n in sizes:
            for jobs in jobs_list:
                result = run_cohort(samples[:n], regions, jobs=jobs, show_progress=False)
                whole = sum(o.source_size or 0 for o in result.outcomes)
                rows.append(Row(n, len(regions), jobs, args.latency_ms, round(result.seconds, 3), result.io.requests,
                                round(result.io.requests / (n * len(regions)), 3), result.io.bytes_in, whole,
                                len(result.failed)))
                print(_format(rows[-1]), file=sys.stderr)
    return rows


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (None: unset) environment variables for the block, then restore them all."""
    saved = {name: os.environ.get(name) for name in [*values, "AWS_ENDPOINT_URL_S3"]}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _format(row: Row) -> str:
    return (f"| {row.samples:>7} | {row.regions:>7} | {row.jobs:>4} | {row.latency_ms:>7g} | {row.seconds:>8.2f} | "
            f"{row.requests:>8} | {row.requests_per_query:>9.2f} | {row.bytes_in / 2**20:>8.1f} | "
            f"{100 * row.bytes_in / max(row.whole_bam_bytes, 1):>7.2f}% |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", default="50,100,200", help="sample counts to run (default: %(default)s)")
    parser.add_argument("--regions", type=int, default=20, help="regions per run (default: %(default)s)")
    parser.add_argument("--jobs", default="1,16", help="jobs values to run (default: %(default)s)")
    parser.add_argument("--distinct", type=int, default=8, help="distinct BAMs behind the datasets (default: 8)")
    parser.add_argument("--pairs", type=int, default=20_000, help="read pairs per BAM (default: %(default)s)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay added to every request by a proxy, to mimic S3 (default: none)")
    parser.add_argument("--endpoint", help="an S3 endpoint to use instead of starting moto_server")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON lines to FILE")
    args = parser.parse_args(argv)
    rows = run(args)
    print("| samples | regions | jobs | latency | wall (s) | requests | per query | MiB read | of BAMs |")
    print("|--------:|--------:|-----:|--------:|---------:|---------:|----------:|---------:|--------:|")
    for row in rows:
        print(_format(row))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(asdict(row)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
