# Two commands on a fresh machine: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Serves on OMNICART_HOST:OMNICART_PORT (default 127.0.0.1:8000), from the environment or
# the command line: `make demo OMNICART_PORT=8001`.
demo: install
	$(BIN)/omnicart demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two test processes: most of the suite waits on servers, subprocesses and PostgreSQL.
test: lint
	$(BIN)/pytest -q -n 2

bench: install
	$(BIN)/omnicart bench inventory --json
	$(BIN)/omnicart bench ingest --json
	$(BIN)/omnicart bench orders --json

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
