# The two commands of the README, plus the quality gates. Each target creates/updates .venv on its own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow test-fuzz bench lint typecheck contracts check clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## The gateway's main job on its embedded default (sandbox: emulated Graph + NgDP, SQLite).
demo: $(STAMP)
	$(BIN)/graph-dpg sandbox

## Everything needed, then the default test suite (fast: unit, integration on emulators, SQLite + PostgreSQL).
test: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -m "not slow"

## The property tests only, randomised (Hypothesis profile "fuzz", tests/conftest.py) with 20x the examples.
test-fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -m hypothesis

## The process-level scenarios: SIGKILL crash runs, 3-replica scale-out, chaos, 10,000-recipient mass delivery.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

## Every benchmark, written up in docs/benchmarks.md with a throughput plot (needs the bench extra).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run_all

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy graph_dpg

contracts: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck contracts test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
