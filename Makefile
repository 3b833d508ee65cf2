# Everything the project needs is installed here, into .venv, from PyPI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: demo test install bench bench-compare clean

demo: $(STAMP)  ## run the traced example experiment, draw its trace
	$(BIN)/python examples/demo.py

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest

bench: $(BENCH_STAMP)  ## print the benchmarks' ratios against their baselines
	@# this tree's code installed as users install it (not -e)
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall . examples/extension
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

bench-compare: $(BENCH_STAMP)  ## before/after in one run: make bench-compare BEFORE=rev
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall . examples/extension
	$(BENCH_VENV)/bin/python benchmarks/compare_versions.py --before $(BEFORE)

$(BENCH_STAMP): setup.py
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet chaostoolkit ".[bench]"
	touch $@

install: $(STAMP)

$(STAMP): setup.py examples/extension/setup.py
	$(PYTHON) -m venv $(VENV)
	# pip 23 was seen resolving chaostoolkit's dependencies for 15 minutes
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" -e examples/extension
	touch $(STAMP)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .bench *.egg-info examples/extension/*.egg-info
