"""Rule cohort_aggregate: merge the groups' results and write the cohort's tables, summary and plot."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    import logging
    from pathlib import Path

    from bams3.cohort import CohortResult, merge_results, render_outputs

    sm = snakemake  # noqa: F821
    result = merge_results([CohortResult.from_json(Path(p).read_bytes(), name=p) for p in sm.input.groups])
    if not sm.params.allow_failures:
        result.raise_for_failures()  # the merge compares reference builds across groups
    for role, data in render_outputs(result, plot=sm.params.plot).items():
        Path(getattr(sm.output, role)).write_bytes(data)
    logging.getLogger("bams3.cohort").info(
        "%d samples (%d failed) x %d regions; %d requests, %d bytes read",
        len(result.outcomes), len(result.failed), len(result.regions), result.io.requests, result.io.bytes_in,
    )


run(main)
