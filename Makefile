# Everything the project needs is installed from here into .venv/ at the repository root.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run console test lint install doctor clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Start the bot: Slack / Feishu when credentials are set, otherwise the local console with a demo team.
run: $(STAMP)
	$(BIN)/flywheel run

console: $(STAMP)
	$(BIN)/flywheel console

doctor: $(STAMP)
	$(BIN)/flywheel doctor

## Lint: ruff (rules and formatting) and mypy, all configured in pyproject.toml; the tools come from the `lint` extra.
LINT_STAMP := $(VENV)/.lint-installed

$(LINT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Run the whole test suite, on two processes (pytest-xdist; TEST_WORKERS=1 for one): most tests wait on a database
## or on the bot's own subprocesses, so two share two cores well. `worksteal` keeps both busy to the end.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

## Benchmarks against the fake Slack, on SQLite and PostgreSQL (docs/benchmarks.md); about 10 minutes.
## make bench BENCH_ARGS="--quick" for a 2-minute first look; BENCH_ARGS="fanout --db sqlite" for one.
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --json bench-results.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
