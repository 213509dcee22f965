#!/usr/bin/env bash
# `make demo`: generate two small realistic BAMs, run the workflow on them on local disk with 2 cores,
# and show where the results are. Everything goes to demo-run/ (removed by `make clean`); running it
# again reuses the BAMs and lets Snakemake decide what is left to do.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RUN=demo-run
DATA=$RUN/data
mkdir -p "$DATA"

if [ ! -s "$DATA/sampleA.bam" ] || [ ! -s "$DATA/sampleB.bam" ]; then
  echo "demo: generating two BAMs in $DATA (paired 150 bp reads, samtools-sorted; sampleA indexed, sampleB not)"
  PYTHONPATH=. "$PY" - "$DATA" <<'PYTHON'
import sys
from pathlib import Path
from tests.helpers.bamgen import write_bam

data = Path(sys.argv[1])
refs = (("chr1", 1_000_000), ("chr2", 600_000), ("chrM", 16_569))
write_bam(data / "sampleA.bam", n_pairs=60_000, seed=101, references=refs, edge_cases=True, long_reads=20)
write_bam(data / "sampleB.bam", n_pairs=25_000, seed=102, references=refs, edge_cases=True, index=False)
PYTHON
fi

printf 'sample\tbam\tindex\nsampleA\t%s\t\nsampleB\t%s\t\n' "$PWD/$DATA/sampleA.bam" "$PWD/$DATA/sampleB.bam" > "$RUN/samples.tsv"
cat > "$RUN/demo.yaml" <<YAML
# demo overrides on top of config/config.yaml: this sheet, and small shards so that the
# fan-out over shard jobs shows on a small BAM
samples: $PWD/$RUN/samples.tsv
chunks:
  shard_reads: 25000
cohort:
  activate: true
  regions: ["chr1:100,001-101,000", "chr1:200k-300k", "chr2", "chrM"]
  group_size: 1
YAML

echo "demo: running the workflow (snakemake --cores 2) in $RUN/"
SNAKEMAKE=(.venv/bin/snakemake --snakefile workflow/Snakefile --directory "$RUN"
           --configfile config/config.yaml "$RUN/demo.yaml")
"${SNAKEMAKE[@]}" --cores 2 --quiet rules
# The report: the QC figures and tables are part of the default target (workflow/rules/report.smk);
# --report gathers them with the cohort results into one self-contained HTML file.
echo "demo: writing the Snakemake report $RUN/report.html"
if ! report_log=$("${SNAKEMAKE[@]}" --report report.html 2>&1); then
  echo "$report_log" >&2
  exit 1
fi

echo
echo "demo: results in $RUN/results/chunks/<sample>/ (chunk_stats.jsonl, chunk_stats.parquet, summary.json, plan.json);"
echo "      figures and tables in $RUN/results/report/; logs in $RUN/logs/, benchmarks in $RUN/benchmarks/"
"$PY" - "$RUN/results/chunks" <<'PYTHON'
import json
import sys
from pathlib import Path

for summary_path in sorted(Path(sys.argv[1]).glob("*/summary.json")):
    s = json.loads(summary_path.read_text())
    passed = s["flagstat"]["QC-passed reads"]
    print(f"  {s['sample']}: {s['total_reads']:,} reads ({passed['mapped %']}% of QC-passed mapped) in "
          f"{s['total_chunks']:,} chunks of {s['chunk_size']}, {s['plan']['shards']} shard jobs "
          f"(planned from {s['plan']['method']}) -> {summary_path}")
PYTHON
echo "demo: BAMS3 datasets in $RUN/results/datasets/ (query one: .venv/bin/bams3 query $RUN/results/datasets/sampleA.bams3 chr1:100,001-101,000 --count)"
echo "demo: cohort counts (samples x regions) in $RUN/results/cohort/matrix.tsv:"
sed 's/^/      /' "$RUN/results/cohort/matrix.tsv"
n_figures=$(find "$RUN/results/report" -name '*.png' | wc -l)
echo
echo "demo: Snakemake report with $n_figures figures (reads and MAPQ along the genome, MAPQ histogram, read"
echo "      fractions per sample) and the per-sample table; open it in a browser:"
echo "      $PWD/$RUN/report.html"
