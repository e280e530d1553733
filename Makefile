# Two commands: `make run` (install, build the index if missing, start the web chat) and
# `make test` (install, run every test). Everything installs into .venv from PyPI/Debian only.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run index test lint bench browser milvus clean

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

run: install
	test -f index/CURRENT || $(VENV)/bin/qa index
	$(VENV)/bin/qa serve

# Debian's Chromium for the browser test (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(VENV)/bin/ruff check qa tests

test: install browser lint
	$(PY) -m pytest

bench: install
	$(PY) -m qa.bench

# A Milvus server on 127.0.0.1:19530 (its own network namespace; data in milvus-data/), in the
# foreground: QA_VECTOR_STORE=milvus://127.0.0.1:19530 qa index. Ctrl+C stops it.
milvus: install
	$(PY) -m qa.index.milvus_server --data milvus-data --port 19530

clean:
	rm -rf $(VENV) index/gen-* index/CURRENT
