#!/usr/bin/env bash
# Snakemake runs this inside the environment of envs/bams3.yaml right after creating it, from the working
# directory, as `bash <path of this file in the workflow>`: install bams3 from the source tree this file
# belongs to. --no-deps: the environment file pins every dependency. pip fetches the build requirements of
# pyproject.toml (setuptools, wheel) from PyPI, as it fetched the pip section of the environment; the
# C helper is compiled by the environment's compiler. The build happens in a copy, so that the workflow's
# source tree (perhaps shared by many users) gets no build/ or egg-info.
set -euo pipefail
source_tree="$(cd "$(dirname "$0")/.." && pwd)"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cp -r "$source_tree/pyproject.toml" "$source_tree/setup.py" "$source_tree/README.md" "$source_tree/src" "$build/"
find "$build/src" \( -name '*.so' -o -name '__pycache__' -o -name '*.egg-info' \) -prune -exec rm -rf {} +
python -m pip install --no-deps "$build"
python -c "import bams3, bams3.bam._walk; print('bams3', bams3.__version__, 'from', '$source_tree')"
