"""stage: ``bams3 stage`` downloading a data manifest from S3, cold and warm (issue 6).

What is measured, on a loopback S3 server (``moto_server``, objects held in memory) with ``--files``
objects of ``--file-mb`` MB of random (incompressible) bytes each (default 20 x 50 MB = 1 GB):

- **cold, one file at a time**: ``bams3 stage REQUEST --jobs 1`` into an empty run directory with an empty
  content cache, against ``curl`` fetching presigned URLs of the same objects one after the other in one
  process (one connection, reused). curl writes each response straight to its output file and checks
  nothing else: it is the floor of "GET these objects to disk", and what a user would script without bams3.
- **cold, N at a time** (``--jobs``, default 8): ``bams3 stage --jobs 8`` against ``curl -Z --parallel-max 8``
  (curl's own parallel transfers), same URLs.
  Both cold cases run bams3 twice: with ``s3://`` URLs in the manifest (credentials and endpoint from the
  standard AWS variables, as on AWS) and with presigned ``https``-style URLs (here ``http://127.0.0.1``),
  the two ways a user hands bams3 its data.
- **warm cache** (the second run of the same request, which users asked for): the cache holds every file,
  the run directory is empty, nothing should be downloaded. curl has no cache, so the anchor is
  ``rclone copy bench:bench/stage DIR`` into a destination that already holds every file: rclone's
  "transfer nothing when up to date" costs one listing plus one HEAD per object (it compares size and
  modification time), the same kind of work as bams3's one metadata request per ``s3://`` object (its cache
  key is URL + ETag + size). bams3 runs three ways: ``s3://`` URLs, presigned URLs (one 1-byte ranged GET
  per object instead of a HEAD: a presigned GET URL is not valid for HEAD on AWS), and ``s3://`` URLs with
  a ``sha256`` per entry (a content-addressed cache hit needs no request at all).
  The warm commands talk to S3 through the counting proxy (``tests/helpers/faultproxy.py``), in their timed
  runs too, so that the presigned URLs the cache was filled from are the URLs the timed runs use; one
  extra counted run per warm command records requests and response bytes (``extra["warm_counted"]``),
  and the benchmark fails if a bams3 warm run fetched file content.

Every run starts from the same state: ``Command.prepare`` (untimed) empties each cold command's output
directory and cache, and each warm command's run directory. Every output is checked after every run: each
staged file's SHA-256 must equal the source object's (for bams3, the files named by the response's
``plugin_params``; for curl and rclone, their output directory), so a fast wrong answer fails the benchmark.
Throughput (bytes staged / median wall time) is in the notes; bams3's own request counts (``--io-stats``)
are in ``extra["bams3_io_stats"]``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .context import Context
from .counting import counted_run, loopback_s3_helpers
from .machine import REPO_ROOT
from .report import BenchResult
from .runner import BenchFailure, BenchUnavailable, Case, Command, Measured, child_env

NAME = "stage"
TITLE = "stage: staging a data manifest from S3 (cold with --jobs 1 and N; warm cache)"
BUCKET = "bench"
PREFIX = "stage"
#: rclone remote name; its configuration comes from RCLONE_CONFIG_<NAME>_* variables
RCLONE_REMOTE = "bench"
#: seconds a presigned URL stays valid (SigV4's maximum; the loopback server does not check it anyway)
URL_EXPIRY_S = 7 * 24 * 3600
_HASH_BLOCK = 8 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=20, help="objects in the manifest (default: %(default)s)")
    parser.add_argument("--file-mb", type=float, default=50.0,
                        help="size of each object in MB, 10^6 bytes (default: %(default)g)")
    parser.add_argument("--jobs", type=int, default=8,
                        help="parallel downloads of the parallel case: bams3 --jobs, curl --parallel-max, "
                             "rclone --transfers (default: %(default)s)")
    parser.add_argument("--parts", default="1nw",
                        help="which cases: 1 cold --jobs 1, n cold --jobs N, w warm cache (default: %(default)s)")


# ---------------------------------------------------------------------------------------- checking


class Verifier:
    """Checks that a set of files holds exactly the source objects' bytes.

    Digests are remembered per (device, inode, size, mtime, ctime): an anchor's output is re-checked
    after every candidate of its case, and hashing the same unchanged gigabyte again would only slow
    the benchmark. Any rewrite, replacement or new link of a file changes that identity.
    """

    def __init__(self, expected: dict[str, str]) -> None:
        self.expected = expected
        self._memo: dict[tuple[int, int, int, int, int], str] = {}

    def digest(self, path: Path) -> str:
        st = path.stat()
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._memo.get(ident)
        if known is None:
            h = hashlib.sha256()
            with open(path, "rb") as handle:
                while block := handle.read(_HASH_BLOCK):
                    h.update(block)
            known = self._memo[ident] = h.hexdigest()
        return known

    def files(self, found: dict[str, Path], where: str) -> str | None:
        """None if ``found`` (name -> path) holds every expected file with the right bytes."""
        missing = sorted(set(self.expected) - set(found))
        unexpected = sorted(set(found) - set(self.expected))
        if missing or unexpected:
            return f"{where}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        for name, path in sorted(found.items()):
            try:
                actual = self.digest(path)
            except OSError as exc:
                return f"{where}: cannot read {name}: {exc}"
            if actual != self.expected[name]:
                return f"{where}: {name} has sha256 {actual[:12]}..., the source {self.expected[name][:12]}..."
        return None

    def directory(self, directory: Path) -> str | None:
        """Check a tool's output directory (curl, rclone): the expected files and nothing else."""
        if not directory.is_dir():
            return f"{directory}: no output directory"
        return self.files({p.name: p for p in directory.iterdir()}, str(directory))

    def response(self, stdout: Path) -> str | None:
        """Check a ``bams3 stage`` response: success, and every resolved parameter a correct file."""
        try:
            doc = json.loads(stdout.read_text())
            result = doc["result"]
            paths = result["plugin_params"]["inputs"]
            run_dir = Path(result["run_dir"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"unreadable bams3 stage response {stdout}: {exc}"
        if not doc.get("success") or result.get("failed_files"):
            return f"bams3 stage reported failure: {json.dumps(result)[:400]}"
        found = {Path(p).name: Path(p) for p in paths}
        outside = [p for p in found.values() if p.parent != run_dir]
        if outside:
            return f"resolved paths outside the run directory {run_dir}: {outside[:3]}"
        return self.files(found, str(run_dir))


def _case_check(verifier: Verifier, anchor_dir: Path) -> Callable[[Path, Path], str | None]:
    """The anchor's directory and the candidate's response must both hold the source bytes."""
    def check(_anchor_out: Path, candidate_out: Path) -> str | None:
        return verifier.directory(anchor_dir) or verifier.response(candidate_out)
    return check


# ------------------------------------------------------------------------------------------- setup


def _reset_dir(path: Path, *, create: bool) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if create:
        path.mkdir(parents=True)


def _empty(*paths: Path, create: Path | None = None) -> Callable[[], None]:
    """A ``prepare`` hook: remove ``paths`` (and recreate ``create``, for tools that need it to exist)."""
    def prepare() -> None:
        for p in paths:
            shutil.rmtree(p, ignore_errors=True)
        if create is not None:
            create.mkdir(parents=True, exist_ok=True)
    return prepare


def _upload(client: Any, files: int, size: int, log: Callable[[str], None]) -> dict[str, str]:
    """Put ``files`` objects of ``size`` random bytes; return name -> sha256."""
    expected: dict[str, str] = {}
    t = time.perf_counter()
    for i in range(files):
        name = f"part{i:03d}.bin"
        body = random.Random(i).randbytes(size)  # seeded: the same bytes in every run of the benchmark
        expected[name] = hashlib.sha256(body).hexdigest()
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}", Body=body)
    log(f"[bench]   uploaded {files} x {size / 1e6:g} MB in {time.perf_counter() - t:.1f} s")
    return expected


def _presigned(endpoint: str, names: Sequence[str]) -> dict[str, str]:
    """SigV4 presigned GET URLs (what AWS hands out today) of the objects, through ``endpoint``."""
    import boto3
    import botocore.config

    _, _, TEST_CREDENTIALS = loopback_s3_helpers()
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    return {n: client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": f"{PREFIX}/{n}"},
                                             ExpiresIn=URL_EXPIRY_S) for n in names}


