# One command to set up and run, one to set up and test. Needs Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup pdf-libs run chat test lint browser mcp-servers postgres nginx langgraph langgraph-dev phoenix bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	# Tracing second, against what is installed: seconds, instead of minutes of backtracking.
	$(BIN)/pip install --quiet -e ".[dev,tracing]"
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

# The browser test drives Debian's Chromium through playwright (no browser download); the emoji
# font makes its screenshots (docs/screens/) look as on a desktop.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; \
	  else echo "note: /usr/bin/chromium is missing (apt-get install chromium); the browser test will be skipped"; fi; \
	fi

# The MCP tests start a real MCP server from PyPI. Servers depend on mcp 2.x while our client
# (langchain-mcp-adapters) needs mcp 1.x, so each lives in its own virtualenv, started by path.
MCP_TIME := .venv-mcp/time/bin/mcp-server-time

$(MCP_TIME):
	$(PYTHON) -m venv .venv-mcp/time
	.venv-mcp/time/bin/pip install --quiet "mcp-server-time==2026.10.19"

mcp-servers: $(MCP_TIME)

# The PostgreSQL tests start a throwaway server from Debian's postgresql-15 (fakes/postgres.py).
postgres:
	@if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null; \
	  else echo "note: /usr/lib/postgresql/15/bin/initdb is missing (apt-get install postgresql-15); the PostgreSQL tests will be skipped"; fi; \
	fi

# LangGraph Server (`langgraph dev`: LangGraph Studio, Agent Chat UI) in its own virtualenv,
# layered on .venv: a .pth file adds .venv's packages (this project included) after its own,
# and only langgraph-cli[inmem] and what it needs beyond them are installed here (about 10 s,
# where installing the whole project again took 70 s). Resolved together with Chainlit,
# langgraph-api's OpenTelemetry pins made pip backtrack for over 15 minutes; the newer
# versions it installs here shadow .venv's only in this virtualenv, which never imports Chainlit.
LANGGRAPH_VENV := .venv-langgraph

$(LANGGRAPH_VENV)/.installed: $(STAMP)
	rm -rf $(LANGGRAPH_VENV)
	$(PYTHON) -m venv $(LANGGRAPH_VENV)
	base=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  here=$$($(LANGGRAPH_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  echo "import site; site.addsitedir('$$base')" > "$$here/assistant-project-venv.pth"
	$(LANGGRAPH_VENV)/bin/pip install --quiet "langgraph-cli[inmem]>=0.4.40,<0.5"
	touch $@

langgraph: $(LANGGRAPH_VENV)/.installed

langgraph-dev: langgraph  ## LangGraph Server on http://127.0.0.1:2024 (Studio, Agent Chat UI)
	$(LANGGRAPH_VENV)/bin/langgraph dev --no-browser

# The proxy test runs docs/deploy/nginx.conf with Debian's nginx in front of two UI processes.
# (On a machine with systemd, Debian's package also starts its default site on port 80.)
nginx:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  else echo "note: nginx is missing (apt-get install nginx); the proxy test will be skipped"; fi; \
	fi

test: lint browser mcp-servers postgres nginx langgraph  ## lint, type-check and run every test
	$(BIN)/pytest

# A local Phoenix (traces UI) in its own virtualenv: its many dependencies never touch .venv.
# The UI and OTLP/HTTP listen on 127.0.0.1 only; Phoenix's OTLP/gRPC port (4317, or
# PHOENIX_GRPC_PORT) always listens on every interface. Checked with arize-phoenix 20.26.
PHOENIX_VENV := .venv-phoenix
PHOENIX_PORT ?= 6006

$(PHOENIX_VENV)/.installed:
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install --quiet --upgrade pip
	$(PHOENIX_VENV)/bin/pip install --quiet "arize-phoenix>=20"
	touch $@

phoenix: $(PHOENIX_VENV)/.installed  ## Phoenix on http://localhost:6006 (loopback only); traces in .data/phoenix
	@echo "then, in another shell: export PHOENIX_COLLECTOR_ENDPOINT=http://localhost:$(PHOENIX_PORT)"
	PHOENIX_WORKING_DIR=$(CURDIR)/.data/phoenix PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=$(PHOENIX_PORT) \
	  $(PHOENIX_VENV)/bin/phoenix serve

bench: setup  ## speed figures against the scripted servers (not part of the tests)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-mcp $(LANGGRAPH_VENV) $(PHOENIX_VENV) .pytest_cache .mypy_cache .ruff_cache
