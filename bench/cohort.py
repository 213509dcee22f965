"""cohort: ``bams3 cohort`` over a synthetic cohort in S3 x 20 regions, against a loop of ``samtools view -c``.

What is measured: the wall time of the real command line, as a user runs it,

    bams3 cohort -f datasets-N.tsv -R regions.bed -o OUT --jobs 1|16

over the first N = 50, 100 and 200 datasets ``s3://bench-cohort/cohort/S0000.bams3 ...`` of a loopback
S3 server (``moto_server``, tests/helpers/s3server.py) and 20 regions of 1-200 kbp; and how that time
grows with N (it should be linear: a fixed start-up cost plus a flat cost per sample).

The anchor is what users do today without bams3: one ``samtools view -c s3+http://.../Sxxxx.bam REGION``
per (sample, region), htslib finding the ``.bai`` next to the BAM in the same bucket, run in parallel by
``xargs -P J`` from a generated list of (sample, label, region) and a three-line script that prints
``SAMPLE<TAB>LABEL<TAB>COUNT``. Every one of those N x 20 counts must equal the ``count`` of bams3's
long table (table.tsv) on every run, or the benchmark fails.

Why the anchor runs at ``-P 16`` only (``--anchor-jobs``): 200 x 20 = 4,000 samtools processes take
about as long at ``-P 1`` as at ``-P 16`` against loopback moto (about 27 ms each in a trial on a quiet
machine while this module was written: the server's CPU, not the wait, bounds both), so a second anchor
would double the anchor's share of the time budget and show nothing. With ``--latency-ms`` (below)
parallelism matters, and ``--anchor-jobs 1`` makes the comparison at one job.

The data: ``--distinct`` BAMs of different seeds (tests/helpers/bamgen.py, every edge case, 2 x 150 bp
pairs on a 1.6 Mbp genome) are written with samtools, indexed and converted once (``bams3 convert
--chunk-size 100K``); the BAMs, their ``.bai`` and the datasets are uploaded once and copied server-side
to S0000..S0199 (the content repeats; objects, requests and bytes do not). Everything is regenerated on
each run (under a minute), into ``bench/.cache/scratch/cohort/``.

Counted on the side (``extra`` in the JSON): bams3's requests per (sample, region) and bytes read
against downloading every BAM whole, from each measured run's own summary.json (the accounting behind
``--io-stats``); and, through the counting proxy (tests/helpers/faultproxy.py), the requests both tools
send for the first few samples, so samtools' requests per (sample, region) are known too.

``--latency-ms MS`` (off by default) puts a proxy (bench/latency.py) that delays every request by MS
in front of moto for both tools' timed runs: real S3 answers in 10-50 ms, which is what ``--jobs 16``
and ``xargs -P 16`` are for; loopback moto answers in a few ms of CPU. Every request then costs MS more,
so use it with fewer samples (``--samples 50``).

Time budget: a full pass over the three sample counts costs about 6 minutes on this project's 2-core
machines (moto answered ~250 requests/s in trials), so this benchmark runs no warm-up (there is nothing
to warm: the objects live in the server's memory and bams3 keeps no cache) and at most ``--max-repeats``
(2) timed runs, whatever ``--repeats`` says; the section's method line states the count actually run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

from .context import Context
from .counting import counted_run, loopback_s3_helpers
from .machine import REPO_ROOT
from .report import BenchResult
from .runner import BenchFailure, BenchUnavailable, Case, Command, child_env

NAME = "cohort"
TITLE = "cohort: many samples x 20 regions in S3, bams3 cohort vs a loop of samtools view -c"
BUCKET = "bench-cohort"
#: the synthetic genome of every cohort BAM: two contigs the regions fall on, and chrM
REFERENCES: tuple[tuple[str, int], ...] = (("chr1", 1_000_000), ("chr2", 600_000), ("chrM", 16_569))
#: dataset bin (``bams3 convert --chunk-size``): 16 bins on this genome, as 1 Mbp bins are on a human one
CHUNK_SIZE = "100K"
#: samples whose requests are counted through the proxy (both tools, one run each)
COUNTED_SAMPLES = 5
REGION_SEED = 5


# ----------------------------------------------------------------------------------------- generator


@dataclass(frozen=True)
class Region:
    """One region: ``start`` 0-based, ``end`` exclusive (BED); ``name`` is its label in both outputs."""

    name: str
    contig: str
    start: int
    end: int

    @property
    def samtools(self) -> str:
        """The same region in samtools' 1-based inclusive syntax."""
        return f"{self.contig}:{self.start + 1}-{self.end}"

    def bed(self) -> str:
        return f"{self.contig}\t{self.start}\t{self.end}\t{self.name}\n"


