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

# pytest exits 5 when it collected no test. For `test` and `test-fuzz` that means nothing was tested, a
# failure said in words; `test-slow` selecting nothing (no test marked slow) is not, and exits 0.
NO_TESTS := echo "pytest collected no test (exit 5): nothing was tested" >&2

## Everything needed, then the default test suite (fast: unit, integration on emulators, SQLite + PostgreSQL).
## Deterministic: the Hypothesis profile "ci" (tests/conftest.py) tries the same examples on every run.
## Parallel (pytest-xdist): TEST_WORKERS processes, 2 by default (the 2-core CI machine; `make test
## TEST_WORKERS=4` on a bigger one, TEST_WORKERS=0 runs in this process). --dist loadfile keeps each test file
## on one worker, so a module's costly fixture (the sandbox run, the test PKI) is built once.
TEST_WORKERS ?= 2
test: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile || { rc=$$?; [ $$rc -ne 5 ] || $(NO_TESTS); exit $$rc; }

## The property tests only, randomised (Hypothesis profile "fuzz") with 20x the examples.
test-fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -m hypothesis || { rc=$$?; [ $$rc -ne 5 ] || $(NO_TESTS); exit $$rc; }

## The process-level scenarios: SIGKILL crash runs, 3-replica scale-out, 100,000-row and 10,000-recipient mass
## delivery. The chaos run is bench/chaos.py (CI runs it once, on its own: it restarts PostgreSQL).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow || { rc=$$?; [ $$rc -ne 5 ] || { echo "no slow scenario selected"; exit 0; }; exit $$rc; }

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
