# `make run` starts the whole mesh with demo data; `make test` runs every check. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# JavaScript-rendered shops are crawled with Debian's Chromium; Playwright never downloads a browser.
BROWSER_STAMP := $(VENV)/.chromium

.PHONY: run test lint typecheck unit proto bench clean

$(PY_STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(BROWSER_STAMP): $(PY_STAMP)
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	touch $@

run: $(PY_STAMP) $(BROWSER_STAMP)
	$(BIN)/omnipricex up

test: $(PY_STAMP) $(NODE_STAMP) $(BROWSER_STAMP) lint typecheck unit

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(PY_STAMP)
	$(BIN)/mypy .

unit: $(PY_STAMP) $(NODE_STAMP) $(BROWSER_STAMP)
	$(BIN)/pytest

proto: $(PY_STAMP)
	$(BIN)/python proto/generate.py

bench: $(PY_STAMP)
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/crawl.py

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