def make_regions(n: int, *, seed: int = REGION_SEED) -> list[Region]:
    """``n`` regions of 1 kbp to 200 kbp, alternating chr1 and chr2, the same for a given seed."""
    rng = Random(seed)
    regions = []
    for j in range(n):
        contig, length = REFERENCES[j % 2]
        size = rng.randrange(1_000, 200_000)
        start = rng.randrange(0, length - size)
        regions.append(Region(f"r{j:02d}", contig, start, start + size))
    return regions


def genome_fraction(regions: Iterable[Region]) -> float:
    """Share of the genome's bases inside at least one region (what bounds the bytes a query reads)."""
    covered = 0
    by_contig: dict[str, list[tuple[int, int]]] = {}
    for r in regions:
        by_contig.setdefault(r.contig, []).append((r.start, r.end))
    for spans in by_contig.values():
        end = -1
        for s, e in sorted(spans):
            if e > end:
                covered += e - max(s, end)
                end = e
    return covered / sum(length for _, length in REFERENCES)


def sample_name(i: int) -> str:
    return f"S{i:04d}"


@dataclass(frozen=True)
class Template:
    """One distinct BAM (indexed) and its dataset, on local disk."""

    name: str
    bam: Path
    dataset: Path


def write_templates(directory: Path, *, distinct: int, pairs: int, bams3: str,
                    log: Callable[[str], None] = lambda _: None) -> list[Template]:
    """``distinct`` BAMs of different seeds (samtools writes and indexes them), each converted once."""
    from tests.helpers.bamgen import write_bam

    directory.mkdir(parents=True, exist_ok=True)
    templates = []
    for k in range(distinct):
        bam = write_bam(directory / f"T{k}.bam", n_pairs=pairs, seed=1000 + k, references=REFERENCES,
                        edge_cases=True)
        dataset = directory / f"T{k}.bams3"
        done = subprocess.run([bams3, "convert", str(bam), str(dataset), "--chunk-size", CHUNK_SIZE, "--overwrite",
                               "--no-progress"], cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchFailure(f"bams3 convert {bam} failed: {done.stderr.strip()[-500:]}")
        templates.append(Template(f"T{k}", bam, dataset))
        log(f"[bench]   template T{k}: {bam.stat().st_size / 1e6:.1f} MB BAM")
    return templates


def _files(dataset: Path) -> list[Path]:
    return sorted(p for p in dataset.rglob("*") if p.is_file())


def populate(client: Any, bucket: str, templates: Sequence[Template], samples: int) -> list[str]:
    """Upload each template once under ``templates/``, then copy it server-side to ``cohort/<Sxxxx>``:
    ``.bam``, ``.bam.bai`` and ``.bams3/`` for sample i from template i mod len(templates)."""
    keys: dict[str, list[tuple[str, str]]] = {}
    for t in templates:
        pairs = [(f"templates/{t.name}.bam", ".bam"), (f"templates/{t.name}.bam.bai", ".bam.bai")]
        client.upload_file(str(t.bam), bucket, pairs[0][0])
        client.upload_file(str(t.bam) + ".bai", bucket, pairs[1][0])
        for p in _files(t.dataset):
            rel = p.relative_to(t.dataset).as_posix()
            client.upload_file(str(p), bucket, f"templates/{t.name}.bams3/{rel}")
            pairs.append((f"templates/{t.name}.bams3/{rel}", f".bams3/{rel}"))
        keys[t.name] = pairs

    def copy(i: int) -> None:
        for source, suffix in keys[templates[i % len(templates)].name]:
            client.copy_object(Bucket=bucket, Key=f"cohort/{sample_name(i)}{suffix}",
                               CopySource={"Bucket": bucket, "Key": source})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(copy, range(samples)))
    return [sample_name(i) for i in range(samples)]


