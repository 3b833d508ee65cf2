# Everything the project needs is installed here, into .venv, from PyPI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOG := $(VENV)/install.log
# a step's output goes to the log; on failure its end is shown
QUIET = >> $(LOG) 2>&1 || { tail -n 30 $(LOG); exit 1; }
BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
# the JS linter (ESLint, package.json/package-lock.json), where npm is
NODE_STAMP := node_modules/.installed

.PHONY: test-pypi demo test test-fast lint lint-js docs install chromium bench bench-compare clean

demo: $(STAMP)  ## run the traced example experiment, draw its trace
	@$(BIN)/python examples/demo.py

test: lint chromium  ## the linters, then the whole test suite
	@$(BIN)/python -m pytest

# the quick loop while coding: every test but those marked slow (processes,
# chaos run, browsers, long waits; see tests/speed_plugin.py), in under 30 s
test-fast: $(STAMP)  ## the fast tests only
	@$(BIN)/python -m pytest -q -m "not slow"

# the extras installed from PyPI by a fresh virtualenv's pip, under a time
# limit (tests/test_pip_install.py): off 127.0.0.1, so not in make test
test-pypi: $(STAMP)  ## the install tests against PyPI
	@CHAOSTRACING_PYPI_TESTS=1 $(BIN)/python -m pytest -q tests/test_pip_install.py

docs: $(STAMP)  ## build the documentation site into site/ (strict: a warning fails)
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

lint: $(STAMP)  ## ruff, mypy (both in pyproject.toml), the report page's JS linter
	@$(BIN)/ruff check --quiet .
	@$(BIN)/mypy
	@$(MAKE) --no-print-directory lint-js

# The JS linter: ESLint on the report page's script and the tests' Node scripts
# (eslint.config.js); skipped, saying why, where node and npm are not installed
lint-js: $(NODE_STAMP)
	@if [ -x node_modules/.bin/eslint ]; then \
	  node_modules/.bin/eslint chaostracing/_viewers/report.js eslint.config.js \
	    tests/js; \
	else echo "lint-js: skipped: no node and npm to run ESLint"; fi

# the report's browser tests use Debian's chromium: installed where root and
# apt allow, else those tests skip and say why
chromium: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "set-up: Debian's chromium, for the browser tests (log: $(LOG))"; \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	      || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	           apt-get install -y -q chromium; }; } >> $(LOG) 2>&1 \
	      || echo "set-up: chromium could not be installed: the browser tests will skip"; \
	  else \
	    echo "set-up: no chromium, and no root with apt to install it: the browser tests will skip"; \
	  fi; }

bench: $(BENCH_STAMP)  ## print the benchmarks' ratios against their baselines
	@# this tree's code installed as users install it (not -e)
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall . examples/extension
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

bench-compare: $(BENCH_STAMP)  ## before/after in one run: make bench-compare BEFORE=rev [ONLY=run|collector]
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall . examples/extension
	$(BENCH_VENV)/bin/python benchmarks/compare_versions.py --before $(BEFORE) $(if $(ONLY),--only $(ONLY))

install: $(STAMP) $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  echo "set-up: ESLint, and the JS clients the collector's tests use, npm ci (log: $(LOG))"; \
	  mkdir -p $(VENV); npm ci --no-audit --no-fund $(QUIET); \
	  touch $@; \
	else \
	  echo "set-up: no npm: the JS linter's and the JS clients' tests will skip"; \
	fi

$(STAMP): setup.py examples/extension/setup.py
	@echo "set-up: a virtualenv in $(VENV), the project and its test dependencies (log: $(LOG))"
	@$(PYTHON) -m venv $(VENV)
	@# a current pip for the large dev set (users' extras resolve with a new
	@# virtualenv's pip: tests/test_pip_install.py)
	@$(BIN)/python -m pip install --upgrade pip $(QUIET)
	@$(BIN)/python -m pip install -e ".[dev]" -e examples/extension $(QUIET)
	@# what tests/test_install.py upgrades from (installed offline there);
	@# 0.18.1 requires Python 3.9, named so that a 3.8 set-up downloads it too
	@$(BIN)/python -m pip download --no-deps --dest $(VENV)/wheels \
		--only-binary=:all: --python-version 3.9 \
		chaostoolkit-opentracing==0.18.1 $(QUIET)
	@# what a plain `pip install chaostoolkit chaostoolkit-opentracing` brings,
	@# no extra, as wheels: tests/test_extras_missing.py installs it offline
	@# into a fresh virtualenv (our own wheel is built there, from the tree)
	@rm -rf $(VENV)/wheels/base
	@$(BIN)/python -m pip wheel --wheel-dir $(VENV)/wheels/base \
		chaostoolkit . $(QUIET)
	@rm -f $(VENV)/wheels/base/chaostoolkit_opentracing-*
	@touch $(STAMP)

$(BENCH_STAMP): setup.py
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet chaostoolkit ".[bench]"
	touch $@

clean:
	rm -rf $(VENV) $(BENCH_VENV) .bench site *.egg-info examples/extension/*.egg-info \
		node_modules
