"""``bams3 cohort``: read counts (and depth) of many BAMS3 datasets in many regions, as one table."""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "cohort",
        help="many datasets x many regions: counts table, matrix, summary and plot",
        description=(
            "Count the reads of every dataset in every region (what 'samtools view -c BAM REGION' prints for "
            "each pair) without downloading anything: each dataset's metadata is fetched once, bins wholly "
            "inside a region are counted from it, and only chunk frames at region edges are read (each once per "
            "dataset, however many overlapping regions need it). Writes into "
            "OUTDIR: table.tsv and table.parquet (one row per sample and region; start/end 0-based as in BED), "
            "matrix.tsv (samples x regions; with --coverage also depth_matrix.tsv), summary.json (totals per "
            "region and per sample, failed samples, requests and bytes against downloading the whole BAMs) "
            "and plot.png."
        ),
        epilog=(
            "Datasets: a URL ending in .bams3 is one dataset (the sample is the name before .bams3); any other "
            "folder or s3:// prefix is listed for <name>.bams3 datasets at any depth. A failed sample (missing, "
            "incomplete or corrupt dataset, or lacking a region's reference) is reported in summary.json and on "
            "stderr while the others complete; the exit status is then 1. "
            "Example: bams3 cohort s3://bucket/cohort/ -R panel.bed -o s3://bucket/results/panel --jobs 32"
        ),
    )
    parser.add_argument("datasets", nargs="*", metavar="DATASET",
                        help="a dataset (.../NAME.bams3) or a folder / s3:// prefix to list for datasets")
    parser.add_argument("-f", "--datasets-file", action="append", default=[], metavar="FILE",
                        help="file naming one dataset per line: URL, or SAMPLE<TAB>URL (repeatable)")
    parser.add_argument("-r", "--region", action="append", default=[], metavar="REGION",
                        help="a region in samtools syntax, 1-based inclusive: chr1, chr1:1000-2000, chr20:10M-11M, "
                             "{HLA-A*01:01}:1-100 (repeatable)")
    parser.add_argument("-R", "--regions-file", action="append", default=[], metavar="FILE",
                        help="a BED file (0-based, end exclusive; 4th column names the region) or a file of "
                             "samtools-style regions, one per line (repeatable)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="folder or s3:// prefix for the outputs (files there are replaced)")
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help="requests in flight at once (threads; the work waits on the network, so more than "
                             "the number of cores pays off; default: 16)")
    parser.add_argument("--coverage", action="store_true",
                        help="also measure aligned bases and mean depth per region (as samtools depth -a -J; reads "
                             "every chunk frame overlapping a region instead of counting from metadata)")
    parser.add_argument("--plot", choices=["auto", "heatmap", "distribution", "none"], default="auto",
                        help="plot.png: a samples x regions heatmap, per-region distributions over samples, or "
                             "none; auto draws a heatmap up to 50 samples (default: %(default)s)")
    parser.add_argument("--fail-fast", action="store_true",
                        help="stop at the first failed sample (exit with its error, write nothing)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or progress log lines")
    from ._common import add_io_stats_argument

    add_io_stats_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cohort import IoCost, collect_samples, run_cohort, summary, write_outputs
    from ..io.metrics import IO_STATS
    from ..errors import UsageError
    from ..regions import parse_regions, read_regions
    from ..units import format_bytes
    from ._common import print_io_stats

    regions = parse_regions(args.region)
    for path in args.regions_file:
        regions += read_regions(path)
    if not regions:
        raise UsageError("give regions with -r REGION or -R FILE")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    options = {} if args.jobs is None else {"jobs": args.jobs}
    try:
        with IO_STATS.scope() as listing:  # listing prefixes is part of what the query costs
            samples = collect_samples(args.datasets, args.datasets_file)
        result = run_cohort(samples, regions, coverage=args.coverage, fail_fast=args.fail_fast,
                            show_progress=not args.no_progress, **options)
        result = result.plus_io(IoCost.from_snapshot(listing.snapshot()))
        written = write_outputs(result, args.output, plot=None if args.plot == "none" else args.plot)
    finally:
        print_io_stats(args)
    doc = summary(result)
    cost = doc["cost"]
    n, m = len(result.outcomes), len(result.regions)
    print(f"{n} samples x {m} regions in {result.seconds:.1f} s with {result.jobs} jobs: "
          f"{doc['samples']['succeeded']} succeeded, {doc['samples']['failed']} failed")
    whole = cost["whole_bam_download"]["bytes"]
    versus = f" ({100 * cost['fraction_of_whole_bam_download']:.3g}% of downloading the BAMs, {format_bytes(whole)})" \
        if whole else ""
    print(f"I/O: {cost['requests']:,} requests ({cost['requests_per_query']:.2f} per sample and region), "
          f"{format_bytes(cost['bytes_in'])} read{versus}")
    print(f"results in {args.output}: {', '.join(url.rsplit('/', 1)[-1] for url in written.values())}")
    for failure in doc["failed"]:
        print(f"bams3 cohort: sample {failure['sample']} failed: {failure['error']}", file=sys.stderr)
    return 1 if doc["failed"] else 0