#: one (sample, region) of the anchor: what a user's loop over a cohort runs today
ANCHOR_SCRIPT = """\
#!/bin/sh
# one (sample, region): $1 sample, $2 region label, $3 region (samtools syntax); prints SAMPLE LABEL COUNT.
# htslib saves each downloaded .bai in its working directory and reuses it (the bench empties that
# folder before every run: each run starts cold, as bams3 does).
cd {hts_dir} || exit 255
n=$({samtools} view -c "s3+http://{bucket}/cohort/$1.bam" "$3") || exit 255
printf '%s\\t%s\\t%s\\n' "$1" "$2" "$n"
"""


def anchor_script(*, samtools: str, bucket: str, hts_dir: Path) -> str:
    """The script ``xargs`` runs once per (sample, region); a failed samtools stops xargs (exit 255)."""
    return ANCHOR_SCRIPT.format(samtools=shlex.quote(samtools), bucket=bucket, hts_dir=shlex.quote(str(hts_dir)))


def anchor_args(samples: Sequence[str], regions: Sequence[Region]) -> str:
    """The argument list ``xargs -n 3`` reads: sample-major, as a user's nested loop would go."""
    return "".join(f"{s} {r.name} {r.samtools}\n" for s in samples for r in regions)


def dataset_list(samples: Sequence[str], bucket: str) -> str:
    """``bams3 cohort -f``'s input: SAMPLE<TAB>URL per line."""
    return "".join(f"{s}\ts3://{bucket}/cohort/{s}.bams3\n" for s in samples)


# ----------------------------------------------------------------------------------------- the check


def _parse_anchor(text: str) -> tuple[dict[tuple[str, str], int], list[str]]:
    counts: dict[tuple[str, str], int] = {}
    problems = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 3 or not fields[2].isdigit():
            problems.append(f"anchor line {line!r} is not SAMPLE<TAB>LABEL<TAB>COUNT")
            continue
        key = (fields[0], fields[1])
        if key in counts:
            problems.append(f"anchor counted {key} twice")
        counts[key] = int(fields[2])
    return counts, problems


def _parse_table(text: str) -> tuple[dict[tuple[str, str], int], list[str]]:
    lines = text.splitlines()
    if not lines:
        return {}, ["table.tsv is empty"]
    head = lines[0].split("\t")
    try:
        s, r, c = head.index("sample"), head.index("region"), head.index("count")
    except ValueError:
        return {}, [f"table.tsv has no sample/region/count columns: {head}"]
    counts: dict[tuple[str, str], int] = {}
    problems = []
    for line in lines[1:]:
        fields = line.split("\t")
        key = (fields[s], fields[r])
        if key in counts:
            problems.append(f"table.tsv holds {key} twice")
        counts[key] = int(fields[c])
    return counts, problems


def compare_counts(anchor_text: str, table_text: str, expected_cells: int) -> str | None:
    """None when the anchor's N x M lines and bams3's table.tsv hold the same count for every (sample,
    region), else what differs (a few examples of each kind)."""
    anchor, problems = _parse_anchor(anchor_text)
    table, more = _parse_table(table_text)
    problems += more
    if len(anchor) != expected_cells:
        problems.append(f"the anchor printed {len(anchor)} counts, expected {expected_cells}")
    missing = sorted(set(anchor) - set(table))
    extra = sorted(set(table) - set(anchor))
    differ = sorted(k for k in set(anchor) & set(table) if anchor[k] != table[k])
    if missing:
        problems.append(f"{len(missing)} (sample, region) missing from table.tsv, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} (sample, region) in table.tsv but not from samtools, e.g. {extra[:3]}")
    if differ:
        problems.append(f"{len(differ)} counts differ, e.g. "
                        + ", ".join(f"{k}: samtools {anchor[k]}, bams3 {table[k]}" for k in differ[:3]))
    return "; ".join(problems) or None


