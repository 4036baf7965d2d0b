# One entry point for humans and CI. `make demo` and `make test` each install what they need.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
RAG     := $(VENV)/bin/rag
STAMP   := $(VENV)/.installed
QUESTION ?= How do I switch to pgvector?

.PHONY: demo install test test-fast lint typecheck bench bench-peers clean

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

# The whole suite: real Chroma, PostgreSQL+pgvector, llama.cpp, sentence-transformers, SDKs.
test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not integration"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(MAKE) typecheck

# mypy sees the installed layout (connectors/ as rag/connectors, ...) through a symlink tree.
typecheck: $(STAMP)
	rm -rf .typecheck && mkdir -p .typecheck
	mkdir .typecheck/rag && for f in rag/*; do ln -s ../../$$f .typecheck/rag/; done
	ln -s ../../connectors .typecheck/rag/connectors
	ln -s ../../stores .typecheck/rag/stores
	ln -s ../../pipelines .typecheck/rag/pipelines
	ln -s ../../evals .typecheck/rag/evals
	cd .typecheck && ../$(PY) -m mypy -p rag

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
