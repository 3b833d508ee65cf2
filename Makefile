# Everything the project needs is installed here, into .venv, from PyPI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

demo: $(STAMP)  ## run the traced example experiment, draw its trace
	$(BIN)/python examples/demo.py

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest

bench: $(STAMP)  ## print the benchmarks' ratios against their baselines
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

install: $(STAMP)

$(STAMP): setup.py examples/extension/setup.py
	$(PYTHON) -m venv $(VENV)
	# pip 23 was seen resolving chaostoolkit's dependencies for 15 minutes
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" -e examples/extension
	touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info examples/extension/*.egg-info