def table_check(outdirs: dict[str, Path], expected_cells: int) -> Callable[[Path, Path], str | None]:
    """The case's output check: the candidate's stdout is bams3's summary, its counts are in
    ``<outdir>/table.tsv``; the runner names a candidate's stdout ``...cmd<j>.out`` (j = 1, 2, ...),
    ``outdirs`` maps ``cmd<j>`` to its output folder."""
    def check(anchor_out: Path, candidate_out: Path) -> str | None:
        slot = "cmd" + candidate_out.stem.rsplit("cmd", 1)[1]
        table = outdirs[slot] / "table.tsv"
        try:
            table_text = table.read_text()
        except OSError as exc:
            return f"no table.tsv from bams3: {exc}"
        return compare_counts(anchor_out.read_text(), table_text, expected_cells)
    return check


# ----------------------------------------------------------------------------------------- numbers


def linear_fit(points: Sequence[tuple[float, float]]) -> dict[str, float] | None:
    """Least squares ``seconds = fixed + per_sample * samples`` and its r² (None under 2 points)."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    slope = sxy / sxx
    fixed = my - slope * mx
    ss_tot = sum((y - my) ** 2 for _, y in points)
    ss_res = sum((y - fixed - slope * x) ** 2 for x, y in points)
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"fixed_s": round(fixed, 3), "per_sample_s": round(slope, 5), "r2": round(r2, 4)}


def _int_list(text: str) -> list[int]:
    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, not {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, not {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("cohort")
    g.add_argument("--samples", type=_int_list, default=[50, 100, 200], metavar="N,N",
                   help="sample counts, one case each (default: 50,100,200)")
    g.add_argument("--jobs", type=_int_list, default=[1, 16], metavar="J,J",
                   help="bams3 cohort --jobs values, one row each (default: 1,16)")
    g.add_argument("--anchor-jobs", type=int, default=16, metavar="J",
                   help="xargs -P for the samtools loop (default: %(default)s; see the module docstring)")
    g.add_argument("--regions", type=int, default=20, help="regions per query (default: %(default)s)")
    g.add_argument("--distinct", type=int, default=8, help="distinct BAMs behind the datasets (default: %(default)s)")
    g.add_argument("--pairs", type=int, default=20_000, help="read pairs per BAM (default: %(default)s)")
    g.add_argument("--latency-ms", type=float, default=0.0,
                   help="delay every request of the timed runs by this much with a proxy, as S3 would "
                        "(default: none; use with --samples 50)")
    g.add_argument("--max-repeats", type=int, default=2, metavar="N",
                   help="timed runs per command at most, whatever --repeats says (default: %(default)s: a "
                        "full pass takes ~6 min)")
    g.add_argument("--with-warmup", action="store_true",
                   help="also run the harness's untimed warm-up pass (default: none, nothing to warm)")


@dataclass
class _Setup:
    """Paths and commands of one run, kept for the counted runs and the report."""

    scratch: Path
    rel: Path
    regions: list[Region]
    samples: list[str]
    hts_dir: Path
    script: Path
    outdirs: dict[tuple[int, int], Path] = dataclasses.field(default_factory=dict)


def _reset_dir(path: Path) -> Callable[[], None]:
    def reset() -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    return reset


def _remove(path: Path) -> Callable[[], None]:
    return lambda: shutil.rmtree(path, ignore_errors=True)


def _envs(endpoint: str, credentials: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of bams3 (AWS endpoint variables) and of htslib (``HTS_S3_HOST``, path style)."""
    b_env = {**credentials, "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ENDPOINT_URL": endpoint}
    s_env = {**credentials, "HTS_S3_HOST": endpoint.removeprefix("http://"), "HTS_S3_ADDRESS_STYLE": "path"}
    return b_env, s_env


def _anchor(s: _Setup, n: int, jobs: int, env: dict[str, str]) -> Command:
    args = s.rel / f"anchor-{n}.args"
    argv = ("xargs", "-a", str(args), "-P", str(jobs), "-n", "3", "sh", str(s.rel / "count.sh"))
    return Command(f"xargs -P {jobs} samtools view -c", argv, "samtools", threads=jobs, env=env,
                   prepare=_reset_dir(s.hts_dir))


