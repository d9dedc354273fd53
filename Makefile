# One entry point for readers, authors and CI. Run `make help` for the list.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
NOTEBOOKS ?= $(sort $(wildcard notebooks/*.ipynb))

# Quiet TensorFlow in every kernel these targets start: C++ log lines, and the oneDNN notice,
# which only turning oneDNN off silences. Authors execute notebooks with these numerics.
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
# One order for sets of strings in every process make starts (kernels, pytest workers), so an
# output that iterates one comes out alike in `make execute` and `make nbval`. It came with the
# first Makefile, unexplained. On 2026-12-07 nothing depended on it: strict nbval of every
# chapter passed with PYTHONHASHSEED=random (447 cells), and pytest collected the same tests in
# the same order under seeds 1 and 2. Readers' kernels hash at random, so chapters sort what
# they print, and this seed would hide an unsorted set from nbval. It can go at any time;
# better still, NBVAL_NUMERICS could set another seed, so that the guard catches such a set.
export PYTHONHASHSEED := 0

# The guard: nbval re-executes the notebooks under OTHER numerics than `make execute` stored
# them with, as another machine would: oneDNN kernels on, one intra-op thread, and every
# optimizer step nudged in the last bits (tools/nbval_drift.py says why). An output that
# depends on the bits of training fails here, on the author's machine, not elsewhere.
NBVAL_NUMERICS ?= TF_ENABLE_ONEDNN_OPTS=1 TF_NUM_INTRAOP_THREADS=1 \
	PYTHONSTARTUP=$(CURDIR)/tools/nbval_drift.py

.DEFAULT_GOAL := help
.PHONY: help venv book serve lab test lint pytest nbval nbval-jax nbval-torch book-strict site \
	site-tests execute bench compat compat-corners export-zoo lock clean distclean

help:  ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP)  ## Create or refresh the virtualenv in .venv

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@$(PYTHON) tools/check_env.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned requirements into $(VENV) (first time: a few minutes)..."
	@$(BIN)/python -m pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1 || true
	@if ! { $(BIN)/python -m pip install --quiet -r requirements.txt && \
	  $(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt; } >> $(VENV)/install.log 2>&1; then \
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

# nbval and the site's build and tests run side by side: the book shows the stored outputs, so
# it does not wait for nbval, and it fills the CPU that nbval's kernels leave idle. GNU make 4
# prints each job's output in one piece when it ends; make 3.81 (macOS) interleaves the lines.
OUTPUT_SYNC := $(if $(filter output-sync,$(.FEATURES)),--output-sync=target)

test: lint pytest  ## Everything CI checks (lint and pytest first, then nbval beside the site)
	@echo "nbval and the site (strict build, then its tests) now run side by side."
	@$(MAKE) --no-print-directory -j2 $(OUTPUT_SYNC) nbval site

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint

# Each pytest run leaves out the plugins it does not use: loading nbval imports nbformat, and
# hypothesis's plugin imports hypothesis, a few seconds per process (xdist starts three).
pytest: $(STAMP)  ## The library's tests and the book's structure (not the built site)
	$(BIN)/pytest -p no:nbval -n 2 --dist load tests/ \
	  --ignore=tests/test_site.py --ignore=tests/test_browser.py

# Three kernels on two cores: each one waits between cells (messages, Graphviz, file writes),
# and the third fills those gaps (4 interleaved pairs of `make test`: about 10 s less).
# tools/nbval_backends.py skips the cells tagged tensorflow-only on the other backends, and
# writes what each run compared to _build/nbval/BACKEND.json (the Versions page's book table).
# PYTHONPATH puts this checkout's src/ first, so a second checkout (a git worktree) that shares
# the virtualenv, whose editable install points elsewhere, runs its own library.
NBVAL_ARGS = -p no:hypothesispytest -p tools.nbval_backends --nbval --nbval-current-env \
	--nbval-sanitize-with nbval_sanitize.cfg -n 3 --dist loadfile

nbval: $(STAMP)  ## Re-execute the notebooks under the guard's numerics and compare every output
	env $(NBVAL_NUMERICS) KERAS_BACKEND=tensorflow PYTHONPATH=$(CURDIR)/src:$(CURDIR) $(BIN)/pytest \
	  $(NBVAL_ARGS) --nbval-summary _build/nbval/tensorflow.json $(NOTEBOOKS)

# The same stored outputs, re-verified on JAX and on PyTorch, each in a virtualenv of its own
# (requirements-jax.txt, requirements-torch.txt) without TensorFlow, as their readers have it.
nbval-jax: .venv-jax/.installed  ## The same nbval on the JAX backend (cells tagged tensorflow-only skipped)
	env KERAS_BACKEND=jax PYTHONPATH=$(CURDIR)/src:$(CURDIR) .venv-jax/bin/pytest \
	  $(NBVAL_ARGS) --nbval-summary _build/nbval/jax.json $(NOTEBOOKS)

nbval-torch: .venv-torch/.installed  ## The same nbval on the PyTorch backend
	env KERAS_BACKEND=torch PYTHONPATH=$(CURDIR)/src:$(CURDIR) .venv-torch/bin/pytest \
	  $(NBVAL_ARGS) --nbval-summary _build/nbval/torch.json $(NOTEBOOKS)

.venv-%/.installed: requirements-%.txt requirements-nodeps.txt pyproject.toml
	@$(PYTHON) tools/check_env.py
	@test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	@echo "Installing requirements-$*.txt into .venv-$* (first time: a minute or two)..."
	@if ! { .venv-$*/bin/python -m pip install --quiet -r requirements-$*.txt && \
	  .venv-$*/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt; } \
	  > .venv-$*/install.log 2>&1; then \
	  echo "error: could not install requirements-$*.txt (full log: .venv-$*/install.log)." >&2; \
	  if [ "$*" = torch ]; then echo "The CPU build of torch is on PyTorch's index: run" \
	    "PIP_EXTRA_INDEX_URL=$(TORCH_INDEX) make nbval-torch" >&2; fi; \
	  exit 1; \
	fi
	@touch $@

book-strict: $(STAMP)
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

site: book-strict  ## Build the site strictly, then test that build
	@$(MAKE) --no-print-directory site-tests

site-tests: $(STAMP)  ## Test the site that book-strict built (links, launch buttons, browser)
	BOOK_HTML=_build/html $(BIN)/pytest -p no:nbval -p no:hypothesispytest \
	  tests/test_site.py tests/test_browser.py

execute: $(STAMP)  ## Re-execute the notebooks in place (authors, after editing; NOTEBOOKS=... for some)
	$(BIN)/python tools/execute_notebooks.py $(NOTEBOOKS)

# The notebooks run on every backend, each in its own virtualenv (BACKEND=jax: on JAX alone;
# REPEATS=1: one run per notebook and backend instead of the median of 3).
BENCH_BACKENDS = $(or $(BACKEND),tensorflow jax torch)
BENCH_VENVS = $(if $(filter notebooks,$(or $(ONLY),notebooks)),$(patsubst \
	%,.venv-%/.installed,$(filter jax torch,$(BENCH_BACKENDS))))
bench: $(STAMP) $(BENCH_VENVS)  ## Run the benchmarks, update book/performance/ (ONLY=notebooks, BACKEND=jax)
	$(BIN)/python benchmarks/run.py $(if $(ONLY),--only $(ONLY)) --backends $(BENCH_BACKENDS) \
	  $(if $(REPEATS),--repeats $(REPEATS))

# The library's rows, then the whole book on each backend; the report fails on any failure.
compat: $(STAMP)  ## Library on every Keras, JAX and PyTorch; the book on all three; update book/versions/
	rm -rf .nox/compat _build/nbval
	$(BIN)/nox -t matrix; status=$$?; \
	for backend in jax torch; do \
	  $(BIN)/python tools/check_setup.py .venv-$$backend $$backend || status=1; \
	done; \
	for run in nbval nbval-jax nbval-torch; do \
	  $(MAKE) --no-print-directory $$run NOTEBOOKS="$(sort $(wildcard notebooks/*.ipynb))" || status=1; \
	done; \
	$(BIN)/python tools/compat_report.py && exit $$status

compat-corners: $(STAMP)  ## The floor row of the matrix (CI runs it)
	$(BIN)/nox -t corners

# The keras.applications that `make test` leaves out of tests/test_export.py for their cost
# (marked `slow`: 10 to 60 s each per format on two cores), on the three backends, each
# in its own virtualenv. Before a release, and after a change to exporting.py or an exporter's
# pin (on 2026-12-07 on two cores: 4.5 minutes on TensorFlow, 1.5 on JAX, 3.5 on PyTorch).
export-zoo: $(STAMP) .venv-jax/.installed .venv-torch/.installed  ## Every keras.applications model exported and verified on the three backends (slow)
	status=0; for backend in tensorflow jax torch; do \
	  python=$(BIN)/python; [ $$backend = tensorflow ] || python=.venv-$$backend/bin/python; \
	  env KERAS_BACKEND=$$backend PYTHONPATH=$(CURDIR)/src:$(CURDIR) $$python -m pytest \
	    -p no:nbval -p no:hypothesispytest -m slow tests/test_export.py || status=1; \
	done; exit $$status

# torch's CPU build comes from PyTorch's index (TORCH_WHEELS: an index, or --find-links DIR).
# The README's and the Running page's command name that index; the lock does not: a lock that
# named it would make pip ask it for every package, and where it is out of reach (this
# project's machines, which find the wheel in a local folder) pip's retries took 20 minutes.
# All this can go if PyPI ever carries torch's CPU-only Linux build: then the lock alone does.
TORCH_INDEX := https://download.pytorch.org/whl/cpu
TORCH_WHEELS ?= --extra-index-url $(TORCH_INDEX)
lock: $(STAMP)  ## Regenerate requirements*.txt from requirements*.in
	$(BIN)/uv pip compile --universal --python-version 3.11 requirements.in -o requirements.txt
	$(BIN)/uv pip compile --universal --python-version 3.11 requirements-jax.in \
	  -o requirements-jax.txt
	$(BIN)/uv pip compile --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  $(TORCH_WHEELS) requirements-torch.in -o requirements-torch.txt

clean:  ## Remove the built site and caches (keeps the virtualenv)
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean  ## Also remove the virtualenvs
	rm -rf $(VENV) .venv-jax .venv-torch
