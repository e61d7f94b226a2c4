# The two commands of the README:
#   make demo   set up .venv (CPU torch first) and run the main job on the synthetic graph
#   make test   set up .venv and run the whole default test suite (what CI runs; it builds the
#               docs with warnings as errors and executes the notebooks)
# and the others:
#   make docs        the documentation site -> docs/_build/html/index.html
#   make notebooks   execute notebooks/*.ipynb with their small settings, store the outputs
#   make lab         install JupyterLab into .venv and open the notebooks on 127.0.0.1
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.graphrep-installed
LAB_STAMP := $(VENV)/.graphrep-lab-installed
RUN    ?= runs/default
# the CPU wheel of torch must be installed before anything that depends on torch
TORCH  ?= torch==2.13.0
# pip prints errors only (no progress bars, notices or build-backend chatter)
PIP    := $(BIN)/python -m pip install -qq --disable-pip-version-check --no-warn-script-location
LAB_PORT ?= 8888
LAB_ARGS ?=
# JupyterLab refuses to run as root unless told (containers often are root)
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup demo test test-slow lint bench docs notebooks lab clean

$(STAMP): pyproject.toml setup.py
	@echo "setup: creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@echo "setup: installing $(TORCH) (CPU)"
	@$(PIP) $(TORCH)
	@echo "setup: installing graphrep (editable) with its test and docs tools"
	@$(PIP) -e '.[dev,docs]'
	@echo "setup: compiling the numba kernels once (cached for every later run)"
	@$(BIN)/python -m graphrep.warmup
	@touch $(STAMP)
	@echo "setup: done ($(VENV))"

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
	$(BIN)/ruff check graphrep tests benchmarks docs tools

# the API reference, user guide, configuration reference and notebooks, from the code
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

# execute the notebooks top to bottom and store them with their outputs (commit the result)
notebooks: $(STAMP)
	$(BIN)/python tools/notebooks.py --write

$(LAB_STAMP): $(STAMP)
	@echo "lab: installing JupyterLab and ipywidgets"
	@$(PIP) -e '.[notebooks]'
	@touch $(LAB_STAMP)

# JupyterLab on http://127.0.0.1:$(LAB_PORT) with notebooks/ open (LAB_ARGS=--no-browser on a server)
lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
		--ServerApp.root_dir=notebooks $(LAB_ROOT) $(LAB_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache docs/_build docs/_generated