def _bams3(ctx: Context, s: _Setup, n: int, jobs: int, out: Path, env: dict[str, str],
           extra: Sequence[str] = ()) -> Command:
    argv = (ctx.rel(ctx.bams3), "cohort", "-f", str(s.rel / f"datasets-{n}.tsv"), "-R", str(s.rel / "regions.bed"),
            "-o", ctx.rel(out), "--jobs", str(jobs), "--no-progress", *extra)
    return Command(f"bams3 cohort --jobs {jobs}", argv, "bams3", threads=jobs, env=env, prepare=_remove(out))


def run(ctx: Context, args: argparse.Namespace) -> BenchResult:
    ctx.require_verb("cohort")
    if shutil.which("xargs") is None:
        raise BenchUnavailable("xargs (GNU findutils) is missing")
    FaultProxy, S3Server, TEST_CREDENTIALS = loopback_s3_helpers()
    from .latency import LatencyProxy

    sizes: list[int] = args.samples
    repeats = max(1, min(ctx.repeats, args.max_repeats))
    run_ctx = dataclasses.replace(ctx, repeats=repeats, warmup=ctx.warmup and args.with_warmup)
    scratch = ctx.scratch / NAME
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    s = _Setup(scratch=scratch, rel=Path(ctx.rel(scratch)), regions=make_regions(args.regions),
               samples=[], hts_dir=scratch / "htslib-cwd", script=scratch / "count.sh")

    started = time.perf_counter()
    templates = write_templates(scratch / "templates", distinct=args.distinct, pairs=args.pairs, bams3=ctx.bams3,
                                log=ctx.log)
    bam_bytes = [t.bam.stat().st_size for t in templates]
    with ExitStack() as stack:
        server = stack.enter_context(S3Server.start())
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        t = time.perf_counter()
        s.samples = populate(client, BUCKET, templates, max(sizes))
        ctx.log(f"[bench]   {len(s.samples)} samples (BAM + .bai + dataset each) in the server in "
                f"{time.perf_counter() - t:.1f} s; setup {time.perf_counter() - started:.1f} s")
        (scratch / "regions.bed").write_text("".join(r.bed() for r in s.regions))
        s.script.write_text(anchor_script(samtools=ctx.samtools, bucket=BUCKET, hts_dir=s.hts_dir))
        for n in sorted({*sizes, min(COUNTED_SAMPLES, *sizes)}):
            (scratch / f"datasets-{n}.tsv").write_text(dataset_list(s.samples[:n], BUCKET))
            (scratch / f"anchor-{n}.args").write_text(anchor_args(s.samples[:n], s.regions))

        # requests counted through the proxy, for the first few samples, one run per tool
        counter = stack.enter_context(FaultProxy(server.endpoint_url))
        k = min(COUNTED_SAMPLES, *sizes)
        cb_env, cs_env = _envs(counter.url, TEST_CREDENTIALS)
        counted_out = scratch / "counted-out"
        b_row = counted_run(_bams3(ctx, s, k, 16, counted_out, cb_env), counter).row()
        s_run = counted_run(_anchor(s, k, 1, cs_env), counter)
        s_row = s_run.row()
        problem = compare_counts(s_run.stdout.decode(errors="replace"), (counted_out / "table.tsv").read_text(),
                                 k * len(s.regions))
        if problem:
            raise BenchFailure(f"counted runs disagree: {problem}")
        queries = k * len(s.regions)
        counted = {"samples": k, "regions": len(s.regions), "queries": queries, "bams3 --jobs 16": b_row,
                   "samtools (xargs -P 1)": s_row}
        for label, row in (("bams3", b_row), ("samtools", s_row)):
            ctx.log(f"[bench]   counted {label}: {row['requests']} requests "
                    f"({row['requests'] / queries:.2f} per sample and region), {row['bytes'] / 1e6:.1f} MB")

        # the timed runs: straight to the server, or through the latency proxy
        endpoint = server.endpoint_url
        if args.latency_ms > 0:
            endpoint = stack.enter_context(LatencyProxy(server.endpoint_url, args.latency_ms / 1000)).url
        b_env, s_env = _envs(endpoint, TEST_CREDENTIALS)
        cases = []
        for n in sizes:
            outdirs: dict[str, Path] = {}
            candidates = []
            for j, jobs in enumerate(args.jobs, start=1):
                out = scratch / f"out-{n}-j{jobs}"
                s.outdirs[(n, jobs)] = out
                outdirs[f"cmd{j}"] = out
                candidates.append(_bams3(ctx, s, n, jobs, out, b_env))
            cases.append(Case(f"{n} samples", anchor=_anchor(s, n, args.anchor_jobs, s_env),
                              candidates=tuple(candidates), check=table_check(outdirs, n * len(s.regions))))
        result = run_ctx.measure(NAME, TITLE, cases, data=_describe(args, s, bam_bytes))

    _report(result, ctx, args, s, counted, bam_bytes, repeats)
    return result


