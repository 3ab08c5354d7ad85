# salesfolio: `make run` starts the product on a demo workspace; `make test` runs every check CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp
WORKSPACE ?= demo-workspace
PYTEST_ARGS ?=

.PHONY: venv run demo test lint typecheck pytest bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	@test -f $(WORKSPACE)/salesfolio.toml || $(BIN)/salesfolio demo $(WORKSPACE)

run: demo
	$(BIN)/salesfolio serve --workspace $(WORKSPACE)

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
