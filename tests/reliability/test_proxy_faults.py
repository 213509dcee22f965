"""Every verb, as a real process, behind the fault-injecting proxy.

Transient faults (500, 503 SlowDown, 429, a connection dropped mid-body, a stall shorter
than the read timeout; on writes also a lost answer and an upload cut on its way) must
leave no trace: the verb succeeds and its output is identical to an oracle (samtools, the
input files, a fault-free conversion). Permanent faults (403, 404, a body truncated on every
attempt, corrupted bytes that fail a checksum) must end in one line naming the object and
the problem, a non-zero exit, and no output that looks complete.

Each transient test installs a "storm": one fault of each kind, each applied once, in turn,
to the requests of the run; the test then checks that every fault was really applied, so a
verb that makes fewer requests than expected cannot pass by dodging them.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pysam
import pytest

from bams3.dataset.validate import validate
from tests.helpers.faultproxy import Fault, FaultProxy
from tests.helpers.s3server import S3Server

from ._cli import assert_clean_failure, dataset_digest, s3_digest, tree_digest
from .conftest import BIN, FRAME, Inputs, Runner

REGION = "chr1:20000-150000"
#: bytes after which a mid-body fault strikes (every body bams3 reads is longer, even a footer)
MID_BODY = 100


def storm(proxy: FaultProxy, *, writes: bool = False) -> list[Fault]:
    """Install one transient fault of each kind; they strike successive requests, once each."""
    faults = []
    if writes:
        faults += [
            Fault("lose", method="PUT", path=r"_metadata\.json"),  # convert's commit (other verbs: unused)
            Fault("status", method="PUT", status=503, code="SlowDown"),
            Fault("lose", method="PUT"),
            Fault("truncate_request", method="PUT", after_bytes=MID_BODY),
        ]
    faults += [
        Fault("status", status=500, code="InternalError", message="We encountered an internal error."),
        Fault("status", status=503, code="SlowDown"),
        Fault("status", status=429, code="TooManyRequests", message="Too many requests"),
        Fault("drop", method="GET", after_bytes=MID_BODY),
        Fault("stall", method="GET", after_bytes=MID_BODY, seconds=0.3),
    ]
    for fault in faults:
        proxy.add(fault)
    return faults


def assert_all_applied(faults: list[Fault], *, unused: tuple[int, ...] = ()) -> int:
    """Every fault (but those listed) struck exactly once; returns how many struck."""
    for index, fault in enumerate(faults):
        expected = 0 if index in unused else 1
        assert fault.applied == expected, f"fault {index} ({fault.kind} {fault.status}) applied {fault.applied}x"
    return sum(f.applied for f in faults)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scan_outputs(directory: Path) -> dict[str, object]:
    """What a scan wrote, without the request counts (a retried request is one more)."""
    files = tree_digest(directory)
    summary = json.loads((directory / "summary.json").read_text())
    plan = json.loads((directory / "plan.json").read_text())
    summary.pop("io")
    plan.pop("planning")
    return {"files": sorted(files), "chunk_stats.jsonl": files["chunk_stats.jsonl"],
            "chunk_stats.parquet": files["chunk_stats.parquet"], "summary": summary, "plan": plan}


# ------------------------------------------------------------------ transient faults: same results


def test_flagstat_through_transient_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy) -> None:
    faults = storm(fault_proxy)
    done = cli("flagstat", inputs.bam_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == pysam.flagstat(str(inputs.bam))
    assert_all_applied(faults)


def test_scan_through_transient_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    clean = cli("scan", inputs.bam_url, "-o", str(tmp_path / "clean"), "--chunk-size", "500")
    assert clean.returncode == 0, clean.stderr
    faults = storm(fault_proxy)
    done = cli("scan", inputs.bam_url, "-o", str(tmp_path / "faulty"), "--chunk-size", "500")
    assert done.returncode == 0, done.stderr
    assert scan_outputs(tmp_path / "faulty") == scan_outputs(tmp_path / "clean")
    assert_all_applied(faults)


def test_convert_through_transient_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy) -> None:
    """Reads of the BAM and writes of the chunks fail in every way; the dataset is the fault-free one.

    The commit's answer is lost too: the retry meets the metadata its first attempt wrote, which
    must count as success (it once made convert delete the chunks of its own committed dataset).
    """
    out = f"s3://{inputs.bucket}/convert-{uuid.uuid4().hex[:8]}.bams3"
    faults = storm(fault_proxy, writes=True)
    done = cli("convert", inputs.bam_url, out, "--chunk-size", BIN, "--frame-size", FRAME, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert dataset_digest(out) == dataset_digest(inputs.dataset_url)
    assert validate(out).ok
    assert_all_applied(faults)


def test_query_through_transient_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy) -> None:
    faults = storm(fault_proxy)
    done = cli("query", inputs.dataset_url, REGION)
    assert done.returncode == 0, done.stderr
    assert done.stdout == pysam.view(str(inputs.bam), REGION)
    assert_all_applied(faults)


def stage_request(inputs: Inputs, *, sha256: bool = True) -> str:
    bam = {"url": inputs.bam_url, "sha256": sha256_file(inputs.bam)} if sha256 else inputs.bam_url
    return json.dumps({"params": {"bam": "s.bam", "threads": 2},
                       "data_manifest": {"s.bam": bam, "s.bam.bai": inputs.bam_url + ".bai"}})


def test_stage_through_transient_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    faults = storm(fault_proxy)
    run_dir = tmp_path / "run"
    done = cli("stage", "--run-dir", str(run_dir), "--keep", "--no-cache", "--no-progress",
               stdin=stage_request(inputs, sha256=False))
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["success"] is True and response["result"]["plugin_params"]["bam"] == str(run_dir / "s.bam")
    assert sha256_file(run_dir / "s.bam") == sha256_file(inputs.bam)
    assert sha256_file(run_dir / "s.bam.bai") == sha256_file(inputs.bam.with_name("s.bam.bai"))
    assert_all_applied(faults)


def test_sync_down_through_transient_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy,
                                            tmp_path: Path) -> None:
    faults = storm(fault_proxy)
    done = cli("sync", f"s3://{inputs.bucket}/tree/", str(tmp_path / "down"), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert tree_digest(tmp_path / "down") == tree_digest(inputs.tree)
    assert_all_applied(faults)


def test_sync_up_through_transient_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy,
                                          s3_server: S3Server) -> None:
    prefix = f"up-{uuid.uuid4().hex[:8]}/"
    faults = storm(fault_proxy, writes=True)
    done = cli("sync", str(inputs.tree), f"s3://{inputs.bucket}/{prefix}", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert s3_digest(s3_server.client(), inputs.bucket, prefix) == tree_digest(inputs.tree)
    assert_all_applied(faults, unused=(0,))  # no metadata to commit


# ------------------------------------------------------------------ permanent faults: one line, no output

#: permanent faults, each on every matching request: (id, fault kind, options, what the message says)
PERMANENT = {
    "403": ("status", {"status": 403, "code": "AccessDenied", "message": "Access Denied"}, "access denied"),
    "404": ("status", {"status": 404, "code": "NoSuchKey", "message": "The specified key does not exist."},
            "no such object"),
    "truncated": ("truncate", {"method": "GET", "after_bytes": MID_BODY}, "gave up after"),
    "corrupt": ("corrupt", {"method": "GET", "after_bytes": 5_000}, None),
}


def permanent(proxy: FaultProxy, case: str, path: str) -> Fault:
    kind, options, _ = PERMANENT[case]
    return proxy.add(Fault(kind, path=path, times=None, **options))  # type: ignore[arg-type]


def expected(case: str, corrupt_message: str) -> str:
    return PERMANENT[case][2] or corrupt_message


BAM_PATH = r"/bam/s\.bam($|\?)"


def failing(cli: Runner, *args: str, **options: str) -> subprocess.CompletedProcess[str]:
    """A run meant to fail: three retries are enough to show that a permanent fault is not retried away."""
    return cli(*args, BAMS3_RETRY_MAX="3", **options)


@pytest.mark.parametrize("case", list(PERMANENT))
def test_flagstat_permanent_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, case: str) -> None:
    fault = permanent(fault_proxy, case, BAM_PATH)
    done = failing(cli, "flagstat", inputs.bam_url)
    assert_clean_failure(done, "flagstat", inputs.bam_url, expected(case, "in BGZF block at offset"))
    assert done.stdout == "" and fault.applied >= 1


@pytest.mark.parametrize("case", list(PERMANENT))
def test_scan_permanent_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, tmp_path: Path,
                               case: str) -> None:
    fault = permanent(fault_proxy, case, BAM_PATH)
    out = tmp_path / "scan"
    done = failing(cli, "scan", inputs.bam_url, "-o", str(out))
    assert_clean_failure(done, "scan", inputs.bam_url, expected(case, "in BGZF block at offset"))
    # the plan may stay (it is complete in itself); no statistics that look complete
    assert set(tree_digest(out)) <= {"plan.json"} and fault.applied >= 1


@pytest.mark.parametrize("case", list(PERMANENT))
def test_convert_permanent_faults_on_the_bam(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy,
                                             s3_server: S3Server, case: str) -> None:
    fault = permanent(fault_proxy, case, BAM_PATH)
    prefix = f"failed-{uuid.uuid4().hex[:8]}.bams3/"
    done = failing(cli, "convert", inputs.bam_url, f"s3://{inputs.bucket}/{prefix}", "--no-progress")
    assert_clean_failure(done, "convert", inputs.bam_url, expected(case, "in BGZF block at offset"))
    assert s3_digest(s3_server.client(), inputs.bucket, prefix) == {} and fault.applied >= 1


@pytest.mark.parametrize("case", ["403", "truncated-upload"])
def test_convert_permanent_faults_on_the_chunks(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy,
                                                s3_server: S3Server, case: str) -> None:
    """A chunk that cannot be written, or is stored short on every attempt: no dataset, no chunks left."""
    if case == "403":
        fault = fault_proxy.add(Fault("status", method="PUT", path=r"\.bch", status=403, code="AccessDenied",
                                      message="Access Denied", times=None))
        message = "access denied"
    else:
        fault = fault_proxy.add(Fault("truncate_request", method="PUT", path=r"\.bch", after_bytes=MID_BODY,
                                      times=None))
        message = "after a PUT of"
    prefix = f"failed-{uuid.uuid4().hex[:8]}.bams3/"
    done = failing(cli, "convert", inputs.bam_url, f"s3://{inputs.bucket}/{prefix}", "--no-progress")
    assert_clean_failure(done, "convert", f"s3://{inputs.bucket}/{prefix}", message)
    assert s3_digest(s3_server.client(), inputs.bucket, prefix) == {} and fault.applied >= 1


@pytest.mark.parametrize("case", [*PERMANENT, "corrupt-footer"])
def test_query_permanent_faults_on_chunks(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, tmp_path: Path,
                                          case: str) -> None:
    """Chunks that cannot be read: forbidden, gone, cut short, or failing their zstd or footer checksum."""
    if case == "corrupt":  # frames: the fetches that start at a chunk's first byte (footers never do)
        fault = fault_proxy.add(Fault("corrupt", method="GET", path=r"\.bch($|\?)", header=("Range", r"^bytes=0-"),
                                      after_bytes=5_000, times=None))
    elif case == "corrupt-footer":  # inside the frame table, before the trailer
        fault = fault_proxy.add(Fault("corrupt", method="GET", path=r"\.bch($|\?)", after_bytes=40, times=None))
    else:
        fault = permanent(fault_proxy, case, r"\.bch($|\?)")
    out = tmp_path / "region.sam"
    done = failing(cli, "query", inputs.dataset_url, REGION, "-o", str(out))
    message = {"404": "chunk object is missing", "corrupt": "corrupt chunk",
               "corrupt-footer": "chunk footer checksum mismatch"}.get(case) or expected(case, "")
    assert_clean_failure(done, "query", inputs.dataset_url, message)
    assert not out.exists() and fault.applied >= 1
    assert not [p for p in tmp_path.iterdir() if p.name != "bams3-cache"]  # no temporary file left either


@pytest.mark.parametrize("case", list(PERMANENT))
def test_stage_permanent_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, tmp_path: Path,
                                case: str) -> None:
    """The manifest gives the BAM's SHA-256: a download corrupted in transit is caught by it."""
    fault = permanent(fault_proxy, case, BAM_PATH)
    cache = tmp_path / "cache"
    done = failing(cli, "stage", "--workdir", str(tmp_path / "work"), "--cache-dir", str(cache), "--no-progress",
               stdin=stage_request(inputs))
    assert_clean_failure(done, "stage", "s.bam", inputs.bam_url, expected(case, "sha256 mismatch"))
    assert json.loads(done.stdout)["success"] is False
    assert not (tmp_path / "work").exists()  # the run directory is removed
    cached = {path for path, _ in tree_digest(cache).items()}
    assert not any(p.endswith(".bam") for p in cached) and fault.applied >= 1


