"""Make (once) and cache the "realistic BAM" the benchmarks run on.

The recipe is the one in /work/shared/MEASUREMENTS.md, with a few additions so that flagstat-like
statistics are not all trivially 100%:

1. a seeded synthetic genome (chr1 30 Mbp, chr2 20 Mbp, chrM 16,569 bp; isochores, repeats,
   segmental duplications, N gaps: :mod:`bench.datagen.reference`);
2. ``art_illumina -ss HS25 -p -l 150 -f COVERAGE -m 400 -s 50`` paired reads from the nuclear
   contigs, plus: chrM at 40x the nuclear depth, a 1 Mbp high-GC "contaminant" genome that is
   not in the reference (its pairs stay unmapped), and chimeric templates joining two distant
   places or a place and the contaminant (mates on different contigs, singletons,
   supplementary alignments);
3. one streaming pipe: interleave + inject PCR duplicates (:mod:`bench.datagen.fastq`) |
   ``minimap2 -ax sr -t 2`` (plus near-equal secondary alignments) | ``samtools fixmate -m`` |
   ``samtools sort`` | ``samtools markdup``, then ``samtools index``.

The result lives in ``bench/.cache/<key>/`` where the key names every parameter and the generator
version; a directory that exists is complete (it is built under ``<key>.partial`` and renamed at the
end), so a second call costs nothing. ``manifest.json`` records the read count, size, MD5 and the tool
versions, so a benchmark table can say exactly what it ran on.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import reference

#: bump when the recipe changes, so old cached data sets are not mistaken for new ones
GENERATOR_VERSION = 1
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".cache"
BAM_NAME = "realistic.bam"

Log = Callable[[str], None]


class DataGenError(RuntimeError):
    """A step of the data recipe failed; the message names the command and the tail of its log."""


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that decides the bytes of the BAM (and so the cache key)."""

    coverage: float = 8.0
    seed: int = 1
    #: ~20 MB instead of ~250 MB: the genome shrinks tenfold (chrM stays), the depth stays
    small: bool = False
    #: fraction of read pairs that get a PCR-duplicate copy
    dup_rate: float = 0.04

    @property
    def key(self) -> str:
        size = "small" if self.small else "full"
        return f"realistic-v{GENERATOR_VERSION}-{size}-cov{self.coverage:g}-seed{self.seed}-dup{self.dup_rate:g}"

    def cli_args(self) -> list[str]:
        """The ``python -m bench data`` options that reproduce this spec (defaults left out)."""
        default = DatasetSpec()
        args = ["--small"] if self.small else []
        if self.coverage != default.coverage:
            args += ["--coverage", f"{self.coverage:g}"]
        if self.seed != default.seed:
            args += ["--seed", str(self.seed)]
        if self.dup_rate != default.dup_rate:
            args += ["--dup-rate", f"{self.dup_rate:g}"]
        return args

    @property
    def scale(self) -> float:
        return 0.1 if self.small else 1.0

    def contigs(self) -> list[reference.Contig]:
        s = self.scale
        return [
            reference.Contig("chr1", int(30_000_000 * s), n_gap=10_000),
            reference.Contig("chr2", int(20_000_000 * s), n_gap=10_000),
            reference.Contig("chrM", 16_569, repeats_per_mbp=0.0),
        ]


