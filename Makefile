# Two commands: `make run` (install, build the index if missing, start the web chat; PORT=...) and
# `make test` (install, run every test). Everything installs into .venv from PyPI/Debian only.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run index test lint bench bench-extras browser milvus clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first, so nothing later pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

index: install
	$(VENV)/bin/qa index

# `make run PORT=8080` (or QA_PORT=8080): the port of the web chat + API, 7860 by default.
PORT ?= $(QA_PORT)

run: install
	test -f index/CURRENT || $(VENV)/bin/qa index
	$(VENV)/bin/qa serve $(if $(PORT),--port $(PORT))

# Debian's Chromium for the browser test (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(VENV)/bin/ruff check qa tests bench train

test: install browser lint
	$(PY) -m pytest

# The benchmark's own extras (pyproject `bench`): LlamaIndex and Haystack for the peers section,
# xllamacpp and Gemma 3 270M for the generation section. If they cannot be installed, those two
# sections say so and are skipped; the stamp is left out so that the next run tries again.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[bench]' && touch $(BENCH_STAMP) \
		|| echo "[bench] the bench extra did not install: peers and generation will be skipped" >&2

bench-extras: $(BENCH_STAMP)

bench: install bench-extras
	$(PY) -m bench

# A Milvus server on 127.0.0.1:19530 (its own network namespace; data in milvus-data/), in the
# foreground: QA_VECTOR_STORE=milvus://127.0.0.1:19530 qa index. Ctrl+C stops it.
milvus: install
	$(PY) -m qa.index.milvus_server --data milvus-data --port 19530

clean:
	rm -rf $(VENV) index/gen-* index/CURRENT
