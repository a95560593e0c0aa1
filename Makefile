# Sunlit: the two commands a newcomer needs are `make flatsat` and `make test`.
# Both create the virtual environment in .venv and install Sunlit into it first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FLATSAT_ARGS ?=

.PHONY: flatsat test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Bring up a simulated flatsat, watch it live for a while, stop it cleanly.
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis *.egg-info
