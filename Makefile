# The two commands of the README:
#   make demo   set up .venv (CPU torch first) and run the main job on the synthetic graph
#   make test   set up .venv and run the whole default test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.graphrep-installed
RUN    ?= runs/default
# the CPU wheel of torch must be installed before anything that depends on torch
TORCH  ?= torch==2.13.0

.PHONY: setup demo test test-slow lint bench clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# the main job, from scratch: train on the default synthetic graph, export, evaluate
demo: $(STAMP)
	rm -rf $(RUN)
	$(BIN)/graphrep train --preset default --out $(RUN)
	$(BIN)/graphrep embed $(RUN)
	$(BIN)/graphrep eval $(RUN)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check graphrep tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
