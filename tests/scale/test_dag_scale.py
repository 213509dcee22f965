"""The DAG of a planned cohort: every shard job appears, for a cohort big enough to show the cost.

tools/dag-scale.py measures 100 to 1000 samples (docs/BENCHMARKS.md has the numbers); the suite builds
the issue's full size, 1000 samples x 10 shards with the cohort target (about 30 s of CPU). No timing is asserted (shared machines are noisy):
the test checks that the fabricated plans are read as done and expand into one job per shard, and prints
the time it took.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from .conftest import SNAKEFILE
from .dagscale import COHORT_CONFIG, measure

SAMPLES, SHARDS = 1000, 10
#: the cohort query joins the DAG once workflow/Snakefile includes its rules
COHORT = bool(re.search(r'^include: "rules/cohort\.smk"', SNAKEFILE.read_text(), re.MULTILINE))


def test_a_planned_cohort_of_1000_samples_expands_every_shard(tmp_path: Path) -> None:
    run = measure(SAMPLES, SHARDS, cohort=COHORT, workdir=tmp_path)
    print(run.line())
    jobs = run.jobs
    assert jobs["chunk_stats"] == SAMPLES * SHARDS and "plan_chunks" not in jobs
    assert jobs["aggregate_chunks"] == jobs["convert_dataset"] == SAMPLES
    if COHORT:
        group_size = COHORT_CONFIG.get("group_size", 50)
        assert jobs["cohort_group"] == math.ceil(SAMPLES / group_size)
