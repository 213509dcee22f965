"""Peak memory of ``bams3 cohort`` is bounded by ``--jobs``, not by the number of samples.

The command line runs in a child process that reports its own peak RSS, over 20 and then 200
copies of the small test datasets (formats 1 and 2) x 20 regions, with the heatmap forced (an image resampled to the figure's pixels once cost over
100 MB at 50 samples). No timing is asserted.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Cohort

#: peak RSS of a whole run, imports included (numpy, boto3, pyarrow, matplotlib): ~145 MB measured at
#: 200 samples; 287 MB when the outputs still went through pandas and the heatmap was an image
ABSOLUTE_LIMIT_MB = 250
#: what 180 more samples may add (the samples x regions result, the plot's larger figure)
GROWTH_LIMIT_MB = 40


#: runs the command line, then writes its process's peak RSS (``VmHWM``, kB) to the file named in argv[1]
_CHILD = """
import sys
from bams3.cli import main
try:
    code = main(sys.argv[2:])
finally:
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    open(sys.argv[1], "w").write(peak.split()[1])
sys.exit(code)
"""


def _peak_rss_mb(args: list[str], cwd: Path) -> float:
    """Peak resident set (MiB) of ``bams3 ARGS`` in a child process.

    Read from ``/proc/self/status`` by the child: ``ru_maxrss`` from ``wait4`` would report the
    parent's size, which a forked child carries through ``exec``."""
    report = cwd / "peak.txt"
    done = subprocess.run([sys.executable, "-c", _CHILD, str(report), *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(report.read_text()) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc/self/status")
def test_peak_memory_does_not_grow_with_samples(local_cohort: Cohort, tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    root.mkdir()
    names = []
    for i in range(200):
        source = local_cohort.samples[i % len(local_cohort.samples)]
        shutil.copytree(source.url, root / f"C{i:03d}.bams3")
        names.append(f"C{i:03d}\t{root / f'C{i:03d}.bams3'}\n")
    regions = [f"chr1:{1 + 9_000 * k}-{12_000 + 9_000 * k}" for k in range(12)]  # overlapping neighbours
    regions += ["chr2:1-40000", "chr2:30000-90000", "chr2:149000-150000", "chrM", "chrEmpty", "chr1:150000-200000",
                "chr2:2000-2100", "chr1:100000-100001"]
    (tmp_path / "regions.txt").write_text("\n".join(regions) + "\n")
    peaks = {}
    for n in (20, 200):
        (tmp_path / f"datasets-{n}.tsv").write_text("".join(names[:n]))
        peaks[n] = _peak_rss_mb(["cohort", "-f", f"datasets-{n}.tsv", "-R", "regions.txt", "-o", f"out-{n}",
                                 "--jobs", "16", "--plot", "heatmap", "--no-progress"], tmp_path)
        assert (tmp_path / f"out-{n}" / "summary.json").exists()
    assert peaks[200] < ABSOLUTE_LIMIT_MB, peaks
    assert peaks[200] - peaks[20] < GROWTH_LIMIT_MB, peaks