def _write_request(path: Path, manifest: dict[str, Any]) -> Path:
    """A stage request whose one parameter lists every manifest name (resolved to local paths)."""
    path.write_text(json.dumps({"params": {"inputs": list(manifest)}, "data_manifest": manifest}, indent=1))
    return path


def _write_curl_config(path: Path, urls: dict[str, str], out_dir: Path) -> Path:
    """A curl config (``-K``) with one url/output pair per object: keeps signatures off the command line."""
    lines = [f'url = "{url}"\noutput = "{out_dir / name}"\n' for name, url in urls.items()]
    path.write_text("".join(lines))
    return path


def _parse_io_stats(stderr: str) -> dict[str, dict[str, Any]]:
    """The ``--io-stats`` table (``scheme operation requests retries errors bytes-in bytes-out``)."""
    rows: dict[str, dict[str, Any]] = {}
    for line in stderr.splitlines():
        parts = line.split()
        if len(parts) == 9 and parts[2].isdigit():  # scheme op requests retries errors N unit N unit
            key = f"{parts[0]} {parts[1]}"
            rows[key] = {"requests": int(parts[2]), "retries": int(parts[3]), "errors": int(parts[4]),
                         "bytes_in": f"{parts[5]} {parts[6]}"}
        elif len(parts) == 8 and parts[0] == "total" and parts[1].isdigit():
            rows["total"] = {"requests": int(parts[1]), "retries": int(parts[2]), "errors": int(parts[3]),
                             "bytes_in": f"{parts[4]} {parts[5]}"}
    return rows


