# One entry point for readers, authors and CI. Run `make help` for the list.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

# Quiet TensorFlow (C++ log lines, the oneDNN notice) in every kernel these targets start;
# the notebooks' setup cells set the same for readers who open them elsewhere.
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export PYTHONHASHSEED := 0

.DEFAULT_GOAL := help
.PHONY: help venv book serve lab test lint pytest nbval book-strict execute bench lock clean distclean

help:  ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP)  ## Create or refresh the virtualenv in .venv

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) tools/check_env.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned requirements into $(VENV) (first time: a few minutes)..."
	@$(BIN)/python -m pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1 || true
	@if ! $(BIN)/python -m pip install --quiet -r requirements.txt >> $(VENV)/install.log 2>&1; then \
	  echo "error: could not install the pinned packages (full log: $(VENV)/install.log)." >&2; \
	  grep -m1 -E "ERROR: Could not find|NewConnectionError|Name or service" \
	    $(VENV)/install.log | sed "s/^ */  /" >&2 || true; \
	  echo "The first install downloads about 1.5 GB from PyPI: check the network (pip honours" >&2; \
	  echo "HTTPS_PROXY) and that Python is 3.11-3.13, then run the same make command again." >&2; \
	  exit 1; \
	fi
	@touch $@

book: $(STAMP)  ## Build the website into _build/html
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/_build/html/index.html  (or run: make serve)"

serve: book  ## Build, then serve the website on http://127.0.0.1:8000 (PORT=... to change)
	@echo "Serving http://127.0.0.1:$(PORT)/  (Ctrl-C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

lab: $(STAMP)  ## Open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

test: lint pytest nbval book-strict  ## Everything CI checks, in order, stopping at the first failure

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

pytest: $(STAMP)
	$(BIN)/pytest tests/

nbval: $(STAMP)
	$(BIN)/pytest --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg -n 2 --dist loadfile notebooks/

book-strict: $(STAMP)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

execute: $(STAMP)  ## Re-execute every notebook in place (authors, after editing)
	$(BIN)/python tools/execute_notebooks.py $(NOTEBOOKS)

bench: $(STAMP)  ## Run the benchmarks, print their tables, update book/performance/
	$(BIN)/python benchmarks/run.py

lock:  ## Regenerate requirements.txt from requirements.in (needs uv)
	uv pip compile --universal --python-version 3.11 requirements.in -o requirements.txt

clean:  ## Remove the built site and caches (keeps the virtualenv)
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean  ## Also remove the virtualenv
	rm -rf $(VENV)
