# The two commands of the README:
#   make lab   — create .venv, install the pinned stack, build the chapters, open JupyterLab on chapters/
#   make test  — create .venv, install the pinned stack + test tools, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LAB_ARGS ?=
# nbgrader runs `alembic` by name: the venv's bin/ must be on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: lab test build lint bench clean

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

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(VENV)/.installed
	$(BIN)/ruff check .

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_conv.py

clean:
	rm -rf autograder/build .pytest_cache
