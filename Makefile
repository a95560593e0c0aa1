# Sunlit: the two commands a newcomer needs are `make flatsat` and `make test`.
# Both create the virtual environment in .venv and install Sunlit into it first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FLATSAT_ARGS ?=

.PHONY: flatsat test lint typecheck unit bench scenarios campaign arm64-smoke clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Fly the demo mission (about 2 minutes) and write its report.
flatsat: $(STAMP)
	$(BIN)/sunlit-hil flatsat $(FLATSAT_ARGS)

## Lint, type-check the flight software, run the whole test suite.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/python -m mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

## Benchmarks (not tests): ratios against baselines measured in the same run.
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

## Play every library scenario against a fresh testbed each; JUnit XML for CI.
scenarios: $(STAMP)
	$(BIN)/sunlit-hil scenario hil/scenarios --junit reports/scenarios.xml

## A fault-injection campaign (CAMPAIGN_ARGS="--runs 400 --workers 2 --out DIR").
CAMPAIGN_ARGS ?= --runs 40 --workers 2 --out reports/campaign
campaign: $(STAMP)
	$(BIN)/sunlit-hil campaign $(CAMPAIGN_ARGS)

## Build an arm64 Debian root, install Sunlit there, run the unit tests under qemu-user.
## Needs root and binfmt_misc; not part of `make test` (see docs/arm64.md).
arm64-smoke:
	hil/arm64/smoke.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis *.egg-info