@dataclass(frozen=True)
class Dataset:
    """A finished, cached data set."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def bam(self) -> Path:
        return self.directory / BAM_NAME

    @property
    def bai(self) -> Path:
        return self.directory / (BAM_NAME + ".bai")

    @property
    def reference(self) -> Path:
        return self.directory / "ref.fa"

    @property
    def reads(self) -> int:
        return int(self.manifest["reads"])

    def describe(self) -> str:
        m = self.manifest
        return (
            f"{self.bam} ({m['bytes'] / 1e6:,.1f} MB, {m['reads']:,} records, "
            f"{m['bgzf_blocks']:,} BGZF blocks; key {m['key']})"
        )


def ensure_dataset(spec: DatasetSpec, cache_root: Path = DEFAULT_CACHE, log: Log | None = None) -> Dataset:
    """Return the cached data set for ``spec``, generating it first if it is not there yet.

    A lock file serialises concurrent callers (two benchmark runs started at once generate once).
    """
    say = log or _print
    cache_root.mkdir(parents=True, exist_ok=True)
    final = cache_root / spec.key
    with open(cache_root / f"{spec.key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "manifest.json").is_file():
            dataset = Dataset(final, json.loads((final / "manifest.json").read_text()))
            say(f"[data] cached: {dataset.describe()}")
            return dataset
        _check_tools()
        work = cache_root / f"{spec.key}.partial"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        manifest = _generate(spec, work, say)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        work.rename(final)
    dataset = Dataset(final, manifest)
    say(f"[data] ready: {dataset.describe()}")
    return dataset


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


REQUIRED_TOOLS = ("art_illumina", "minimap2", "samtools")


def _check_tools() -> None:
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        raise DataGenError(
            f"missing tools: {', '.join(missing)}; install them with "
            "`bash tools/ensure-debian-packages.sh samtools art-nextgen-simulation-tools minimap2 time`"
        )


@dataclass(frozen=True)
class _ArtJob:
    """One ``art_illumina`` run: reads of ``fold`` depth from ``fasta`` into ``<name>_1/2.fq``."""

    name: str
    fasta: str
    fold: float
    seed: int

    def argv(self) -> list[str]:
        return [
            "art_illumina", "-ss", "HS25", "-p", "-l", "150", "-f", f"{self.fold:g}",
            "-m", "400", "-s", "50", "-na", "-q", "-rs", str(self.seed),
            "-i", self.fasta, "-o", f"{self.name}_",
        ]

    def fastqs(self) -> tuple[str, str]:
        return f"{self.name}_1.fq", f"{self.name}_2.fq"


def _generate(spec: DatasetSpec, work: Path, say: Log) -> dict[str, Any]:
    timings: dict[str, float] = {}
    logs = work / "logs"
    logs.mkdir()

    t = time.monotonic()
    say(f"[data] 1/4 synthetic genome (seed {spec.seed}) -> {work / 'ref.fa'}")
    jobs = _write_genomes(spec, work)
    timings["genome"] = time.monotonic() - t
    say(f"[data]     done in {timings['genome']:.1f} s")

    t = time.monotonic()
    say(f"[data] 2/4 art_illumina HS25 2x150, fragments 400+-50, {len(jobs)} runs, 2 at a time")
    _run_parallel([(j.name, j.argv()) for j in jobs], cwd=work, logs=logs, width=2, say=say)
    timings["art"] = time.monotonic() - t
    say(f"[data]     done in {timings['art']:.1f} s")

    t = time.monotonic()
    say("[data] 3/4 interleave + duplicates | minimap2 -ax sr -t 2 | samtools fixmate -m | sort | markdup")
    fastqs = [f for j in jobs for f in j.fastqs()]
    _align(spec, work, fastqs, logs, say)
    timings["align_sort_markdup"] = time.monotonic() - t
    say(f"[data]     done in {timings['align_sort_markdup']:.1f} s")

    t = time.monotonic()
    say("[data] 4/4 samtools index, flagstat, checksum")
    _check_call(["samtools", "index", BAM_NAME], work, logs / "index.log")
    _check_call(["samtools", "faidx", "ref.fa"], work, logs / "faidx.log")
    flagstat = _check_output(["samtools", "flagstat", BAM_NAME], work)
    (work / "flagstat.txt").write_text(flagstat)
    for name in [f for j in jobs for f in j.fastqs()] + [j.fasta for j in jobs]:
        (work / name).unlink(missing_ok=True)
    shutil.rmtree(work / "tmp", ignore_errors=True)
    bam = work / BAM_NAME
    timings["index_check"] = time.monotonic() - t

    return {
        "key": spec.key,
        "generator_version": GENERATOR_VERSION,
        "spec": asdict(spec),
        "bam": BAM_NAME,
        "bytes": bam.stat().st_size,
        "reads": int(flagstat.split(" ", 1)[0]),
        "bgzf_blocks": _count_bgzf_blocks(bam),
        "md5": _md5(bam),
        "contigs": {c.name: c.length for c in spec.contigs()},
        "flagstat": flagstat.splitlines(),
        "tools": _tool_versions(),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_genomes(spec: DatasetSpec, work: Path) -> list[_ArtJob]:
    """Write ref.fa (what reads align to) and the FASTA inputs of each ART run."""
    contigs = spec.contigs()
    seqs = reference.generate(contigs, seed=spec.seed)
    reference.write_fasta(work / "ref.fa", seqs)
    contaminant = reference.random_sequence(spec.seed + 1_000, int(1_000_000 * spec.scale), gc=0.65)
    chimeras = _chimeras(spec, seqs, contaminant, count=int(1_000 * spec.scale) or 1)

    jobs: list[_ArtJob] = []
    for i, contig in enumerate(contigs):
        fasta = f"art-{contig.name}.fa"
        reference.write_fasta(work / fasta, {contig.name: seqs[contig.name]})
        fold = spec.coverage * (40 if contig.name == "chrM" else 1)
        jobs.append(_ArtJob(contig.name, fasta, fold, seed=spec.seed * 100 + i))
    reference.write_fasta(work / "art-contaminant.fa", {"contaminant": contaminant})
    jobs.append(_ArtJob("contaminant", "art-contaminant.fa", spec.coverage, spec.seed * 100 + 50))
    reference.write_fasta(work / "art-chimeras.fa", chimeras)
    jobs.append(_ArtJob("chimeras", "art-chimeras.fa", 6, spec.seed * 100 + 51))
    # Longest first, so the two-wide pool finishes together.
    jobs.sort(key=lambda j: -(work / j.fasta).stat().st_size * j.fold)
    return jobs


def _chimeras(
    spec: DatasetSpec, seqs: dict[str, np.ndarray], contaminant: np.ndarray, count: int
) -> dict[str, np.ndarray]:
    """1 kbp templates joining 500 bp of one place to 500 bp of another contig or the contaminant.

    Fragments of ~400 bp across the junction give pairs with mates on different contigs and, when
    one side is the contaminant, pairs with one mate unmapped (flagstat's "singletons").
    """
    rng = np.random.default_rng(spec.seed + 2_000)
    nuclear = [c for c in spec.contigs() if c.length > 1_000_000 * spec.scale / 2]
    half = 500

    def piece(pool: np.ndarray, lo: int) -> np.ndarray:
        at = int(rng.integers(lo, pool.size - half))
        return pool[at : at + half]

    out: dict[str, np.ndarray] = {}
    for i in range(count):
        a, b = rng.choice(len(nuclear), size=2, replace=False)
        left = piece(seqs[nuclear[a].name], nuclear[a].n_gap)
        right = piece(contaminant, 0) if i % 2 else piece(seqs[nuclear[b].name], nuclear[b].n_gap)
        out[f"chimera{i}"] = np.concatenate([left, right])
    return out


def _align(spec: DatasetSpec, work: Path, fastqs: Sequence[str], logs: Path, say: Log) -> None:
    """The streaming part: nothing between the FASTQ files and the final BAM touches the disk
    except ``samtools sort``'s own spill files."""
    (work / "tmp").mkdir()
    rg = rf"@RG\tID:sim{spec.seed}\tSM:sim{spec.seed}\tLB:lib1\tPL:ILLUMINA"
    stages = [
        ("interleave", [sys.executable, "-m", "bench.datagen.fastq", "--dup-rate", f"{spec.dup_rate:g}",
                        "--seed", str(spec.seed), *fastqs]),
        # The sr preset drops secondary alignments; asking for the best one when it scores within
        # 1% of the primary (young repeats, segmental duplications) makes flagstat's line non-zero.
        ("minimap2", ["minimap2", "-ax", "sr", "-t", "2", "--secondary=yes", "-N", "1", "-p", "0.99",
                      "-R", rg, "ref.fa", "-"]),
        ("fixmate", ["samtools", "fixmate", "-m", "-u", "-", "-"]),
        ("sort", ["samtools", "sort", "-u", "-m", "1G", "-T", "tmp/sort", "-"]),
        ("markdup", ["samtools", "markdup", "-s", "-T", "tmp/markdup", "-", BAM_NAME]),
    ]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs: list[tuple[str, list[str], subprocess.Popen[bytes]]] = []
    upstream = None
    for i, (name, argv) in enumerate(stages):
        last = i == len(stages) - 1
        # The interleaver's progress goes to our stderr; the tools' chatter goes to log files.
        err = None if name == "interleave" else open(logs / f"{name}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            argv, cwd=work, env=env, stdin=upstream, stdout=None if last else subprocess.PIPE,
            stderr=err,
        )
        if err is not None:
            err.close()
        if upstream is not None:
            upstream.close()  # only the child holds the read end now, so SIGPIPE propagates
        upstream = proc.stdout
        procs.append((name, argv, proc))
    failures = []
    for name, argv, proc in procs:
        if proc.wait() != 0:
            failures.append((name, argv, proc.returncode))
    if failures:
        details = "; ".join(
            f"{name} ({' '.join(argv[:3])} ...) exited {code}: {_tail(logs / f'{name}.log')}"
            for name, argv, code in failures
        )
        raise DataGenError(f"alignment pipe failed in {work}: {details}")
    stats = dict(
        line.split(": ", 1) for line in (logs / "markdup.log").read_text().splitlines() if ": " in line
    )
    say(f"[data]     markdup: {stats.get('READ', '?')} records, "
        f"{stats.get('DUPLICATE TOTAL', '?')} marked duplicate (full report: logs/markdup.log)")


def _run_parallel(
    jobs: Sequence[tuple[str, list[str]]], cwd: Path, logs: Path, width: int, say: Log
) -> None:
    """Run ``jobs`` at most ``width`` at a time; fail with the log tail of the first that fails."""
    pending = list(jobs)
    running: dict[int, tuple[str, list[str], subprocess.Popen[bytes], float]] = {}
    while pending or running:
        while pending and len(running) < width:
            name, argv = pending.pop(0)
            with open(logs / f"art-{name}.log", "wb") as err:
                proc = subprocess.Popen(argv, cwd=cwd, stdout=err, stderr=subprocess.STDOUT)
            running[proc.pid] = (name, argv, proc, time.monotonic())
        pid, status = os.wait()
        if pid not in running:
            continue
        name, argv, proc, started = running.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            for _, _, other, _ in running.values():
                other.kill()
                other.wait()
            raise DataGenError(f"{' '.join(argv)} exited {proc.returncode}: {_tail(logs / f'art-{name}.log')}")
        say(f"[data]     art {name}: {time.monotonic() - started:.1f} s")


def _check_call(argv: list[str], cwd: Path, log: Path) -> None:
    with open(log, "wb") as err:
        code = subprocess.call(argv, cwd=cwd, stdout=err, stderr=subprocess.STDOUT)
    if code != 0:
        raise DataGenError(f"{' '.join(argv)} exited {code}: {_tail(log)}")


def _check_output(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise DataGenError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def _tail(path: Path, chars: int = 500) -> str:
    try:
        return path.read_text(errors="replace").strip()[-chars:] or "(empty log)"
    except FileNotFoundError:
        return "(no log)"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _count_bgzf_blocks(path: Path) -> int:
    """Count BGZF blocks by walking their headers (BSIZE in the BC extra field); no inflating."""
    count = 0
    with open(path, "rb") as fh:
        while header := fh.read(18):
            if len(header) < 18 or header[:4] != b"\x1f\x8b\x08\x04" or header[12:14] != b"BC":
                raise DataGenError(f"{path}: not a BGZF block at byte {fh.tell() - len(header)}")
            bsize = int.from_bytes(header[16:18], "little")
            fh.seek(bsize + 1 - 18, os.SEEK_CUR)
            count += 1
    return count


def _tool_versions() -> dict[str, str]:
    def first_line(argv: list[str], marker: str = "") -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "unavailable"
        lines = (out.stdout + out.stderr).splitlines()
        hits = [ln.strip() for ln in lines if marker in ln] if marker else [ln.strip() for ln in lines]
        return hits[0] if hits else "unknown"

    return {
        "samtools": first_line(["samtools", "--version"]),
        "minimap2": first_line(["minimap2", "--version"]),
        "art_illumina": first_line(["art_illumina"], "Version"),
    }
