"""Rule cohort_group: one group of samples x every region (bams3.cohort.run_cohort), as a partial result."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    from pathlib import Path

    from bams3.cohort import CohortSample, run_cohort
    from bams3.regions import Region

    sm = snakemake  # noqa: F821
    result = run_cohort(
        [CohortSample(name, url) for name, url in sm.params.datasets],
        [Region(contig, start, end, name) for contig, start, end, name in sm.params.regions],
        jobs=int(sm.params.jobs),
        coverage=bool(sm.params.coverage),
    )
    if not sm.params.allow_failures:
        result.raise_for_failures()
    Path(sm.output[0]).write_bytes(result.to_json())


run(main)
