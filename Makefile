# make demo: the tour of the main job.  make test: the whole suite (CI=true: with the peers it
# compares against, and a skipped comparison fails).  make bench: the benchmarks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
ARGS   ?=
# The peers the cross-checks compare against, installed by `make test` under CI=true (a
# contributor's machine is not made to download them): PyTorch's CPU build, a pinned JAX.
PEERS  := torch==2.13.0 jax==0.10.2 jaxlib==0.10.2 optax==0.2.8

.PHONY: demo test test-jit bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.core: $(PY) pyproject.toml
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PY) -m pip install -q -e '.[dev,sym,viz,scipy]'
	touch $@

$(VENV)/.peers: $(VENV)/.dev
	$(PY) -m pip install -q $(PEERS)
	touch $@

$(VENV)/.demo: $(VENV)/.core
	$(PY) -m pip install -q -e '.[viz,sym]'
	touch $@

$(VENV)/.bench: $(VENV)/.core
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

demo: $(VENV)/.demo
	$(PY) -m chainrule tour

test: $(VENV)/.dev $(if $(filter true,$(CI)),$(VENV)/.peers)
	$(PY) -m ruff check chainrule tests benchmarks
	$(PY) -m pytest -n 2 chainrule tests

# the functional tests again, with the transformations jitted (tests/jit_mode.py)
test-jit: $(VENV)/.dev $(if $(filter true,$(CI)),$(VENV)/.peers)
	CHAINRULE_JIT_TESTS=1 $(PY) -m pytest -n 2 -p no:cacheprovider tests

bench: $(VENV)/.bench
	$(PY) -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis chainrule-tour
