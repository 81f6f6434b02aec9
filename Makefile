# adrisk: `make serve` and `make test` do all set-up on a fresh machine (venv, install, models).
# Re-running is fast: the install (from the lock file) is stamped on its hash, prepared models are cached.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.9
# The install is exactly the lock file (versions and sha256 hashes), made by `make lock` with uv
# from pyproject.toml + requirements/*.in. A GPU host: make install LOCK=requirements/gpu.lock
LOCK   ?= requirements/cpu.lock
# Where the CPU build of torch 2.13.0 comes from. uv does not read pip.conf, so by default it is
# given pip's configured find-links (this machine keeps the wheel there); on your machine:
# make serve TORCH_INDEX=https://download.pytorch.org/whl/cpu (any index: the lock's hashes decide).
TORCH_INDEX ?=
TORCH_FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
TORCH_UV_ARGS := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match,) \
                 $(foreach f,$(TORCH_FIND_LINKS),--find-links $(f))
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha256sum | cut -c1-16)

.PHONY: install lock system-deps prepare serve test test-fast lint bench bench-gpu load clean proto

# Tesseract (OCR of text in images) is a Debian package. Installed when missing and we are root;
# otherwise say how, and the service runs with OCR off (a warning in its log).
# promtool (the tests run `promtool check metrics` on /metrics) comes from Debian's `prometheus`
# package, but only its promtool binary is kept, unpacked into var/tools/bin: installing the package
# would also install a Prometheus server the tests never use (a system user, ten web-UI packages,
# and a service that the install starts and enables at boot, a daemon left on :9090). apt-get
# download verifies the package like an install and needs no root once the package lists exist.
# PostgreSQL's server binaries (initdb, pg_ctl, postgres) are for the store tests, which start a
# throwaway server of their own (tests/postgres_server.py); create_main_cluster = false keeps the
# package from creating a `main` cluster and starting a server on :5432 that nothing uses.
PROMTOOL := var/tools/bin/promtool
system-deps:
	@command -v tesseract >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing tesseract-ocr ..."; apt-get update -qq && apt-get install -y -qq tesseract-ocr >/dev/null; \
	  else echo "tesseract not found: install it (Debian/Ubuntu: sudo apt-get install tesseract-ocr) for OCR"; fi; }
	@command -v promtool >/dev/null 2>&1 || test -x $(PROMTOOL) || { \
	  echo "unpacking promtool from Debian's prometheus package into $(dir $(PROMTOOL)) ..."; tmp=$$(mktemp -d); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then apt-get update -qq; fi; \
	  if command -v apt-get >/dev/null 2>&1 && (cd $$tmp && apt-get download -qq -o APT::Sandbox::User=root prometheus) \
	     && dpkg-deb -x $$tmp/prometheus_*.deb $$tmp/root && mkdir -p $(dir $(PROMTOOL)) \
	     && cp $$tmp/root/usr/bin/promtool $(PROMTOOL); then $(PROMTOOL) --version 2>&1 | head -1; \
	  else echo "promtool not found: the metrics tests need it (run make system-deps as root on Debian/Ubuntu, or put Prometheus' promtool on PATH)"; fi; \
	  rm -rf $$tmp; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing postgresql (server binaries for the store tests; no cluster is created, no server started) ..."; \
	    mkdir -p /etc/postgresql-common/createcluster.d \
	    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/adrisk-no-main-cluster.conf \
	    && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL server binaries not found: the store tests need them (Debian/Ubuntu: sudo apt-get install postgresql)"; fi; }

$(UV):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)

# `uv pip sync` makes the venv exactly the lock plus the project itself, editable (installs, upgrades
# and removes what differs); requirements/project.txt says why the project is not in the lock.
$(STAMP): pyproject.toml $(LOCK) | $(UV)
	$(UV) pip sync -q --python $(BIN)/python $(TORCH_UV_ARGS) $(LOCK) requirements/project.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# Re-resolve the locks after editing dependencies in pyproject.toml or requirements/*.in. Versions
# already locked are kept where they still fit; `make lock UPGRADE=1` moves everything to the newest.
# Targets Python 3.11 on x86_64 Linux (manylinux_2_28, like the torch wheels), whatever runs it.
LOCK_ARGS := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes \
             --no-emit-package adrisk --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade,)
lock: | $(UV)
	$(UV) pip compile -q $(LOCK_ARGS) $(TORCH_UV_ARGS) --override requirements/cpu-overrides.txt \
	  requirements/cpu.in -o requirements/cpu.lock
	# CUDA torch from PyPI: no TORCH_UV_ARGS (the CPU wheel also satisfies torch==2.13.0).
	$(UV) pip compile -q $(LOCK_ARGS) --override requirements/gpu-overrides.txt \
	  requirements/gpu.in -o requirements/gpu.lock

prepare: install system-deps
	$(BIN)/adrisk prepare --profile cpu

serve: prepare
	$(BIN)/adrisk serve --profile cpu

# ruff, and the import layers written in pyproject.toml ([tool.importlinter]) checked by import-linter.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

test: prepare lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=20

# The in-process tier (tests/conftest.py marks it `fast`): no service, nothing marked slow; under a minute.
test-fast: prepare lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -m fast --durations=10

# Headless locust (HTTP + gRPC users) against a service it starts on 127.0.0.1; reports in docs/load.
load: prepare
	$(BIN)/python -m load_tests.run --users 16 --spawn-rate 4 --time 60s --out docs/load

bench: prepare
	$(BIN)/python -m benchmarks.preprocess --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.image_path --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.serving_vs_inprocess --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.entrypoints --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.hops --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.known_bad --out docs/benchmarks.md

# On a GPU machine (torch + transformers; no Ray, vLLM or venv needed): the GPU section of docs/benchmarks.md.
bench-gpu:
	python3 -m benchmarks.gpu --out docs/benchmarks.md --json var/gpu-benchmark.json

clean:
	rm -rf $(VENV) var

# Regenerate the gRPC code committed under serving/proto/ (after editing adrisk.proto).
proto: install
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. serving/proto/adrisk.proto
