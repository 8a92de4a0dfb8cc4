# The two commands of the README:
#   make lab   — create .venv, install the pinned stack, build the chapters, open JupyterLab on chapters/
#   make test  — create .venv, install the pinned stack + test tools (and Debian's chromium and postgresql),
#                run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LAB_ARGS ?=
# nbgrader runs `alembic` by name: the venv's bin/ must be on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

# The browser tests drive Debian's chromium (never a browser downloaded at run time).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: lab test build lint bench clean postgresql

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

lab: $(VENV)/.installed
	$(BIN)/course lab $(LAB_ARGS)

build: $(VENV)/.installed
	$(BIN)/course build

$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests (apt-get install chromium)..."
	-$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null

# The PostgreSQL gradebook test starts Debian's postgresql server (installed here when missing).
postgresql:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
		echo "Installing Debian's postgresql for the gradebook test (apt-get install postgresql)..."; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends postgresql >/dev/null; } || true

test: $(VENV)/.installed $(CHROMIUM) postgresql
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(VENV)/.installed
	$(BIN)/ruff check .

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_conv.py

clean:
	rm -rf build autograder/build .pytest_cache
