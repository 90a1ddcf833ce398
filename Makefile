# One command to set up and run, one to set up and test. Needs Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup pdf-libs run chat test lint browser mcp-servers bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP) pdf-libs

# PDF export (WeasyPrint) needs Debian's Pango and a font with Greek glyphs (docs/export.md).
PDF_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
pdf-libs:
	@missing=$$(for p in $(PDF_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	  | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: PDF export needs: apt-get install $$missing"; fi; \
	fi

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

# The MCP tests start a real MCP server from PyPI. Servers depend on mcp 2.x while our client
# (langchain-mcp-adapters) needs mcp 1.x, so each lives in its own virtualenv, started by path.
MCP_TIME := .venv-mcp/time/bin/mcp-server-time

$(MCP_TIME):
	$(PYTHON) -m venv .venv-mcp/time
	.venv-mcp/time/bin/pip install --quiet "mcp-server-time==2026.10.19"

mcp-servers: $(MCP_TIME)

test: lint browser mcp-servers  ## lint, type-check and run every test
	$(BIN)/pytest

bench: setup  ## speed figures against the scripted servers (not part of the tests)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-mcp .pytest_cache .mypy_cache .ruff_cache
