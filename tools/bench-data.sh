#!/usr/bin/env bash
# Print the path of the cached benchmark BAM, making it first if needed (about 2 minutes on 2 cores;
# seconds with --small). Arguments go to `python -m bench data` (--small, --coverage, --seed, ...).
# Progress goes to stderr, so scripts can do: BAM=$(bash tools/bench-data.sh --small)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/ensure-debian-packages.sh samtools art-nextgen-simulation-tools minimap2 time
exec .venv/bin/python -m bench data "$@"
