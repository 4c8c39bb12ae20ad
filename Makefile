# Two entry points a new user needs: `make demo` and `make test`. Both build .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint install bwrap

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned first so pip never resolves a (multi-GB CUDA) torch on its own
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[model,dev,eval,otel,ray,inspect]'
	# BFCL's data and checker; --no-deps: it declares every provider SDK as a dependency
	$(PY) -m pip install -q --no-deps bfcl-eval==2026.3.23
	# AgentDojo's data and task code; --no-deps: it declares every benchmark's dependencies
	$(PY) -m pip install -q --no-deps inspect-evals==0.26.0
	touch $(STAMP)

install: $(STAMP)

# The python and shell tools run in a bubblewrap jail; install it where we can (root + apt).
bwrap:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null; } \
	  || echo "warning: bubblewrap (bwrap) is missing; install it, or the python tool refuses to run"

demo: $(STAMP) bwrap
	$(VENV)/bin/thinkact run "What is 17 * 23 + 4? Use the python tool to check."

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: $(STAMP) bwrap
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q
