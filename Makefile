# Two entry points: `make demo` and `make test`. Both run `setup` first, which is
# idempotent: with an up-to-date .venv it does nothing.
SHELL := /bin/bash
PYTHON_HOST ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
# The lock is resolved for this platform; the same file installs the dev venv, CI
# and the container images (see containers/Dockerfile).
LOCK_PLATFORM := x86_64-manylinux_2_39
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast bench mutants mutmut lock clean-venv images

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml scripts/glibc_shim.sh scripts/fetch_bases.sh
	@test -x $(PY) || $(PYTHON_HOST) -m venv $(VENV)
	@scripts/glibc_shim.sh $(VENV)
	@$(PY) -m pip --version >/dev/null && { $(VENV)/bin/uv --version 2>/dev/null | grep -q $(UV_VERSION) || $(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION); }
	@# Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE set (as here) every
	@# TF import, in every Beam worker, would otherwise re-parse the sources (10 s).
	$(VENV)/bin/uv pip sync -q --compile-bytecode --python $(PY) --python-platform $(LOCK_PLATFORM) requirements.lock
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps --no-build-isolation -e .
	@# The wheels that need glibc 2.39 must load (through the shim on older hosts).
	$(PY) -c "import ml_metadata, tensorflow_data_validation"
	@# The packaged ImageNet base for transfer learning (checksummed; see the README).
	scripts/fetch_bases.sh $(PY)
	@touch $@

demo: setup
	$(VENV)/bin/tpctl run

# Import contracts first (pyproject.toml: pipelines/ above components/, nothing
# imports tests/), then every test, on TEST_WORKERS processes (pytest-xdist): most
# of a pipeline run is single-threaded Python, so a second worker uses the second
# core. Each test file stays on one worker (--dist loadfile), so a file's shared
# fixture runs once; tests/conftest.py starts the longest files first.
TEST_WORKERS ?= 2
test: setup
	$(VENV)/bin/lint-imports --no-logo --no-cache
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Unit tests only (skips the end-to-end pipeline runs).
test-fast: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not e2e"

bench: setup
	$(PY) -m bench.run_all

# Break each promise on purpose (tests/mutants/mutations.toml) and check that a
# test notices; fails if any mutation survives. About 15 minutes.
mutants: setup
	$(PY) -m tests.mutants

# mutmut over the pure-Python modules ([tool.mutmut] in pyproject.toml); writes
# the surviving count to BENCHMARKS.md.
mutmut: setup
	$(PY) -m bench.mutmut_summary

# Build and push the one image every step runs in (containers/Dockerfile), on a
# machine with Docker: make images REGISTRY=registry.example.com/ml TAG=v1
IMAGE = $(REGISTRY)/training-patterns:$(TAG)
images:
	@if [ -z "$(REGISTRY)" ] || [ -z "$(TAG)" ]; then echo "make images: set REGISTRY and TAG, e.g. make images REGISTRY=registry.example.com/ml TAG=v1" >&2; exit 2; fi
	@command -v docker >/dev/null || { echo "make images: docker not found; run this on a machine with Docker (BuildKit)" >&2; exit 2; }
	@# BuildKit: the Dockerfile uses cache and bind mounts. amd64: the lock holds x86_64 wheels only.
	DOCKER_BUILDKIT=1 docker build --platform linux/amd64 -f containers/Dockerfile -t $(IMAGE) .
	docker push $(IMAGE)

# Re-resolve the lock after changing pyproject.toml dependencies.
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  --python-platform $(LOCK_PLATFORM) --generate-hashes -o requirements.lock

clean-venv:
	rm -rf $(VENV)
