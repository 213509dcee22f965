"""dataset: the BAMS3 dataset format (issue 4) against what samtools does with a BAM.

Five parts, one section:

(c) conversion time: ``bams3 convert BAM DIR --workers 1`` and ``--workers 2`` (format 1) against
    ``samtools view -b -o out.bam BAM`` (a full decode + re-encode, the nearest samtools job), and
    ``bams3 convert --format 2`` against ``samtools view -C`` CRAM 3.1 without a reference;
(d) sizes of those outputs against the BAM;
(e) full decode: ``bams3 to-bam`` of the whole format 2 dataset against the format 1 one (the
    anchor), both at BGZF level 1 so that decoding, not deflate, is most of the time; the two BAMs must
    be byte-identical;
(a) region queries over a loopback S3 server (``moto_server``) through a counting proxy
    (``tests/helpers/faultproxy.py``): ``bams3 query s3://bucket/x.bams3 REGION [--count]`` (format 1)
    and ``s3://bucket/x2.bams3`` (format 2) against ``samtools view [-c] s3+http://bucket/x.bam REGION``
    (the .bai uploaded next to the BAM). Wall time from the interleaved timed runs; requests and bytes
    delivered from one extra counted run each; outputs (counts, and the SAM records) must be
    byte-identical. Issue 12 asks that a format 2 ``--count`` over 1 kbp reads at most 20 KB of chunk
    data (bytes beyond the ``_metadata.json`` GET): the note reports it;
(b) ``bams3 stats s3://...``: requests (must be 1: only ``_metadata.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

from .context import Context
from .counting import counted_run, loopback_s3_helpers
from .machine import REPO_ROOT
from .report import BenchResult
from .runner import Case, Command

NAME = "dataset"
TITLE = "dataset: BAMS3 conversion, size, and region queries over S3"
BUCKET = "bench"
REGIONS = (
    ("1 kbp", "chr1:10000001-10001000"),
    ("100 kbp", "chr1:12000001-12100000"),
    ("1 Mbp", "chr1:15000001-16000000"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parts", default="cdeab",
                        help="which parts to run: c convert, d format 2 / CRAM, e full decode v2 vs v1, a queries, "
                             "b stats (default: cdeab)")


def _dataset_check(out_dir: Path, records: int):
    def check(_anchor: Path, _candidate: Path) -> str | None:
        try:
            totals = json.loads((REPO_ROOT / out_dir / "_metadata.json").read_text())["totals"]
        except (OSError, ValueError, KeyError) as exc:
            return f"no committed dataset in {out_dir}: {exc}"
        if totals.get("records") != records:
            return f"dataset holds {totals.get('records')} records, the BAM {records}"
        return None
    return check


def _same_files(a: Path, b: Path):
    def check(_anchor: Path, _candidate: Path) -> str | None:
        import filecmp

        try:
            if not filecmp.cmp(REPO_ROOT / a, REPO_ROOT / b, shallow=False):
                return f"{b} differs from {a}"
        except OSError as exc:
            return f"cannot compare {a} and {b}: {exc}"
        return None
    return check


def _fresh_dataset(ctx: Context, bam_path: Path, out: Path, fmt: int) -> None:
    """Convert once, untimed, with the bams3 under test (a dataset left by an earlier run may have been
    written by an older bams3): the datasets that parts e, a and b read."""
    ctx.log(f"[bench]   converting once (format {fmt}) for the decode and S3 parts")
    subprocess.run([ctx.bams3, "convert", str(bam_path), str(out), "--format", str(fmt), "--overwrite",
                    "--no-progress"], cwd=REPO_ROOT, check=True)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(ctx: Context, args: argparse.Namespace) -> BenchResult:
    for verb in ("convert", "query", "stats"):
        ctx.require_verb(verb)
    ds = ctx.dataset()
    bam_path = ds.bam
    bam = ctx.rel(bam_path)
    records = ds.manifest["reads"]
    bams3 = ctx.rel(ctx.bams3)
    scratch = ctx.scratch / NAME
    scratch.mkdir(parents=True, exist_ok=True)
    rel_scratch = Path(ctx.rel(scratch))
    cases: list[Case] = []
    notes: list[str] = []
    extra: dict = {}

    if "c" in args.parts:
        out_bam = rel_scratch / "view-b.bam"
        anchor = Command("samtools view -b", (ctx.samtools, "view", "-b", "-o", str(out_bam), bam), "samtools")
        cands = []
        checks = []
        for n in (1, 2):
            out = rel_scratch / f"convert-w{n}.bams3"
            cands.append(Command(f"bams3 convert --workers {n}",
                                 (bams3, "convert", bam, str(out), "--format", "1", "--workers", str(n), "--overwrite",
                                  "--no-progress"), "bams3", threads=n))
            checks.append(_dataset_check(out, records))
        # one case, one anchor; the runner names outputs case<i>-cmd<j>.out, cmd<j> being candidate j
        def check(anchor_out: Path, cand_out: Path, _checks=checks) -> str | None:
            j = int(cand_out.stem.rsplit("cmd", 1)[1])
            return _checks[j - 1](anchor_out, cand_out)

        cases.append(Case("convert, format 1", anchor=anchor, candidates=tuple(cands), check=check))
    if "d" in args.parts:
        cram = rel_scratch / "view-C.cram"
        out2 = rel_scratch / "convert-f2.bams3"
        anchor = Command("samtools view -C (CRAM 3.1, no_ref)",
                         (ctx.samtools, "view", "-C", "--output-fmt-option", "version=3.1",
                          "--output-fmt-option", "no_ref=1", "-o", str(cram), bam), "samtools")
        cand = Command("bams3 convert --format 2",
                       (bams3, "convert", bam, str(out2), "--format", "2", "--overwrite", "--no-progress"), "bams3")
        cases.append(Case("convert, format 2 vs CRAM", anchor=anchor, candidates=(cand,),
                          check=_dataset_check(out2, records)))
    # parts e, a and b read datasets made once here (untimed) by the bams3 under test
    fresh = {1: scratch / "fresh-f1.bams3", 2: scratch / "fresh-f2.bams3"}
    if any(p in args.parts for p in "eab"):
        for fmt, where in fresh.items():
            _fresh_dataset(ctx, bam_path, where, fmt)
    if "e" in args.parts:
        decode_cmds = []
        for fmt, src in fresh.items():
            out = rel_scratch / f"to-bam-f{fmt}.bam"
            decode_cmds.append((Command(f"bams3 to-bam (format {fmt})",
                                        (bams3, "to-bam", ctx.rel(src), str(out), "--level", "1"), "bams3"),
                                out))
        (a1, o1), (a2, o2) = decode_cmds
        cases.append(Case("full decode, format 2 vs format 1", anchor=a1, candidates=(a2,), check=_same_files(o1, o2)))

    server = proxy = None
    query_counts: list[dict] = []
    try:
        if "a" in args.parts or "b" in args.parts:
            FaultProxy, S3Server, TEST_CREDENTIALS = loopback_s3_helpers()
            src, src2 = fresh[1], fresh[2]
            server = S3Server.start()
            proxy = FaultProxy(server.endpoint_url).start()
            client = server.client()
            client.create_bucket(Bucket=BUCKET)
            t = time.perf_counter()
            client.upload_file(str(bam_path), BUCKET, "x.bam")
            client.upload_file(str(bam_path) + ".bai", BUCKET, "x.bam.bai")
            for prefix, root in (("x.bams3", src), ("x2.bams3", src2)):
                for p in sorted(root.rglob("*")):
                    if p.is_file():
                        client.upload_file(str(p), BUCKET, f"{prefix}/{p.relative_to(root).as_posix()}")
            metadata_bytes = {"x.bams3": (src / "_metadata.json").stat().st_size,
                              "x2.bams3": (src2 / "_metadata.json").stat().st_size}
            ctx.log(f"[bench]   uploaded BAM, .bai and dataset in {time.perf_counter() - t:.1f} s")
            # timed runs talk to moto directly (the proxy buffers whole responses, which would charge
            # htslib's aborted whole-object GETs with copying 262 MB); counted runs go through the proxy
            host = server.endpoint_url.removeprefix("http://")
            base_env = dict(TEST_CREDENTIALS)
            for k in ("AWS_PROFILE",):
                os.environ.pop(k, None)
            b_env = {**base_env, "AWS_ENDPOINT_URL_S3": server.endpoint_url,
                     "AWS_ENDPOINT_URL": server.endpoint_url}
            via_proxy = {"AWS_ENDPOINT_URL_S3": proxy.url, "AWS_ENDPOINT_URL": proxy.url,
                         "HTS_S3_HOST": proxy.url.removeprefix("http://")}
            s_env = {**base_env, "HTS_S3_HOST": host, "HTS_S3_ADDRESS_STYLE": "path"}
            # htslib saves the downloaded .bai in its working directory and reuses it afterwards; run it
            # in a scratch folder and remove that copy first, so every run pays for a cold open
            hts_dir = rel_scratch / "htslib-cwd"
            (REPO_ROOT / hts_dir).mkdir(parents=True, exist_ok=True)

            def sam(label: str, *argv: str) -> Command:
                inner = shlex.join([ctx.samtools, *argv])
                return Command(label, ("sh", "-c", f"cd {shlex.quote(str(hts_dir))} && rm -f x.bam.bai && exec {inner}"),
                               "samtools", env=s_env)

            url_b = f"s3://{BUCKET}/x.bams3"
            url_b2 = f"s3://{BUCKET}/x2.bams3"
            url_s = f"s3+http://{BUCKET}/x.bam"
            counted: list[tuple[str, Command]] = []
            if "a" in args.parts:
                for size, region in REGIONS:
                    c_anchor = sam("samtools view -c", "view", "-c", url_s, region)
                    c_cand = Command("bams3 query --count", (bams3, "query", url_b, region, "--count"), "bams3",
                                     env=b_env)
                    c_cand2 = Command("bams3 query --count (v2)", (bams3, "query", url_b2, region, "--count"),
                                      "bams3", env=b_env)
                    r_anchor = sam("samtools view", "view", url_s, region)
                    r_cand = Command("bams3 query", (bams3, "query", url_b, region), "bams3", env=b_env)
                    r_cand2 = Command("bams3 query (v2)", (bams3, "query", url_b2, region), "bams3", env=b_env)
                    cases.append(Case(f"S3 count {size}", anchor=c_anchor, candidates=(c_cand, c_cand2)))
                    cases.append(Case(f"S3 records {size}", anchor=r_anchor, candidates=(r_cand, r_cand2)))
                    counted += [(f"count {size} {region}", c_anchor), (f"count {size} {region}", c_cand),
                                (f"count {size} {region}", c_cand2),
                                (f"records {size} {region}", r_anchor), (f"records {size} {region}", r_cand),
                                (f"records {size} {region}", r_cand2)]
            if "b" in args.parts:
                counted.append(("stats", Command("bams3 stats", (bams3, "stats", url_b), "bams3", env=b_env)))
            for what, timed in counted:
                cmd = Command(timed.label, timed.argv, timed.tool, timed.threads,
                              {k: via_proxy.get(k, v) for k, v in timed.env.items()})
                for _ in range(2 if cmd.tool == "bams3" else 1):  # bams3: 2nd run has its bytecode warm
                    row = counted_run(cmd, proxy).row()
                row.update(what=what, label=cmd.label, command=cmd.shell())
                for prefix, size in metadata_bytes.items():
                    if cmd.tool == "bams3" and f"/{prefix}" in " ".join(cmd.argv) and "stats" not in cmd.argv:
                        # every bams3 query GETs _metadata.json whole, once: the rest is chunk data
                        row["chunk_bytes"] = row["bytes"] - size
                query_counts.append(row)
                ctx.log(f"[bench]   counted: {cmd.label:22s} {what:32s} {row['requests']:3d} requests "
                        f"{row['bytes'] / 1e6:8.3f} MB {row['wall_s']:.2f} s")
            extra["s3_counted"] = query_counts

        result = ctx.measure(NAME, TITLE, cases, extra=extra)
    finally:
        if proxy is not None:
            proxy.close()
        if server is not None:
            server.stop()

    # sizes (d)
    bam_size = bam_path.stat().st_size
    sizes = {"bam": bam_size}
    for key, p in (("samtools view -b", scratch / "view-b.bam"), ("bams3 format 1", scratch / "convert-w1.bams3"),
                   ("bams3 format 2", scratch / "convert-f2.bams3"), ("CRAM 3.1 no_ref", scratch / "view-C.cram")):
        if p.exists():
            sizes[key] = _size(p)
    result.extra["sizes_bytes"] = sizes
    lines = ["Sizes (whole output: every object of a dataset):", "", "| output | MB | × BAM |", "|---|---:|---:|"]
    lines += [f"| {k} | {v / 1e6:,.1f} | {v / bam_size:.2f} |" for k, v in sizes.items()]
    result.notes.append("\n".join(lines))
    if query_counts:
        lines = ["S3 requests and bytes delivered through the counting proxy (one counted run per command, "
                 "besides the timed runs, which go to moto directly; for bams3 the second of two runs). "
                 "**MB is what the proxy handed to the client's socket**: it streams each answer, so htslib's "
                 "unranged GETs of the whole BAM, which it closes once it has the header, are charged what was "
                 "sent before the close (what htslib read, plus up to a few hundred KB of socket buffers), not "
                 "the whole object. bams3 asks for exact ranges, so its MB is what it reads. `by_kind` in the "
                 "JSON splits requests by method and ranged/whole:", "",
                 "| query | command | requests | MB delivered | wall s |", "|---|---|---:|---:|---:|"]
        lines += [f"| {r['what']} | `{r['label']}` | {r['requests']} | {r['bytes'] / 1e6:.3f} | {r['wall_s']:.2f} |"
                  for r in query_counts]
        result.notes.append("\n".join(lines))
        small = [r for r in query_counts if r["label"] == "bams3 query --count (v2)" and r["what"].startswith("count 1 kbp")]
        if small and "chunk_bytes" in small[0]:
            kb = small[0]["chunk_bytes"] / 1e3
            result.extra["v2_count_1kbp_chunk_bytes"] = small[0]["chunk_bytes"]
            result.notes.append(f"Format 2 `--count` over 1 kbp read {kb:.1f} KB of chunk data besides `_metadata.json` "
                                f"(issue 12: at most 20 KB): {'met' if kb <= 20 else 'NOT met'}.")
        stats = [r for r in query_counts if r["what"] == "stats"]
        if stats:
            result.extra["stats_requests"] = stats[0]["requests"]
            if stats[0]["requests"] != 1:
                ctx.log(f"[bench] WARNING: bams3 stats made {stats[0]['requests']} requests (expected 1)")
    result.notes[:0] = [
        "Ratios are the bams3 median over the samtools median of the same case: below 1.00 bams3 is faster.",
        "Conversion: each bams3 dataset is checked (its `_metadata.json` must hold every record of the BAM); "
        "`samtools view -b` (single-threaded, default level) is the nearest samtools job to a full re-encode.",
        "S3 cases: loopback `moto_server` (timed runs direct; counted runs through the proxy); samtools runs with `HTS_S3_HOST=<server> "
        "HTS_S3_ADDRESS_STYLE=path` in a scratch folder from which its saved copy of the `.bai` is removed "
        "before every run (a cold open, as for bams3, which keeps no cache). Count and record outputs are "
        "compared byte for byte with samtools' on every run.",
    ]
    return result
