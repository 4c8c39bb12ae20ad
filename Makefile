# Two entry points a new user needs: `make demo` and `make test`. Both build .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint install

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned first so pip never resolves a (multi-GB CUDA) torch on its own
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[model,dev,eval]'
	# BFCL's data and checker; --no-deps: it declares every provider SDK as a dependency
	$(PY) -m pip install -q --no-deps bfcl-eval==2026.3.23
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/thinkact run "What is 17 * 23 + 4? Use the python tool to check."

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q
