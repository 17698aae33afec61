# Everything the project needs is installed from here into .venv/ at the repository root.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run console test install doctor clean

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

## Run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
