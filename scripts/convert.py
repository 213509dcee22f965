"""Rule convert_dataset: a BAM into a BAMS3 dataset (bams3.dataset.convert), then its receipt."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 - Snakemake injects `snakemake`

from _logged import run  # noqa: E402


def main() -> None:
    import json

    from bams3.dataset import convert
    from bams3.units import parse_bases

    result = convert(
        snakemake.params.bam,  # noqa: F821
        snakemake.params.dataset,  # noqa: F821
        bin_size=parse_bases(snakemake.params.chunk_size),  # noqa: F821
        level=int(snakemake.params.level),  # noqa: F821
        workers=snakemake.threads,  # noqa: F821
        overwrite=True,  # a rerun replaces the dataset (it stays readable until the new one is committed)
    )
    receipt = {"sample": snakemake.wildcards.sample, **result.receipt()}  # noqa: F821
    with open(snakemake.output.receipt, "w", encoding="utf-8") as out:  # noqa: F821
        json.dump(receipt, out, indent=2)
        out.write("\n")


run(main)
