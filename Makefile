# make demo: the tour of the main job.  make test: the whole suite (CI=true: with the peers it
# compares against, and a skipped comparison fails).  make bench: the benchmarks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
ARGS   ?=
# The peers the cross-checks compare against, installed by `make test` under CI=true (a
# contributor's machine is not made to download them): PyTorch's CPU build, a pinned JAX.
PEERS  := torch==2.13.0 jax==0.10.2 jaxlib==0.10.2 optax==0.2.8

.PHONY: demo test test-jit test-mpi docs package-check gpu-check bench lint clean

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

$(VENV)/.mpi: $(VENV)/.dev
	$(PY) -m pip install -q -e '.[mpi]'
	touch $@

$(VENV)/.docs: $(VENV)/.dev
	$(PY) -m pip install -q -e '.[docs,scipy]'
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

# the tests that launch `mpiexec -n 2` (loopback), without xdist, under a hard timeout
test-mpi: $(VENV)/.mpi
	CHAINRULE_MPI_TESTS=1 timeout -k 10 300 $(PY) -m pytest -p no:cacheprovider -m mpi \
		tests/test_distributed.py tests/test_io.py

# the documentation site (site/), offline; --strict turns every warning into an error
docs: $(VENV)/.docs
	$(PY) docs/api/generate.py --check
	$(VENV)/bin/mkdocs build --strict
	$(PY) docs/api/generate.py --check-site site

# builds the wheel and the sdist, installs the wheel into a clean environment, smoke-tests it
package-check: $(VENV)/.dev
	PYTHON=$(PY) .ci/package_check.sh

# on a GPU machine: installs nothing, uses the Python, CuPy, PyTorch and JAX already there
gpu-check:
	PYTHONPATH=. $${PYTHON:-python3} -m benchmarks.gpu_check --out gpu-check-report.txt

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, set on some machines for old OpenBLAS builds, would
# hold NumPy's BLAS to an older kernel than the processor's: unset for the benchmarks only
bench: $(VENV)/.bench
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis chainrule-tour site dist build
