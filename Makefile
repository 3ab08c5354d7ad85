# salesfolio: `make run` starts the product on a demo workspace; `make test` runs every check CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp
WORKSPACE ?= demo-workspace
PYTEST_ARGS ?=

.PHONY: venv run demo test lint typecheck pytest bench docs clean

# The venv holds salesfolio and its test tools; front-end assets come from npm (package-lock.json) and are
# copied into src/salesfolio/web/static/vendor/ so the app serves them itself (no CDN).
$(STAMP): pyproject.toml package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	$(BIN)/python scripts/vendor_assets.py
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	@test -f $(WORKSPACE)/salesfolio.toml || $(BIN)/salesfolio demo $(WORKSPACE)

run: demo
	$(BIN)/salesfolio serve --workspace $(WORKSPACE)

lint: venv
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: lint typecheck pytest

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