@pytest.mark.parametrize("case", ["403", "404", "truncated"])
def test_sync_down_permanent_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, tmp_path: Path,
                                    case: str) -> None:
    """No file under its final name unless complete (a truncated download keeps its resumable ``.part``)."""
    fault = permanent(fault_proxy, case, r"/tree/s\.bam($|\?)")
    down = tmp_path / "down"
    done = failing(cli, "sync", f"s3://{inputs.bucket}/tree/", str(down), "--no-progress", "--allow-partial-failure")
    assert_clean_failure(done, "sync", f"s3://{inputs.bucket}/tree/s.bam", expected(case, ""))
    files = tree_digest(down)
    assert "s.bam" not in files and set(files) - {"s.bam.part", "s.bam.part.json"} == {
        "notes/readme.txt", "notes/empty.txt"}
    assert fault.applied >= 1


def test_sync_move_never_deletes_a_source_whose_copy_is_corrupt(inputs: Inputs, cli: Runner,
                                                                 fault_proxy: FaultProxy, s3_server: S3Server,
                                                                 tmp_path: Path) -> None:
    """``--move`` deletes a source only once an identical copy is proven: bytes corrupted on the way are not."""
    client = s3_server.client()
    prefix = f"move-{uuid.uuid4().hex[:8]}/"
    client.put_object(Bucket=inputs.bucket, Key=f"{prefix}s.bam", Body=inputs.bam.read_bytes())
    fault = fault_proxy.add(Fault("corrupt", method="GET", path=r"/move-[0-9a-f]+/s\.bam($|\?)", after_bytes=5_000,
                                  times=None))
    done = failing(cli, "sync", "--move", f"s3://{inputs.bucket}/{prefix}", str(tmp_path / "moved"), "--no-progress")
    assert_clean_failure(done, "sync", f"s3://{inputs.bucket}/{prefix}s.bam", "differs from it",
                         "the source was not deleted")
    assert s3_digest(client, inputs.bucket, prefix) == {"s.bam": sha256_file(inputs.bam)}
    assert tree_digest(tmp_path / "moved") == {}  # the corrupt copy is not left as if complete
    assert fault.applied >= 1


