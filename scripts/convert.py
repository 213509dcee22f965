"""Rule convert_dataset: a BAM into a BAMS3 dataset (bams3.dataset.convert), then its receipt."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    import json

    from bams3.dataset import convert
    from bams3.units import parse_bases
    from bams3.workflow.samples import job_bam

    p = snakemake.params  # noqa: F821
    # the real (maybe signed) URL comes from the sheet, never from params (Snakemake stores those)
    bam = job_bam(snakemake.config, p.sample, shown_bam=p.bam)  # noqa: F821
    result = convert(
        bam.bam,
        snakemake.params.dataset,  # noqa: F821
        bin_size=parse_bases(snakemake.params.chunk_size),  # noqa: F821
        format=int(p.format),
        level=None if p.level is None else int(p.level),
        workers=snakemake.threads,  # noqa: F821
        overwrite=True,  # a rerun replaces the dataset (it stays readable until the new one is committed)
    )
    receipt = {"sample": snakemake.wildcards.sample, **result.receipt()}  # noqa: F821
    with open(snakemake.output.receipt, "w", encoding="utf-8") as out:  # noqa: F821
        json.dump(receipt, out, indent=2)
        out.write("\n")


run(main)