def _describe(args: argparse.Namespace, s: _Setup, bam_bytes: Sequence[int]) -> str:
    """The section's data line: what the cohort is made of."""
    return (
        f"synthetic cohort in a loopback `moto_server`: {len(s.samples)} samples `s3://{BUCKET}/cohort/S0000..` "
        f"(BAM + `.bai` + BAMS3 dataset, `--chunk-size {CHUNK_SIZE}`), copies of {args.distinct} distinct BAMs of "
        f"{args.pairs:,} pairs (tests/helpers/bamgen.py, {sum(bam_bytes) / len(bam_bytes) / 1e6:.1f} MB each, "
        f"genome {sum(x for _, x in REFERENCES) / 1e6:.1f} Mbp); {len(s.regions)} regions of 1-200 kbp "
        f"(seed {REGION_SEED}) covering {100 * genome_fraction(s.regions):.0f}% of the genome"
        + (f"; every request delayed {args.latency_ms:g} ms by a proxy" if args.latency_ms > 0 else "")
    )


def _report(result: BenchResult, ctx: Context, args: argparse.Namespace, s: _Setup, counted: dict[str, Any],
            bam_bytes: list[int], repeats: int) -> None:
    """Numbers for ``extra``, the notes that say how to read the table, and the data line."""
    m = len(s.regions)
    fraction = genome_fraction(s.regions)
    bams3_rows: list[dict[str, Any]] = []
    timings: dict[str, list[tuple[int, float]]] = {}
    for case in result.cases:
        n = int(case.case.name.split()[0])
        for meas in case.measured:
            timings.setdefault(meas.command.label, []).append((n, meas.median_s))
            if meas.command.tool != "bams3":
                continue
            jobs = int(meas.command.argv[meas.command.argv.index("--jobs") + 1])
            summary = json.loads((s.outdirs[(n, jobs)] / "summary.json").read_text())
            cost = summary["cost"]
            bams3_rows.append({
                "samples": n, "jobs": jobs, "median_s": round(meas.median_s, 3),
                "per_sample_s": round(meas.median_s / n, 4), "requests": cost["requests"],
                "requests_per_query": cost["requests_per_query"], "bytes_in": cost["bytes_in"],
                "whole_bam_bytes": cost["whole_bam_download"]["bytes"],
                "fraction_of_whole_bams": cost["fraction_of_whole_bam_download"],
            })
    fits = {label: linear_fit(points) for label, points in timings.items()}
    result.extra.update({
        "samples": args.samples, "regions": m, "bams3_jobs": args.jobs, "anchor_jobs": args.anchor_jobs,
        "distinct_bams": args.distinct, "pairs_per_bam": args.pairs, "bam_bytes": bam_bytes,
        "latency_ms": args.latency_ms, "regions_genome_fraction": round(fraction, 4),
        "bams3": bams3_rows,
        "per_sample_s": {label: {str(n): round(t / n, 4) for n, t in points} for label, points in timings.items()},
        "linear_fit": fits, "counted": counted,
    })
    sizes = sorted({n for points in timings.values() for n, _ in points})
    lines = ["How time grows with the cohort: median seconds per sample, and a least-squares fit "
             "`seconds = fixed + per sample x samples` over the cases (r² near 1: linear).", "",
             "| command | " + " | ".join(f"s/sample at {n}" for n in sizes) + " | fixed s | s per sample | r² |",
             "|---|" + "---:|" * (len(sizes) + 3)]
    for label, points in timings.items():
        per = dict(points)
        fit = fits[label]
        cells = [f"{per[n] / n:.4f}" if n in per else "" for n in sizes]
        tail = [f"{fit['fixed_s']:.2f}", f"{fit['per_sample_s']:.4f}", f"{fit['r2']:.3f}"] if fit else ["", "", ""]
        lines.append(f"| `{label}` | " + " | ".join(cells + tail) + " |")
    linearity = "\n".join(lines)

    lines = ["Requests and bytes. bams3, every measured run (from its summary.json, the accounting behind "
             "`--io-stats`): requests per (sample, region) and MB read, against downloading every BAM whole:", "",
             "| samples | `--jobs` | requests | per (sample, region) | MB read | MB of whole BAMs | share |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['samples']} | {r['jobs']} | {r['requests']:,} | {r['requests_per_query']:.2f} | "
              f"{r['bytes_in'] / 1e6:,.1f} | {r['whole_bam_bytes'] / 1e6:,.1f} | "
              f"{100 * (r['fraction_of_whole_bams'] or 0):.1f}% |" for r in bams3_rows]
    k, q = counted["samples"], counted["queries"]
    b_row, s_row = counted["bams3 --jobs 16"], counted["samtools (xargs -P 1)"]
    lines += ["", f"Both tools through the counting proxy, first {k} samples x {m} regions ({q} queries, one run "
              "each). htslib fetches a sample's `.bai` once and reuses its saved copy for the other regions. MB is "
              "what the proxy handed to each client's socket: htslib closes its unranged GETs of the whole BAM "
              "once it has the header, but what sat in the socket buffers by then (hundreds of KB, a large part "
              "of these 4 MB BAMs) is charged too:", "",
              "| command | requests | per (sample, region) | MB sent | requests by kind |",
              "|---|---:|---:|---:|---|"]
    for label, row in (("bams3 cohort --jobs 16", b_row), ("samtools view -c loop (xargs -P 1)", s_row)):
        kinds = ", ".join(f"{kind} {c}" for kind, c in sorted(row["by_kind"].items()))
        lines.append(f"| `{label}` | {row['requests']:,} | {row['requests'] / q:.2f} | "
                     f"{row['bytes'] / 1e6:,.1f} | {kinds} |")
    requests = "\n".join(lines)

    anchor_cmd = f"xargs -a anchor-N.args -P {args.anchor_jobs} -n 3 sh count.sh"
    result.notes[:0] = [
        "Ratios are the bams3 median over the anchor's median in the same case: below 1.00 bams3 is faster. "
        f"Case \"N samples\" queries the first N datasets x {m} regions. The anchor, `{anchor_cmd}`, runs one "
        f"`samtools view -c s3+http://{BUCKET}/cohort/Sxxxx.bam REGION` per (sample, region), N x {m} processes, "
        "from `count.sh` (its text is `bench.cohort.ANCHOR_SCRIPT`); on every run each of its counts must equal "
        "the `count` of bams3's table.tsv for that (sample, region).",
        f"{repeats} timed run{'s' if repeats != 1 else ''} per command and no warm-up, whatever `--repeats` says "
        f"(`--max-repeats`, `--with-warmup`): one pass over every case takes minutes, and there is nothing to "
        "warm (objects live in the server's memory; bams3 keeps no cache; htslib's saved `.bai` copies are "
        "removed before every anchor run, bams3's output folder before every bams3 run).",
        "What bounds these times is the loopback server: moto spends a few ms of CPU per request on the same "
        "2 cores as the tools, so `--jobs 16` (and `xargs -P 16`) buy little here. Real S3 takes 10-50 ms per "
        "request and serves many at once, which is what `--jobs` is for: `python -m bench cohort --samples 50 "
        "--latency-ms 20` delays every request by a proxy to show it. The per-(sample, region) request counts "
        "below are what carries over to S3.",
        linearity,
        requests,
        f"The regions cover {100 * fraction:.0f}% of this small genome: bams3 counts the bins wholly inside a "
        "region from the dataset's metadata and reads only the frames at region edges, so the share of the "
        "data it reads stays small even when the regions are large.",
    ]