def _slug(label: str) -> str:
    """A file name from a row label: ``bams3 stage -j8 s3:// (warm)`` -> ``bams3-stage-j8-s3-warm``."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


# --------------------------------------------------------------------------------------------- run


def run(ctx: Context, args: argparse.Namespace) -> BenchResult:
    if args.files < 1 or args.file_mb <= 0 or args.jobs < 1:
        raise BenchUnavailable("--files, --file-mb and --jobs must be positive")
    ctx.require_verb("stage")
    for tool in ("curl", "rclone"):
        if shutil.which(tool) is None:
            raise BenchUnavailable(f"{tool} is missing: make bench installs it (DEB_BENCH in the Makefile)")
    FaultProxy, S3Server, TEST_CREDENTIALS = loopback_s3_helpers()

    size = int(args.file_mb * 1_000_000)
    total = size * args.files
    jobs = args.jobs
    bams3 = ctx.rel(ctx.bams3)
    work = ctx.scratch / NAME / "work"
    big = [work / d for d in ("out", "runs", "caches", "warm-cache")]  # removed again at the end
    for d in big:
        _reset_dir(d, create=True)
    (work / "requests").mkdir(parents=True, exist_ok=True)

    def rel(p: Path) -> str:
        return ctx.rel(p)

    server = proxy = None
    expected: dict[str, str] = {}
    try:
        server = S3Server.start()
        proxy = FaultProxy(server.endpoint_url).start()
        server.client().create_bucket(Bucket=BUCKET)
        expected = _upload(server.client(), args.files, size, ctx.log)
        names = list(expected)
        verifier = Verifier(expected)
        signed = _presigned(server.endpoint_url, names)
        signed_via_proxy = _presigned(proxy.url, names)
        s3_urls = {n: f"s3://{BUCKET}/{PREFIX}/{n}" for n in names}
        req_s3 = _write_request(work / "requests" / "s3.json", s3_urls)
        req_signed = _write_request(work / "requests" / "signed.json", signed)
        req_signed_proxy = _write_request(work / "requests" / "signed-proxy.json", signed_via_proxy)
        req_sha = _write_request(work / "requests" / "s3-sha256.json",
                                 {n: {"url": u, "sha256": expected[n]} for n, u in s3_urls.items()})
        s3_env = {**TEST_CREDENTIALS, "AWS_ENDPOINT_URL_S3": server.endpoint_url}
        s3_env_proxy = {**TEST_CREDENTIALS, "AWS_ENDPOINT_URL_S3": proxy.url}
        for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            os.environ.pop(k, None)

        def stage_cmd(label: str, request: Path, n_jobs: int, env: dict[str, str], *, cold: bool,
                      cache: Path | None = None) -> Command:
            slug = _slug(label)
            run_dir = work / "runs" / slug
            cache = cache or work / "caches" / slug
            argv = (bams3, "stage", rel(request), "--jobs", str(n_jobs), "--run-dir", rel(run_dir), "--keep",
                    "--cache-dir", rel(cache), "--no-progress", "--io-stats")
            prepare = _empty(run_dir, cache) if cold else _empty(run_dir)
            return Command(label, argv, "bams3", threads=n_jobs, env=env, prepare=prepare)

        def curl_cmd(label: str, n_jobs: int) -> tuple[Command, Path]:
            out = work / "out" / _slug(label)
            cfg = _write_curl_config(work / "requests" / f"{_slug(label)}.curl", signed, out)
            argv: tuple[str, ...] = ("curl", "-sS", "--fail")
            if n_jobs > 1:
                argv += ("-Z", "--parallel-max", str(n_jobs), "--parallel-immediate")
            return Command(label, (*argv, "-K", rel(cfg)), "curl", threads=n_jobs,
                           prepare=_empty(out, create=out)), out

        cases: list[Case] = []
        if "1" in args.parts:
            anchor, out = curl_cmd("curl, one after another", 1)
            cases.append(Case("cold, --jobs 1", anchor=anchor, candidates=(
                stage_cmd("bams3 stage -j1 s3://", req_s3, 1, s3_env, cold=True),
                stage_cmd("bams3 stage -j1 presigned", req_signed, 1, {}, cold=True),
            ), check=_case_check(verifier, out)))
        if "n" in args.parts:
            anchor, out = curl_cmd(f"curl -Z --parallel-max {jobs}", jobs)
            cases.append(Case(f"cold, --jobs {jobs}", anchor=anchor, candidates=(
                stage_cmd(f"bams3 stage -j{jobs} s3://", req_s3, jobs, s3_env, cold=True),
                stage_cmd(f"bams3 stage -j{jobs} presigned", req_signed, jobs, {}, cold=True),
            ), check=_case_check(verifier, out)))

        warm_counted: list[dict[str, Any]] = []
        if "w" in args.parts:
            rclone_dir = work / "out" / "rclone"
            rclone_env = {
                "AWS_CA_BUNDLE": "",  # rclone's S3 client refuses a CA bundle with plain http
                # a file of its own, never /dev/null: rclone saves its config by writing a temporary file and
                # renaming it over this path, which turned /dev/null into a regular file
                "RCLONE_CONFIG": str(work / "rclone.conf"),
                f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_TYPE": "s3",
                f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_PROVIDER": "Other",
                f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_ENDPOINT": proxy.url,
                f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_FORCE_PATH_STYLE": "true",
                f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_REGION": TEST_CREDENTIALS["AWS_DEFAULT_REGION"],
                f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_ACCESS_KEY_ID": TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_SECRET_ACCESS_KEY":
                    TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            }
            rclone = Command("rclone copy (destination complete)",
                             ("rclone", "copy", f"{RCLONE_REMOTE}:{BUCKET}/{PREFIX}", rel(rclone_dir),
                              "--transfers", str(jobs)), "rclone", threads=jobs, env=rclone_env)
            warm_cache = work / "warm-cache"
            warm = (
                stage_cmd(f"bams3 stage -j{jobs} s3:// (warm)", req_s3, jobs, s3_env_proxy, cold=False,
                          cache=warm_cache),
                stage_cmd(f"bams3 stage -j{jobs} presigned (warm)", req_signed_proxy, jobs, {}, cold=False,
                          cache=warm_cache),
                stage_cmd(f"bams3 stage -j{jobs} s3:// + sha256 (warm)", req_sha, jobs, s3_env_proxy,
                          cold=False, cache=warm_cache),
            )
            # the first run of each fills the cache (and rclone's destination): untimed, here
            t = time.perf_counter()
            for cmd in (rclone, *warm):
                if cmd.prepare is not None:
                    cmd.prepare()
                done = subprocess.run(cmd.argv, cwd=REPO_ROOT, env=child_env(cmd), capture_output=True)
                if done.returncode != 0:
                    raise BenchFailure(f"filling the cache: `{cmd.shell()}` exited {done.returncode}: "
                                       f"{done.stderr.decode(errors='replace')[-500:]}")
            ctx.log(f"[bench]   filled rclone's destination and the bams3 cache in {time.perf_counter() - t:.1f} s")
            problem = verifier.directory(rclone_dir)
            if problem:
                raise BenchFailure(f"rclone's first copy is wrong: {problem}")
            for cmd in (rclone, *warm):
                row = counted_run(cmd, proxy).row()
                row["command"] = cmd.shell()
                warm_counted.append(row)
                ctx.log(f"[bench]   counted: {cmd.label:42s} {row['requests']:4d} requests "
                        f"{row['bytes']:>10,d} bytes {row['wall_s']:.2f} s")
            # nothing but metadata may travel: 0 body bytes, or 1 probe byte per object for presigned URLs
            for cmd, row in zip(warm, warm_counted[1:]):
                allowed = args.files if "presigned" in cmd.label else 0
                if row["bytes"] > allowed:
                    raise BenchFailure(f"the warm run `{cmd.shell()}` received {row['bytes']:,} bytes "
                                       f"(at most {allowed} expected): the cache did not serve it")
            cases.append(Case("warm cache (2nd run)", anchor=rclone, candidates=warm,
                              check=_case_check(verifier, rclone_dir)))

        if not cases:
            raise BenchUnavailable(f"--parts {args.parts!r} selects no case (use 1, n and/or w)")
        data = (f"{args.files} objects x {size / 1e6:g} MB = {total / 1e6:,.0f} MB of seeded random "
                f"(incompressible) bytes in a loopback `moto_server` (held in memory), bucket "
                f"`{BUCKET}`, prefix `{PREFIX}/`; manifests of `s3://` URLs or SigV4 presigned URLs; "
                f"outputs written to `{ctx.rel(work)}` on the local disk")
        result = ctx.measure(NAME, TITLE, cases, data=data)
    finally:
        if proxy is not None:
            proxy.close()
        if server is not None:
            server.stop()
        for d in big:
            shutil.rmtree(d, ignore_errors=True)

    result.extra["data"] = {"files": args.files, "file_bytes": size, "total_bytes": total, "jobs": jobs,
                            "sha256": expected}
    _annotate(result, total, warm_counted)
    return result


def _annotate(result: BenchResult, total: int, warm_counted: list[dict[str, Any]]) -> None:
    """Notes (how to read the table, throughput, requests) and the per-row numbers in ``extra``."""
    throughput: list[dict[str, Any]] = []
    io_stats: dict[str, Any] = {}
    rows = ["Throughput of the cold cases (bytes staged / median wall time, whole command including start-up):",
            "", "| case | command | MB/s (median) | MB/s (best) |", "|---|---|---:|---:|"]
    for case in result.cases:
        cold = not case.case.name.startswith("warm")
        for m in case.measured:
            if m.command.tool == "bams3":
                io_stats[m.command.label] = _parse_io_stats(_stderr_of(m))
            if cold:
                med, best = total / m.median_s / 1e6, total / m.min_s / 1e6
                throughput.append({"case": case.case.name, "label": m.command.label,
                                   "mb_per_s_median": round(med, 1), "mb_per_s_best": round(best, 1)})
                rows.append(f"| {case.case.name} | `{m.command.label}` | {med:,.0f} | {best:,.0f} |")
    result.extra["throughput"] = throughput
    result.extra["bams3_io_stats"] = io_stats
    result.extra["warm_counted"] = warm_counted
    notes = [
        "Ratios are the bams3 median over the anchor's median in the same case: below 1.00 bams3 is faster. "
        "Every run starts from the same state (untimed `prepare`): cold commands get an empty output directory "
        "and an empty bams3 content cache, warm commands an empty run directory and a full cache.",
        "Cold: curl writes each response straight to its file and checks nothing; bams3 also asks for each "
        "object's size and ETag, writes a resumable `.part`, renames it into its content cache and hard-links "
        "it into the run directory. Loopback means no network latency and a Python S3 server sharing the "
        "two cores with the client, so this measures client overhead and how well each tool overlaps "
        "transfers, not what a real network gives; with real latency, parallel downloads gain more. "
        "The `s3://` rows go through botocore (imported and set up in every run); presigned rows through "
        "bams3's plain HTTP client.",
        "Every output is checked after every run: the SHA-256 of each staged file (bams3: the files its "
        "response resolves `inputs` to; curl/rclone: their output directory) must equal the source object's.",
    ]
    if throughput:
        notes.append("\n".join(rows))
    if warm_counted:
        lines = ["Warm cache: requests and response bytes of one extra run per command through the counting "
                 "proxy (the timed warm runs use the proxy too). rclone lists the prefix and HEADs each object "
                 "to compare size and modification time with its (complete) destination; bams3 with `s3://` "
                 "HEADs each object (its cache key is URL + ETag + size), with presigned URLs it asks for one "
                 "byte of each (a presigned GET URL is not valid for HEAD on AWS), and with a `sha256` per "
                 "entry it sends no request:", "",
                 "| command | requests | by method | bytes received | wall s |", "|---|---:|---|---:|---:|"]
        lines += [f"| `{r['label']}` | {r['requests']} | "
                  f"{', '.join(f'{k} {v}' for k, v in sorted(r['by_method'].items())) or '-'} | "
                  f"{r['bytes']:,} | {r['wall_s']:.2f} |" for r in warm_counted]
        notes.append("\n".join(lines))
    cold_stats = [(label, s.get("total")) for label, s in io_stats.items() if "warm" not in label and s.get("total")]
    if cold_stats:
        lines = ["bams3's own request counts in its last cold run (`--io-stats`; curl sends one GET per object):",
                 "", "| command | requests | retries | errors | received (as bams3 prints it) |",
                 "|---|---:|---:|---:|---:|"]
        lines += [f"| `{label}` | {t['requests']} | {t['retries']} | {t['errors']} | {t['bytes_in']} |"
                  for label, t in cold_stats]
        notes.append("\n".join(lines))
    result.notes[:0] = notes


def _stderr_of(m: Measured) -> str:
    """The stderr of a command's last run (the runner keeps it next to its stdout)."""
    try:
        return m.stdout.with_suffix(".err").read_text(errors="replace")
    except OSError:
        return ""

