# Smartby: `make run` starts the platform locally, `make test` runs every test tier.
# Both install what they need (idempotent, cached by stamp files) through `make setup`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INFRA_VENV := .venv-infra
PORT ?= 7071
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup setup-runtime run test lint bench clean browser

## setup: everything the tests need (venv with dev deps, npm test servers, infra tools, browser)
setup: $(VENV)/.dev tests/servers/node_modules/.stamp $(INFRA_VENV)/.stamp browser

## setup-runtime: only what running the platform needs
setup-runtime: $(VENV)/.runtime

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: $(VENV)/bin/python requirements.txt pyproject.toml
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

tests/servers/node_modules/.stamp: tests/servers/package.json tests/servers/package-lock.json
	npm ci --prefix tests/servers --no-audit --no-fund --loglevel=error
	touch $@

$(INFRA_VENV)/.stamp: requirements-infra.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install -q --upgrade pip
	$(INFRA_VENV)/bin/python -m pip install -q -r requirements-infra.txt
	touch $@

## browser: Debian's Chromium for the e2e tier (installed when running as root, e.g. in CI)
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else \
	    echo "note: /usr/bin/chromium is missing; browser tests will skip (install Debian's chromium)"; \
	  fi; \
	fi

## run: the platform on the embedded default at http://127.0.0.1:$(PORT)
run: setup-runtime
	$(VENV)/bin/smartby serve --port $(PORT)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

## test: unit, integration and e2e tiers; exit 0 only if all pass
test: setup lint
	SMARTBY_INFRA_PYTHON=$(CURDIR)/$(INFRA_VENV)/bin/python $(PY) -m pytest tests/unit tests/integration tests/e2e -q -p no:cacheprovider

## bench: the benchmarks, one BENCH line per figure
bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(INFRA_VENV) tests/servers/node_modules .pytest_cache .ruff_cache
