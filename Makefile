# make demo: the tour of the main job.  make test: the whole suite.  make bench: the benchmarks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
ARGS   ?=

.PHONY: demo test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.core: $(PY) pyproject.toml
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(VENV)/.demo: $(VENV)/.core
	$(PY) -m pip install -q -e '.[viz,sym]'
	touch $@

$(VENV)/.bench: $(VENV)/.core
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

demo: $(VENV)/.demo
	$(PY) -m chainrule tour

test: $(VENV)/.dev
	$(PY) -m ruff check chainrule tests benchmarks
	$(PY) -m pytest -n 2 chainrule tests

bench: $(VENV)/.bench
	$(PY) -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis chainrule-tour
