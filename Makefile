# Two commands for a fresh machine (python3, node, npm, make, git, apt): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.repro-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: install demo test test-fast lint bench browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

# torch is pinned in constraints.txt (a local CPU wheel); the package itself accepts any torch >= 2.1.
# The sidebar's sources too: the install builds the labextension and copies it into the venv,
# which is where JupyterLab loads it from.
LABEXT_SRC := $(shell find labextension/src labextension/style -type f 2>/dev/null)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt labextension/package.json $(LABEXT_SRC)
	$(BIN)/pip install -c constraints.txt -e ".[test,torch,dask]"
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/repro-nb demo

# Debian chromium for the browser tests (Playwright never downloads a browser here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# jlpm comes with jupyterlab (jupyter_builder) inside the venv, not on PATH.
lint: install
	$(BIN)/ruff check repro_nb tests bench
	$(BIN)/ruff format --check repro_nb tests bench
	$(BIN)/mypy repro_nb
	cd labextension && PATH="$(CURDIR)/$(BIN):$$PATH" jlpm lint

test: install browser-deps lint
	cd labextension && PATH="$(CURDIR)/$(BIN):$$PATH" jlpm test
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser"

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) repro_nb/labextension labextension/node_modules labextension/lib demo-out
