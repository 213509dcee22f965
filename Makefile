# bams3: the two commands users run are `make demo` and `make test`.
# Everything they need (Debian packages, the virtualenv, pip packages) is installed here.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# Debian packages the build and the tests need (a C compiler for the record walker).
DEB_BUILD := gcc libc6-dev make libdeflate-dev
DEB_BENCH := samtools art-nextgen-simulation-tools minimap2 time curl rclone

.PHONY: all demo test fuzz bench docs install system-packages clean distclean

all: test

# Debian's own python3.11 ships venv/ensurepip separately (python3.11-venv): install it when missing.
$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); bash tools/ensure-debian-packages.sh python3.11-venv && $(PYTHON) -m venv $(VENV); }

# Install missing Debian packages (root or sudo). Checked on every run (a dpkg query per package,
# instant when all are present), so a package added to DEB_BUILD reaches existing checkouts too.
system-packages:
	@bash tools/ensure-debian-packages.sh $(DEB_BUILD)

$(STAMP): pyproject.toml setup.py $(wildcard src/bams3/*/*.c src/bams3/*/*.h) | system-packages $(VENV)/bin/python
	$(PIP) install --quiet --upgrade pip 'setuptools>=77'
	$(PIP) install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

## make demo: set up, generate a small realistic data set, run the workflow end to end on local disk
demo: $(STAMP)
	@bash tools/demo.sh

## make test: set up and run the whole test suite
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## make fuzz: a longer fuzzing run than the time-boxed one inside `make test`
fuzz: $(STAMP)
	BAMS3_FUZZ_EXAMPLES=20000 $(PY) -m pytest tests -m fuzz -p no:timeout $(PYTEST_ARGS)

## make docs: regenerate the generated references (docs/CLI.md, docs/HANDLERS.md, docs/schemas/)
docs: $(STAMP)
	$(PY) -m bams3.cli.docs docs/CLI.md
	$(PY) -m bams3.handlers.docs docs

## make bench: side-by-side benchmarks against samtools, written to docs/BENCHMARKS.md
bench: $(STAMP)
	@bash tools/ensure-debian-packages.sh $(DEB_BENCH)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf build src/*.egg-info .pytest_cache demo-run
	find src -name '*.so' -delete

distclean: clean
	rm -rf $(VENV) bench/.cache
