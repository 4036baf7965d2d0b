# One entry point for humans and CI. `make demo` and `make test` each install what they need.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
RAG     := $(VENV)/bin/rag
STAMP   := $(VENV)/.installed
QUESTION ?= How do I switch to pgvector?

.PHONY: demo install test test-deps test-fast lint linktree typecheck lint-imports bench bench-peers clean

# Install (once), ingest examples/ and answer a question: offline, embedded defaults.
demo: $(STAMP)
	$(RAG) ingest examples --collection examples
	$(RAG) ask "$(QUESTION)" --collection examples

install: $(STAMP)

# torch is pinned and installed first: that takes the local CPU wheel instead of a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole suite: real Chroma, PostgreSQL+pgvector, llama.cpp, sentence-transformers, SDKs,
# and the AVX2 embedding kernels under qemu's CPU emulator (Debian's qemu-user).
test: $(STAMP) test-deps
	$(PY) -m pytest -q

# system packages the tests use (Debian; as root, or through sudo)
APT := $(shell [ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get
# chromium: Debian's browser for the web page test (Playwright drives it by path; its own download fails offline)
test-deps:
	command -v qemu-x86_64 >/dev/null || { $(APT) update -qq && $(APT) install -y -qq qemu-user; }
	command -v chromium >/dev/null || { $(APT) update -qq && $(APT) install -y -qq chromium; }

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not integration"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(MAKE) typecheck
	$(MAKE) lint-imports

# mypy and import-linter see the installed layout (connectors/ as rag/connectors, ...)
# through a symlink tree.
linktree:
	rm -rf .typecheck && mkdir -p .typecheck
	mkdir .typecheck/rag && for f in rag/*; do ln -s ../../$$f .typecheck/rag/; done
	ln -s ../../connectors .typecheck/rag/connectors
	ln -s ../../stores .typecheck/rag/stores
	ln -s ../../pipelines .typecheck/rag/pipelines
	ln -s ../../evals .typecheck/rag/evals

typecheck: $(STAMP) linktree
	cd .typecheck && ../$(PY) -m mypy -p rag

# the layer contract in pyproject.toml ([tool.importlinter]): imports point one way, no cycles
lint-imports: $(STAMP) linktree
	cd .typecheck && PYTHONPATH=. ../$(VENV)/bin/lint-imports --config ../pyproject.toml --no-cache

bench: $(STAMP)
	$(PY) bench/ingest.py

# rag vs LangChain vs LlamaIndex on SciFact, in a venv of its own (the peers pin other versions)
BENCH_VENV := .venv-bench
bench-peers:
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	$(BENCH_VENV)/bin/python bench/peers.py

clean:
	rm -rf $(VENV) .typecheck .pytest_cache .mypy_cache .ruff_cache
