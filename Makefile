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

.PHONY: setup demo test test-fast bench mutants mutmut lock clean-venv image base-image \
  image-check images flink
.PHONY: browser docs docs-samples

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

# Flink 1.19.3 and the Beam job server for it, pinned and checksummed, into
# .cache/flink, or $TRAINING_PATTERNS_FLINK_CACHE when set, where `tpctl flink`
# looks too (about 380 MB; see scripts/fetch_flink.sh). Only the Flink runner
# needs it, so `make demo` does not wait for it; `make test` does. Then
# `tpctl flink up` and `tpctl run --flink`.
FLINK_CACHE := $(or $(TRAINING_PATTERNS_FLINK_CACHE),.cache/flink)
FLINK_STAMP := $(FLINK_CACHE)/.installed
flink: setup $(FLINK_STAMP)

$(FLINK_STAMP): scripts/fetch_flink.sh scripts/flink/beam-job-server.pom.xml scripts/flink/beam-job-server.sha256
	scripts/fetch_flink.sh $(PY) $(FLINK_CACHE)

# Import contracts first (pyproject.toml: pipelines/ above components/, nothing
# imports tests/), then every test, on TEST_WORKERS processes (pytest-xdist): most
# of a pipeline run is single-threaded Python, so a second worker uses the second
# core. Each test file stays on one worker (--dist loadfile), so a file's shared
# fixture runs once; tests/conftest.py keeps the files that share the session's
# end-to-end run on one worker too, and starts the longest files first.
TEST_WORKERS ?= 2
test: setup flink browser
	$(VENV)/bin/lint-imports --no-logo --no-cache
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Debian's chromium and chromium-driver at pinned versions, for the docs site's
# browser test (tests/test_docs_browser.py); idempotent, apt-get only when missing.
browser:
	scripts/install_browser.sh

# The docs site into build/site (mkdocs.yml; the references are generated from the
# code at build time), and the console samples its pages include, from the real CLI.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict
docs-samples: setup
	$(PY) -m pipelines.docs.samples

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

# The one image every step runs in (containers/Dockerfile), with Docker where an
# engine answers and buildah (no daemon) otherwise: make image [VARIANT=cpu]
# [BASE_IMAGE=...]. The base defaults to the Dockerfile's, the official python
# image; where that cannot be pulled, `make base-image` builds an equivalent from
# the Debian mirror and BASE_IMAGE=$(LOCAL_BASE_IMAGE) uses it.
IMAGE ?= localhost/training-patterns:dev
VARIANT ?= gpu
BASE_IMAGE ?=
LOCAL_BASE_IMAGE := localhost/python:3.11.2-slim-trixie-local
image:
	scripts/build_image.sh --tag $(IMAGE) --variant $(VARIANT) $(if $(BASE_IMAGE),--base $(BASE_IMAGE))

base-image:
	scripts/build_base_image.sh $(LOCAL_BASE_IMAGE)

# Builds the image (and its CPU variant) with buildah and runs every step in it,
# as Kubernetes would; checks GPU readiness, sizes and layers, and writes the
# results to BENCHMARKS.md. About 25 minutes of builds and 50 GB of disk (both
# variants, buildah's working copies and uv's cache) the first time.
image-check: setup
	$(PY) -m bench.image $(if $(BASE_IMAGE),--base $(BASE_IMAGE))

# Build and push both variants: make images REGISTRY=registry.example.com/ml TAG=v1
# (then kubeflow.image = .../training-patterns:v1, kubeflow.cpu_image = ...:v1-cpu).
IMAGE_REPO = $(REGISTRY)/training-patterns
images:
	@if [ -z "$(REGISTRY)" ] || [ -z "$(TAG)" ]; then echo "make images: set REGISTRY and TAG, e.g. make images REGISTRY=registry.example.com/ml TAG=v1" >&2; exit 2; fi
	scripts/build_image.sh --tag $(IMAGE_REPO):$(TAG) $(if $(BASE_IMAGE),--base $(BASE_IMAGE))
	scripts/build_image.sh --tag $(IMAGE_REPO):$(TAG)-cpu --variant cpu $(if $(BASE_IMAGE),--base $(BASE_IMAGE))
	@if docker info >/dev/null 2>&1; then push="docker push"; else push="buildah push"; fi; \
	  $$push $(IMAGE_REPO):$(TAG) && $$push $(IMAGE_REPO):$(TAG)-cpu

# Re-resolve the lock after changing pyproject.toml dependencies.
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  --python-platform $(LOCK_PLATFORM) --generate-hashes -o requirements.lock

clean-venv:
	rm -rf $(VENV)

# A real single-node Kubernetes v1.34.4 on this machine (scripts/cluster/, needs
# root): binaries compiled from pinned sources through the Go module proxy into
# .cache/cluster (about 14 minutes the first time on 2 cores, then nothing), and
# Debian's containerd, runc and CNI plugins at pinned versions. Then
# containerd, etcd, the control plane, the kubelet, kube-proxy, CoreDNS and local
# volumes for k8s/base/pvcs.yaml; a few seconds once built. Idempotent: it
# restarts only what died. Then
#   kubectl --kubeconfig /var/lib/training-patterns-cluster/kubeconfig/admin.kubeconfig get nodes
# (.cache/cluster/bin/kubectl: the system's is too old), and scripts/cluster/smoke.sh
# checks it end to end. The same build compiles the Kubeflow Training Operator
# v1.8.1 and Katib v0.19.0 (about 7 more minutes the first time), and
# scripts/cluster/operators.sh runs them on the cluster (TFJob, Katib
# Experiments; MariaDB as Katib's database); scripts/cluster/operators_smoke.sh
# checks them end to end.
.PHONY: cluster cluster-status cluster-down cluster-operators-status cluster-image
cluster:
	scripts/cluster/build.sh
	scripts/cluster/cluster.sh up
	scripts/cluster/operators.sh up

# Our CPU image, built with buildah and imported into the node's containerd
# (scripts/cluster/image.sh): about 20 minutes the first time, then minutes.
cluster-image:
	scripts/cluster/image.sh

# The operators' processes, pods and webhooks; fails if unhealthy.
cluster-operators-status:
	scripts/cluster/operators.sh status

# Which cluster processes run, apiserver health and node Ready; fails if unhealthy.
cluster-status:
	scripts/cluster/cluster.sh status

# Stops the operators (scripts/cluster/operators.sh down), then the cluster, and
# puts the host back (processes, mounts, bridge, network
# namespaces, cgroups, nft tables, sysctls); keeps the certificates, etcd data
# and the volumes' data for the next `make cluster`. A few seconds.
# scripts/cluster/cluster.sh down --purge deletes those too.
cluster-down:
	scripts/cluster/cluster.sh down

# The manifests of k8s/ against the real cluster (bench/cluster.py): brings it up,
# runs both smoke checks, offers every object of each kustomization to the API
# server (server-side dry run, real CRDs and webhooks), records times and memory in
# BENCHMARKS.md, and takes the cluster down. About 2 minutes once built; needs root.
.PHONY: cluster-check
cluster-check: setup
	$(PY) -m bench.cluster