@pytest.mark.parametrize("case", ["403", "truncated-upload"])
def test_sync_up_permanent_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, s3_server: S3Server,
                                  case: str) -> None:
    prefix = f"up-{uuid.uuid4().hex[:8]}/"
    if case == "403":
        fault = fault_proxy.add(Fault("status", method="PUT", path=r"/s\.bam$", status=403, code="AccessDenied",
                                      message="Access Denied", times=None))
        message = "access denied"
    else:
        fault = fault_proxy.add(Fault("truncate_request", method="PUT", path=r"/s\.bam$", after_bytes=MID_BODY,
                                      times=None))
        message = "after a PUT of"
    done = failing(cli, "sync", str(inputs.tree), f"s3://{inputs.bucket}/{prefix}", "--no-progress",
               "--allow-partial-failure")
    assert_clean_failure(done, "sync", f"s3://{inputs.bucket}/{prefix}s.bam", message)
    assert set(s3_digest(s3_server.client(), inputs.bucket, prefix)) == {"notes/readme.txt", "notes/empty.txt"}
    assert fault.applied >= 1


# ------------------------------------------------------------------ cohort (many datasets x regions)

COHORT_REGIONS = (REGION, "chr2:1-50000")


def test_cohort_through_transient_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy,
                                         tmp_path: Path) -> None:
    """Listing the prefix, the metadata and the frames all meet faults; the counts are samtools'."""
    faults = storm(fault_proxy)
    args = [arg for region in COHORT_REGIONS for arg in ("-r", region)]
    done = cli("cohort", f"s3://{inputs.bucket}/ds/", *args, "-o", str(tmp_path / "out"), "--plot", "none",
               "--no-progress")
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in (tmp_path / "out" / "table.tsv").read_text().splitlines()[1:]]
    assert {(row[0], row[1], int(row[-1])) for row in rows} == {
        ("s", region, int(pysam.view("-c", str(inputs.bam), region))) for region in COHORT_REGIONS}
    assert_all_applied(faults)


