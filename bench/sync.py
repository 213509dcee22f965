"""sync: ``bams3 sync`` (issue 7) uploading local trees to S3, against ``rclone sync``.

What is measured, on a loopback S3 server (``moto_server``, as in the tests):

- a tree of many small objects (``--small-files``, default 1000 per-chunk JSON documents of about
  0.5-6 KB across ten sample folders: the shape of a scan's per-chunk outputs) and a tree of a few
  large ones (``--large-files`` x ``--large-mb``, default 10 x 100 MB of random bytes: BAMs), each
  uploaded with one transfer at a time (``--jobs 1``) and with many (``--jobs N``, default 16);
- the second, no-op run: both trees already at the destination, nothing to copy. Its cost is the
  listing and the per-object decisions, which is what a workflow pays every time it re-syncs a
  prefix that is already up to date; its requests are counted through the counting proxy
  (``tests/helpers/faultproxy.py``) in one extra run per tool.

Why rclone is the anchor: it is the widely used, packaged (Debian ``rclone``), single-binary tool
that does the same job (``rclone sync SRC remote:bucket/prefix``, ``--transfers N`` objects at
once), it needs no AWS account or config file (the remote is defined by ``RCLONE_CONFIG_*``
variables), and being Go it has no interpreter start-up, so it is a demanding reference. ``aws s3
sync`` is the other candidate, but it is not installed on a fresh machine. Both tools make the
destination a mirror of the source (rclone sync deletes extra objects; bams3 gets ``--delete``).

Every timed upload starts from an empty destination prefix (``Command.prepare`` deletes it,
untimed), so each run copies everything. After every run, the destination prefixes of both tools
are listed and compared with the source: same keys, same sizes, and every ETag equal to the MD5
of the local file (single-part uploads) or to the multipart ETag recomputed from the local file
with the part size the server reports for part 1 (moto computes ETags from the bytes it received,
so a corrupted or truncated copy fails the benchmark). bams3's JSON report must list every object
as copied (uploads) or none (no-op); rclone's log of the no-op run must show no transfer.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .context import Context
from .counting import counted_run, loopback_s3_helpers
from .machine import REPO_ROOT
from .report import BenchResult
from .runner import BenchFailure, BenchUnavailable, Case, Command, OutputCheck, child_env

NAME = "sync"
TITLE = "sync: local trees to S3, bams3 sync vs rclone sync"
BUCKET = "bench-sync"
#: rclone remote defined by environment variables only (RCLONE_CONFIG_<NAME>_...): no config file
REMOTE = "bams3bench"
#: bump when the generated trees change shape, so that cached trees are made again
TREE_VERSION = 1
_HASH_BLOCK = 8 * 1024 * 1024
#: folders of the small tree (one per sample, as a scan writes them)
SAMPLES = 10
#: how many mismatches a failed check names before "and N more"
_SHOW = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--small-files", type=int, default=1000, metavar="N",
                        help="objects in the small tree, JSON of ~0.5-6 KB each (default: %(default)s)")
    parser.add_argument("--large-files", type=int, default=10, metavar="N",
                        help="objects in the large tree (default: %(default)s)")
    parser.add_argument("--large-mb", type=float, default=100, metavar="MB",
                        help="size of each large object, in MB of 10^6 bytes (default: %(default)g)")
    parser.add_argument("--jobs", type=int, default=16, metavar="N",
                        help="parallel transfers of the second case of each tree and of the no-op run: "
                             "bams3 --jobs N vs rclone --transfers N --checkers N (default: %(default)s)")


# ---- the local trees -------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileInfo:
    size: int
    md5: str


@dataclass(frozen=True)
class Tree:
    """The generated source trees under ``root``: ``small/...`` and ``large/...``."""

    root: Path
    files: Mapping[str, FileInfo]  # key relative to root -> size and MD5

    def under(self, sub: str) -> dict[str, FileInfo]:
        """Files of one subtree, keyed relative to it (as a sync of that subtree names them)."""
        if not sub:
            return dict(self.files)
        prefix = sub.rstrip("/") + "/"
        return {k[len(prefix):]: v for k, v in self.files.items() if k.startswith(prefix)}

    def bytes(self, sub: str = "") -> int:
        return sum(f.size for f in self.under(sub).values())


def _chunk_json(rng_state: int, sample: int, chunk: int, total: int) -> bytes:
    """A per-chunk statistics document (ARCHITECTURE's schema plus a histogram of varying length).

    The histogram's length varies the size, as real chunks vary with their MAPQ spread; the
    numbers come from a cheap LCG so that the tree is the same for the same options.
    """
    x = rng_state
    def nxt() -> int:
        nonlocal x
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        return x >> 33
    mapped = 900 + nxt() % 101
    start = chunk * 50_000 + nxt() % 1000
    doc = {
        "stats": {"total_reads": 1000, "mapped_reads": mapped, "unmapped_reads": 1000 - mapped,
                  "avg_mapping_quality": round(30 + (nxt() % 3000) / 100, 2),
                  "position_range": {"min": start, "max": start + 49_000 + nxt() % 1000},
                  "mapq_histogram": {str(q): nxt() % 500 for q in range(20 + nxt() % 400)}},
        "chunk_info": {"chunk_id": chunk, "total_chunks": total,
                       "bam_url": f"s3://cohort/sample{sample:02d}.bam"},
    }
    return json.dumps(doc, indent=1).encode()


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def ensure_tree(root: Path, small_files: int, large_files: int, large_bytes: int,
                log: Callable[[str], None]) -> Tree:
    """Make (or reuse) the source trees; their manifest records every size and MD5.

    Large files are random bytes (``os.urandom``: incompressible, and fast to make); they are
    kept between runs with their manifest, since making and hashing a gigabyte takes a while.
    """
    spec = {"version": TREE_VERSION, "small_files": small_files, "large_files": large_files,
            "large_bytes": large_bytes}
    # beside the tree, not in it: a sync of the whole tree must find only the generated files
    manifest_path = root.with_name(root.name + "-manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest["spec"] == spec and all(
            (root / k).is_file() and (root / k).stat().st_size == v["size"] for k, v in manifest["files"].items()
        ):
            return Tree(root, {k: FileInfo(v["size"], v["md5"]) for k, v in manifest["files"].items()})
    except (OSError, ValueError, KeyError, TypeError):
        pass
    t = time.perf_counter()
    log(f"[bench]   making the source trees in {root} ({small_files} small, {large_files} x "
        f"{large_bytes / 1e6:g} MB)")
    if root.exists():
        shutil.rmtree(root)
    manifest_path.unlink(missing_ok=True)
    files: dict[str, FileInfo] = {}
    per_sample = -(-small_files // SAMPLES) if small_files else 0
    for i in range(small_files):
        sample, chunk = i % SAMPLES, i // SAMPLES
        key = f"small/sample{sample:02d}/chunk_{chunk:05d}.json"
        data = _chunk_json(i + 1, sample, chunk, per_sample)
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[key] = FileInfo(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest())
    for i in range(large_files):
        key = f"large/sample{i:02d}.bam"
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "wb") as f:
            left = large_bytes
            while left:
                block = os.urandom(min(left, _HASH_BLOCK))
                digest.update(block)
                f.write(block)
                left -= len(block)
        files[key] = FileInfo(large_bytes, digest.hexdigest())
    manifest_path.write_text(json.dumps(
        {"spec": spec, "files": {k: {"size": v.size, "md5": v.md5} for k, v in files.items()}}, indent=0))
    log(f"[bench]   made the source trees in {time.perf_counter() - t:.1f} s")
    return Tree(root, files)


@functools.lru_cache(maxsize=None)
def _multipart_etag(path: str, size: int, part_size: int) -> str:
    """The S3 ETag of a multipart upload of ``path`` in parts of ``part_size`` (last one shorter).

    ``size`` is part of the cache key so a remade file is hashed again.
    """
    digests = b""
    parts = 0
    with open(path, "rb") as f:
        while block := f.read(part_size):
            digests += hashlib.md5(block, usedforsecurity=False).digest()
            parts += 1
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{parts}"


# ---- checking a destination ------------------------------------------------------------------------

def _listing(client: Any, prefix: str) -> dict[str, tuple[int, str]]:
    """Key (relative to ``prefix``) -> (size, ETag without quotes) of every object under ``prefix``."""
    out: dict[str, tuple[int, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix):]] = (obj["Size"], obj["ETag"].strip('"'))
    return out


def _delete_prefix(client: Any, prefix: str) -> None:
    keys = [{"Key": prefix + k} for k in _listing(client, prefix)]
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[i:i + 1000], "Quiet": True})


def verify_prefix(client: Any, prefix: str, expected: Mapping[str, FileInfo], src_dir: Path) -> str | None:
    """None if ``prefix`` holds exactly ``expected`` with the right sizes and contents, else what is wrong.

    Content is judged by the ETag the server computed from the bytes it received: the MD5 for a
    single-part upload, or for a multipart one the MD5 of the parts' MD5s, recomputed here from
    the local file with the size of part 1 as the server reports it (``HeadObject PartNumber=1``;
    both tools use equal parts but the last).
    """
    found = _listing(client, prefix)
    problems: list[str] = []
    for key in sorted(set(expected) - set(found)):
        problems.append(f"missing {prefix}{key}")
    for key in sorted(set(found) - set(expected)):
        problems.append(f"unexpected {prefix}{key}")
    for key in sorted(set(expected) & set(found)):
        size, etag = found[key]
        want = expected[key]
        if size != want.size:
            problems.append(f"{prefix}{key}: {size} bytes, the source has {want.size}")
            continue
        if "-" in etag:
            head = client.head_object(Bucket=BUCKET, Key=prefix + key, PartNumber=1)
            good = _multipart_etag(str(src_dir / key), want.size, int(head["ContentLength"]))
        else:
            good = want.md5
        if etag != good:
            problems.append(f"{prefix}{key}: ETag {etag}, the source's content gives {good}")
    if not problems:
        return None
    more = f" (and {len(problems) - _SHOW} more)" if len(problems) > _SHOW else ""
    return "; ".join(problems[:_SHOW]) + more


def _bams3_report_problem(report_path: Path, copied: int, skipped: int) -> str | None:
    """bams3's JSON report (its stdout) must say it copied and skipped exactly as many objects as expected."""
    try:
        summary = json.loads(report_path.read_text())["summary"]
        counts = {k: summary[k]["count"] for k in ("copied", "skipped", "deleted", "failed")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"no JSON report from bams3 sync in {report_path}: {exc}"
    want = {"copied": copied, "skipped": skipped, "deleted": 0, "failed": 0}
    if counts != want:
        return f"bams3 sync reported {counts}, expected {want}"
    return None


def _rclone_noop_problem(log_path: Path, objects: int) -> str | None:
    """rclone's ``-v`` log of a no-op run: every object checked, no byte and no object transferred."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError as exc:
        return f"no rclone log at {log_path}: {exc}"
    if re.search(r": (Copied|Updated|Deleted)", text):
        return f"rclone changed objects in the no-op run (see {log_path})"
    if not re.search(r"Transferred:\s+0 B / 0 B", text):
        return f"rclone's log does not show 0 bytes transferred (see {log_path})"
    checks = re.search(r"Checks:\s+(\d+) / (\d+)", text)
    if not checks or int(checks.group(1)) != objects:
        return f"rclone's log does not show {objects} objects checked (see {log_path})"
    return None


# ---- the run ----------------------------------------------------------------------------------------

def _rclone_env(endpoint: str, credentials: Mapping[str, str]) -> dict[str, str]:
    r = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    return {
        f"{r}TYPE": "s3", f"{r}PROVIDER": "Other", f"{r}ENDPOINT": endpoint, f"{r}FORCE_PATH_STYLE": "true",
        f"{r}ACCESS_KEY_ID": credentials["AWS_ACCESS_KEY_ID"],
        f"{r}SECRET_ACCESS_KEY": credentials["AWS_SECRET_ACCESS_KEY"],
        f"{r}REGION": credentials["AWS_DEFAULT_REGION"],
        # rclone's AWS SDK refuses to start when AWS_CA_BUNDLE names a file (some machines set it
        # for their TLS proxy): "LoadCustomCABundleError ... unsupported transport". The loopback
        # server is plain HTTP, so the bundle has no use here; empty means unset to the SDK.
        "AWS_CA_BUNDLE": "",
    }


def _with_endpoint(cmd: Command, endpoint: str) -> Command:
    """The same command pointed at another endpoint (the counting proxy)."""
    keys = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", f"RCLONE_CONFIG_{REMOTE.upper()}_ENDPOINT"}
    env = {k: (endpoint if k in keys else v) for k, v in cmd.env.items()}
    return Command(cmd.label, cmd.argv, cmd.tool, cmd.threads, env, cmd.prepare)


def run(ctx: Context, args: argparse.Namespace) -> BenchResult:
    ctx.require_verb("sync")
    rclone = shutil.which("rclone")
    if rclone is None:
        raise BenchUnavailable("rclone is missing: bash tools/ensure-debian-packages.sh rclone")
    if min(args.small_files, args.large_files) < 1 or args.large_mb <= 0 or args.jobs < 2:
        raise BenchUnavailable("--small-files and --large-files must be at least 1, --large-mb positive, "
                               "--jobs at least 2")
    rclone_version = subprocess.run([rclone, "version"], capture_output=True, text=True).stdout.split("\n")[0]
    FaultProxy, S3Server, TEST_CREDENTIALS = loopback_s3_helpers()

    scratch = ctx.scratch / NAME
    large_bytes = round(args.large_mb * 1e6)
    tree = ensure_tree(scratch / "tree", args.small_files, args.large_files, large_bytes, ctx.log)
    bams3 = ctx.rel(ctx.bams3)
    n = args.jobs

    server = proxy = None
    try:
        server = S3Server.start()
        proxy = FaultProxy(server.endpoint_url).start()
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        b_env = {**TEST_CREDENTIALS, "AWS_ENDPOINT_URL": server.endpoint_url,
                 "AWS_ENDPOINT_URL_S3": server.endpoint_url}
        r_env = _rclone_env(server.endpoint_url, TEST_CREDENTIALS)

        def empty_first(prefix: str) -> Callable[[], None]:
            return lambda: _delete_prefix(client, prefix)

        def pair(sub: str, slug: str, jobs: int, prepare: Callable[[str, str], Callable[[], None]],
                 rclone_extra: tuple[str, ...] = ()) -> tuple[Command, Command, str, str]:
            """rclone and bams3 commands syncing ``tree/sub`` to their own prefix under ``slug``."""
            src = ctx.rel(tree.root / sub) + "/"
            r_prefix, b_prefix = f"{slug}/rclone/", f"{slug}/bams3/"
            anchor = Command(f"rclone sync --transfers {jobs}",
                             (rclone, "sync", src, f"{REMOTE}:{BUCKET}/{r_prefix}", "--transfers", str(jobs),
                              "--checkers", str(jobs), *rclone_extra),
                             "rclone", threads=jobs, env=r_env, prepare=prepare("rclone", r_prefix))
            cand = Command(f"bams3 sync --jobs {jobs}",
                           (bams3, "sync", src, f"s3://{BUCKET}/{b_prefix}", "--jobs", str(jobs), "--delete",
                            "--no-progress", "--report", "-"),
                           "bams3", threads=jobs, env=b_env, prepare=prepare("bams3", b_prefix))
            return anchor, cand, r_prefix, b_prefix

        def upload_check(sub: str, r_prefix: str, b_prefix: str) -> OutputCheck:
            expected = tree.under(sub)

            def check(_anchor_out: Path, cand_out: Path) -> str | None:
                return (verify_prefix(client, r_prefix, expected, tree.root / sub)
                        or verify_prefix(client, b_prefix, expected, tree.root / sub)
                        or _bams3_report_problem(cand_out, copied=len(expected), skipped=0))
            return check

        cases: list[Case] = []
        by_slug: dict[str, Case] = {}
        #: case name -> objects and bytes it syncs (for objects/s and MB/s)
        volume: dict[str, tuple[int, int]] = {}
        shapes = {"small": f"{args.small_files} small", "large": f"{args.large_files} x {args.large_mb:g} MB"}
        for sub, what in shapes.items():
            for jobs in (1, n):
                slug = f"{sub}-j{jobs}"
                anchor, cand, r_prefix, b_prefix = pair(sub, slug, jobs, lambda _tool, p: empty_first(p))
                by_slug[slug] = Case(f"{what}, {jobs} job{'s' if jobs > 1 else ''}", anchor, (cand,),
                                     check=upload_check(sub, r_prefix, b_prefix))
                cases.append(by_slug[slug])
                volume[by_slug[slug].name] = (len(tree.under(sub)), tree.bytes(sub))

        # the no-op case: each tool's destination is filled once by that tool (rclone recognises
        # its own uploads by the modification time it stores in object metadata; bams3 compares
        # the upload time), then every run must find nothing to do
        rclone_log = scratch / "rclone-noop.log"
        populated: set[str] = set()
        commands: dict[str, Command] = {}

        def populate(tool: str, _prefix: str) -> Callable[[], None]:
            def prepare() -> None:
                if tool == "rclone":
                    rclone_log.unlink(missing_ok=True)  # rclone appends to its log file
                if tool not in populated:
                    cmd = commands[tool]
                    t = time.perf_counter()
                    done = subprocess.run(cmd.argv, cwd=REPO_ROOT, env=child_env(cmd), capture_output=True)
                    if done.returncode != 0:
                        raise BenchFailure(f"filling the no-op destination failed: `{cmd.shell()}`: "
                                           f"{done.stderr.decode(errors='replace')[-500:]}")
                    if tool == "rclone":
                        rclone_log.unlink(missing_ok=True)
                    populated.add(tool)
                    ctx.log(f"[bench]   filled the no-op destination with {tool} in {time.perf_counter() - t:.1f} s")
            return prepare

        noop_anchor, noop_cand, r_noop, b_noop = pair(
            "", "noop", n, populate, rclone_extra=("-v", "--log-file", ctx.rel(rclone_log)))
        commands.update(rclone=noop_anchor, bams3=noop_cand)
        everything = tree.under("")

        def noop_check(_anchor_out: Path, cand_out: Path) -> str | None:
            return (_rclone_noop_problem(rclone_log, len(everything))
                    or _bams3_report_problem(cand_out, copied=0, skipped=len(everything))
                    or verify_prefix(client, r_noop, everything, tree.root)
                    or verify_prefix(client, b_noop, everything, tree.root))

        cases.append(Case(f"no-op rerun, {len(everything)} objects, {n} jobs", noop_anchor, (noop_cand,),
                          check=noop_check))
        volume[cases[-1].name] = (len(everything), tree.bytes())

        small_sizes = [f.size for f in tree.under("small").values()]
        data = (
            f"two local trees made by the benchmark in `{ctx.rel(tree.root)}`: `small/`, {args.small_files} "
            f"per-chunk JSON documents ({tree.bytes('small') / 1e6:.2f} MB, "
            f"{min(small_sizes):,}-{max(small_sizes):,} bytes each, in {min(SAMPLES, args.small_files)} folders) "
            f"and `large/`, {args.large_files} files of {large_bytes / 1e6:g} MB of random bytes; destination: a "
            f"loopback `moto_server` (one Python process, plain HTTP) with a bucket of its own"
        )
        result = ctx.measure(NAME, TITLE, cases, data=data)

        # requests of a no-op run and of an upload of the small tree, through the counting proxy;
        # each counted run is checked like a timed one
        counted: dict[str, dict[str, Any]] = {}
        for what, case, objects in (("no-op rerun", cases[-1], len(everything)),
                                    (f"{shapes['small']} upload, {n} jobs", by_slug[f"small-j{n}"], args.small_files)):
            for cmd in case.commands:
                counted_cmd = counted_run(_with_endpoint(cmd, proxy.url), proxy)
                row, stdout = counted_cmd.row(), counted_cmd.stdout
                row["requests_per_object"] = round(row["requests"] / max(objects, 1), 3)
                counted.setdefault(what, {})[cmd.tool] = row
                ctx.log(f"[bench]   counted: {cmd.label:28s} {what:26s} {row['requests']:5d} requests "
                        f"({row['requests_per_object']:.2f} per object) {row['by_method']}")
            out = scratch / "counted-bams3.out"
            out.write_bytes(stdout)  # the bams3 run came last: its report is what the check reads
            problem = case.check(Path(), out)
            if problem:
                raise BenchFailure(f"counted run ({what}): {problem}")
    finally:
        if proxy is not None:
            proxy.close()
        if server is not None:
            server.stop()

    throughput = []
    for case_result in result.cases:
        objects, nbytes = volume[case_result.case.name]
        for m in case_result.measured:
            throughput.append({"case": case_result.case.name, "label": m.command.label,
                               "objects_per_s": round(objects / m.median_s, 1),
                               "mb_per_s": round(nbytes / 1e6 / m.median_s, 2)})
    result.extra.update(rclone_version=rclone_version, throughput=throughput, requests=counted,
                        tree={"small_files": args.small_files, "small_bytes": tree.bytes("small"),
                              "large_files": args.large_files, "large_bytes": tree.bytes("large")})

    lines = ["Throughput at the median time (the no-op row: objects checked per second; its MB/s is "
             "the size of what was found unchanged, not bytes moved):", "",
             "| case | command | objects/s | MB/s |", "|---|---|---:|---:|"]
    lines += [f"| {t['case']} | `{t['label']}` | {t['objects_per_s']:,.1f} | {t['mb_per_s']:,.2f} |"
              for t in throughput]
    req_lines = ["S3 requests, counted through the proxy in one extra run per command after the timed runs "
                 "(the timed runs talk to moto directly). By HTTP method; `requests_per_object` in the JSON:", "",
                 "| run | command | requests | per object | by method |", "|---|---|---:|---:|---|"]
    for what, rows in counted.items():
        for row in rows.values():
            methods = ", ".join(f"{k} {v}" for k, v in row["by_method"].items())
            req_lines.append(f"| {what} | `{row['label']}` | {row['requests']:,} | "
                             f"{row['requests_per_object']:.2f} | {methods} |")
    result.notes[:0] = [
        "Ratios are the bams3 median over the rclone median of the same case: below 1.00 bams3 is faster. "
        f"Both run with the same parallelism: bams3 `--jobs N`, rclone `--transfers N --checkers N`; "
        f"{rclone_version}. Both make the destination a mirror (rclone sync deletes extra objects; bams3 "
        "runs with `--delete`). The loopback server is one Python process (moto) sharing the machine's "
        "cores with the tool it serves, so the MB/s and objects/s below are this set-up's, far from S3's; "
        "the ratios compare the tools under the same server.",
        "Uploads: before every run (untimed) the destination prefix is emptied, so each run copies the "
        "whole tree. After every run both tools' destinations are listed and checked against the source: "
        "same keys, sizes, and ETags matching the local content (single-part MD5, or the multipart ETag "
        "recomputed from the file); bams3's JSON report (`--report -`) must count every object copied. "
        "rclone uploads objects below its 200 MiB cut-off in one PUT; bams3 uploads anything above one "
        "part (8 MiB) in 8 MiB parts.",
        "No-op rerun: both trees (small and large) are already at each tool's destination (put there by "
        "that tool, untimed, before the first run); a run must change nothing (rclone's `-v` log: 0 B "
        "transferred, every object checked; bams3's report: every object skipped). rclone reads each "
        "object's stored modification time with a HEAD request; bams3 decides from the listing alone "
        "(size and upload time, the `aws s3 sync` rule).",
        "\n".join(lines),
        "\n".join(req_lines),
    ]
    return result
