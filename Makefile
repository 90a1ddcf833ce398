# One command to set up and run, one to set up and test. Needs Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run chat test lint browser postgres bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: setup  ## start the chat UI on http://localhost:8000
	$(BIN)/assistant ui

chat: setup  ## chat in the terminal
	$(BIN)/assistant chat

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The browser test drives Debian's Chromium through playwright (no browser download).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: /usr/bin/chromium is missing (apt-get install chromium); the browser test will be skipped"; fi; \
	fi

# The PostgreSQL tests start a throwaway server from Debian's postgresql-15 (fakes/postgres.py).
postgres:
	@if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null; \
	  else echo "note: /usr/lib/postgresql/15/bin/initdb is missing (apt-get install postgresql-15); the PostgreSQL tests will be skipped"; fi; \
	fi

test: lint browser postgres  ## lint, type-check and run every test
	$(BIN)/pytest

bench: setup  ## speed figures against the scripted servers (not part of the tests)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