@pytest.mark.parametrize("case", list(PERMANENT))
def test_cohort_fail_fast_permanent_faults(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy, tmp_path: Path,
                                           case: str) -> None:
    """With --fail-fast a sample that cannot be read stops the run: one line, nothing written."""
    # (a count reads only the frames at the region's edges: corrupt every chunk answer early, footers included)
    fault = (fault_proxy.add(Fault("corrupt", method="GET", path=r"\.bch($|\?)", after_bytes=40, times=None))
             if case == "corrupt" else permanent(fault_proxy, case, r"\.bch($|\?)"))
    out = tmp_path / "out"
    done = failing(cli, "cohort", inputs.dataset_url, "-r", REGION, "-o", str(out), "--plot", "none", "--no-progress",
               "--fail-fast")
    message = {"404": "chunk object is missing", "corrupt": "checksum mismatch"}.get(case) or expected(case, "")
    assert_clean_failure(done, "cohort", inputs.dataset_url, message)
    assert tree_digest(out) == {} and fault.applied >= 1


def test_cohort_reports_a_failed_sample_as_failed(inputs: Inputs, cli: Runner, fault_proxy: FaultProxy,
                                                  tmp_path: Path) -> None:
    """Without --fail-fast the other samples complete; the failed one is listed as failed, never as zero."""
    fault = permanent(fault_proxy, "403", r"/ds/s\.bams3/chunks/")
    out = tmp_path / "out"
    done = failing(cli, "cohort", inputs.dataset_url, f"s3://{inputs.bucket}/convert-none.bams3", "-r", REGION,
               "-o", str(out), "--plot", "none", "--no-progress")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == {"total": 2, "succeeded": 0, "failed": 2}
    assert (out / "table.tsv").read_text().splitlines()[1:] == []
    assert fault.applied >= 1
