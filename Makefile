# One-command entry points. `make sandbox` tries the bot in a browser (no token, no internet);
# `make run` sets up and starts the bot; `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup sandbox run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"

sandbox: setup
	$(BIN)/python -m bot sandbox $(ARGS)

run: setup
	$(BIN)/python -m bot run

lint: setup
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/mypy

# The suite runs in 4 pytest-xdist workers: most end-to-end tests wait on the fake Bot API, so
# 4 workers keep 2 cores busy; idle workers steal tests from busy ones.
test: lint
	$(BIN)/python -m pytest -q -n 4 --dist worksteal

bench: setup
	$(BIN)/python bench/import_objects.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
