# The two set-up commands: `make run` and `make test`. Nothing else is needed by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install libmagic graphviz lint test-sqlite test-postgres chromium bench clean

$(BIN)/casemgr: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: libmagic graphviz $(BIN)/casemgr

# Evidence media types are detected by Debian's libmagic (python-magic loads it); install it if missing.
libmagic:
	@ldconfig -p | grep -q 'libmagic\.so\.1' || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libmagic1; }

# Playbook run graphs are laid out by Graphviz `dot` (casemgr/playbooks/graph.py); install it if missing.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz; }

run: install
	$(BIN)/casemgr init
	$(BIN)/casemgr serve --host $(HOST) --port $(PORT)

# Installs Debian's Chromium for the browser tests where it is missing (needs root or sudo).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

lint: install
	$(BIN)/ruff check casemgr tests bench wsgi.py
	$(BIN)/mypy

test-sqlite: install chromium
	$(BIN)/pytest

# Runs when PostgreSQL answers; in CI (CI=true) an unreachable server fails the run.
test-postgres: install chromium
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(subst +psycopg,,$(PG_TEST_URL))', connect_timeout=3).close()" 2>/dev/null \
	   || [ "$$CI" = "true" ]; then \
	  CASEMGR_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest; \
	else echo "PostgreSQL at $(PG_TEST_URL) is not reachable: skipping the PostgreSQL pass (CI never skips it)"; fi

test: lint test-sqlite test-postgres

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
