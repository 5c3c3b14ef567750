# Two commands set everything up on a fresh machine:
#   make lab    create .venv if needed, install nfdlib with its notebook extras, open JupyterLab on notebooks/
#   make test   create .venv if needed, install, run every test (unit tests, notebooks in quick mode, pairs, lint,
#               the explorer in a headless browser)
#   make explore  serve the explorer (notebook 08) alone as a web app with Voila (answers on demand)
# Installing happens again only when pyproject.toml changes (the stamp file records the last install).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nfdlib-installed
# Tried first when torch is not installed yet: on the project's machines this exact version is a local CPU
# wheel (a plain 'torch' would pull a 5 GB CUDA build there). Elsewhere it falls back to plain 'torch'.
TORCH_FIRST ?= torch==2.13.0
PORT   ?= 8888
# Extra JupyterLab options, e.g. LAB_ARGS=--no-browser
LAB_ARGS ?=
# The standalone explorer (notebook 08 served by Voila, code hidden): its port and extra Voila options.
EXPLORE_PORT ?= 8866
VOILA_ARGS ?=
# Parallel workers for the unit tests and for the notebooks (nbmake races for ports beyond 2; see STYLE.md).
WORKERS ?= 2

export OMP_NUM_THREADS ?= 1

.PHONY: lab explore test test-unit test-notebooks test-browser test-pairs lint book sync clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH_FIRST)" \
		|| $(BIN)/python -m pip install torch
	$(BIN)/python -m pip install -e ".[dev]"
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=$(PORT) \
		$(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

# The explorer as a web app on 127.0.0.1 with a login token (printed in the address); Ctrl-C stops it. Voila runs
# notebook 08 with its code hidden; there the guided experiments' answers compute only when their button is pressed
# (nfdlib.widgets.on_demand_answer), so the app shows the explorer after its first update, not after every answer.
explore: $(STAMP)
	$(BIN)/voila notebooks/08_explorer.ipynb --no-browser --Voila.ip=127.0.0.1 --port=$(EXPLORE_PORT) --token \
		$(VOILA_ARGS)

test: $(STAMP)
	$(MAKE) --no-print-directory lint test-unit test-notebooks test-browser

lint: $(STAMP)
	$(BIN)/ruff check nfdlib tests notebooks benchmarks

test-pairs: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_notebook_pairs.py

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) -m "not browser" --junitxml=build/junit-unit.xml tests

# The explorer served by Voila and notebook 08 in JupyterLab, driven by headless Chromium (skipped, with the
# reason printed, where Chromium or Playwright is missing; .ci/run installs them).
test-browser: $(STAMP)
	$(BIN)/python -m pytest -q -m browser -rs --junitxml=build/junit-browser.xml tests/test_browser.py

test-notebooks: $(STAMP)
	NFD_QUICK=1 $(BIN)/python -m pytest -q -n $(WORKERS) --nbmake --nbmake-timeout=300 \
		--junitxml=build/junit-notebooks.xml notebooks

# Every notebook in full mode, rendered to HTML under build/ (slow; not run by CI).
book: $(STAMP)
	mkdir -p build/book
	NFD_QUICK=0 $(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=1800 \
		--output-dir build/book notebooks/[0-9]*.ipynb

# Regenerate every notebooks/NN_name.ipynb from its percent-format source (--update keeps the cell ids, so an
# unchanged notebook stays byte-for-byte the same).
sync: $(STAMP)
	$(BIN)/jupytext --update --to ipynb notebooks/[0-9]*.py

clean-venv:
	rm -rf $(VENV)
