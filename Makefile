# The README's two commands: `make run` (set up + run the pipeline) and `make test`.
# Set-up is idempotent: the venv is rebuilt only when requirements.lock or pyproject.toml change.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run site push pull test test-real-year test-fast lint format bench nb-clean nbdime clean-venv

setup: $(STAMP)

# uv installs the lock (pinned: the installer is part of the set-up): under a minute here where pip
# took about 4. --compile-bytecode as pip does: these machines set PYTHONDONTWRITEBYTECODE, so a
# module without its .pyc is compiled again at every import (the whole suite ran 1.5x slower).
# torch comes first, through pip: the CPU build lies on this machine's disk (pip's find-links),
# which uv does not look at; the lock's torch==2.13.0 is then already satisfied.
UV_VERSION := 0.13.10

$(STAMP): requirements.lock pyproject.toml
	@echo "Setting up .venv (torch CPU, then requirements.lock): about a minute the first time"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0 uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --no-deps --compile-bytecode -q -r requirements.lock  # the lock is complete
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# dvc.lock records the site's manifest, not _site/ (its bytes depend on the renderer): after the
# pipeline, _site/ is rendered again only when it is missing or older than its inputs (a fresh
# `dvc pull`, a `dvc checkout`); otherwise this prints that it is up to date.
run: setup
	$(BIN)/dvc repro
	$(BIN)/stoffwechsel build-site --if-stale

site: setup
	$(BIN)/stoffwechsel build-site --if-stale

# Upload every cached output of the workspace's dvc.lock to the default DVC remote (.dvc/config:
# a folder in ~/.cache shared by the clones on this machine, or the team's shared remote; README,
# "Sharing outputs: the DVC remote"). Run it after `make run`, and commit dvc.lock as usual.
push: setup
	$(BIN)/dvc push

# The other route to the same bytes: download the outputs dvc.lock names instead of recomputing
# them (those the remote lacks are skipped), then `dvc repro`, which runs nothing when every output
# came down and recomputes only the rest; the website (_site/, not in dvc.lock) is rendered if stale.
pull: setup
	$(BIN)/dvc pull --allow-missing
	$(BIN)/dvc repro
	$(BIN)/stoffwechsel build-site --if-stale

# The whole suite on two workers (pytest-xdist; tests that share the one `dvc repro` clone stay in
# one worker), a progress line per finished test, the slowest tests at the end.
test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder  # the order: tests/conftest.py

# Issue 25's goals on the whole UCI year (../shared/real-data), import to site: 5-10 minutes on
# 2 cores, by machine; not in `make test`, whose CI must stay under 30 minutes (README); tests/test_real_data.py.
test-real-year: setup
	STOFFWECHSEL_REAL_YEAR=1 $(BIN)/python -m pytest -q tests/test_real_data.py -k whole_real_year

# The edit loop: unit and contract tests, no `dvc repro` in clones (marker `pipeline`) and none
# of the minute-long property and identity searches (marker `slow`).
test-fast: setup
	$(BIN)/python -m pytest -n 2 -q -m "not pipeline and not slow"

# ruff (config in pyproject.toml): the linter, and the formatter in check mode. `make format` rewrites.
lint: setup
	$(BIN)/ruff check lib tests notebooks
	$(BIN)/ruff format --check lib tests notebooks

format: setup
	$(BIN)/ruff check --fix lib tests notebooks
	$(BIN)/ruff format lib tests notebooks

# Benchmarks (not tests): reports/benchmarks.json and docs/performance.md.
bench: setup
	$(BIN)/stoffwechsel bench

# Strip outputs and volatile metadata from the source notebooks (keeps cell ids) and reset the
# notebook metadata Jupyter rewrites (language_info, kernel display name): no metadata diff left.
nb-clean: setup
	$(BIN)/stoffwechsel nb-clean notebooks/*.ipynb notebooks/pages/*.ipynb

clean-venv:
	rm -rf $(VENV)

# Review notebook changes cell by cell: `git diff` then uses nbdime for *.ipynb (outputs, metadata
# and execution counts ignored), with absolute paths to this venv, so it works without activating it
# (`git log -p` shows nbstripout's cleaned JSON). Re-run after moving the clone.
nbdime: setup
	$(BIN)/stoffwechsel nb-git-config
