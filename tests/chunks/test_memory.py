"""A shard job's memory does not grow with the size of the BAM (or of the shard)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bams3.chunks import ShardSizing, plan_by_scan, save_plan

#: runs one whole-BAM shard in a fresh interpreter and prints its peak RSS in KiB
_JOB = """
import resource, sys
from bams3.chunks import load_plan, run_shard
run_shard(sys.argv[1], load_plan(sys.argv[2]), 0, sys.argv[3])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss_kib(bam: Path, tmp_path: Path) -> int:
    plan = plan_by_scan(str(bam), sizing=ShardSizing(reads=10**12, bytes=None))  # one shard: the whole BAM
    assert len(plan.shards) == 1
    save_plan(plan, tmp_path / f"{bam.stem}.plan.json")
    done = subprocess.run([sys.executable, "-c", _JOB, str(bam), str(tmp_path / f"{bam.stem}.plan.json"),
                           str(tmp_path / f"{bam.stem}.jsonl")], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def test_peak_memory_is_flat_from_a_small_to_a_36x_bigger_bam(bams: dict[str, Path], big_bam: Path, tmp_path: Path) -> None:
    small = bams["edge_cases"]
    assert big_bam.stat().st_size > 30 * small.stat().st_size
    small_kib = _peak_rss_kib(small, tmp_path)
    big_kib = _peak_rss_kib(big_bam, tmp_path)
    # generous: the same interpreter and libraries plus a few more batches in flight; a job
    # holding the BAM (55 MB compressed, ~200 MB of records) would be far above this
    assert big_kib < small_kib + 48 * 1024, (small_kib, big_kib)
