# DCGAN Portrait Studio: `make run` starts the app, `make test` runs lint and every test.
# Both create .venv on first use and reinstall only when a requirements file changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# ADDRESS=0.0.0.0 serves other machines too (then set DCGAN_ALLOWED_ROOTS deliberately).
ADDRESS ?= localhost
GPU ?= 0
export DCGAN_HOME ?= $(CURDIR)/workspace

.PHONY: run test lint bench clean-venv help

help:
	@echo "make run    start the app on http://localhost:$(PORT) (GPU=1 installs tensorflow[and-cuda])"
	@echo "make test   lint + the whole test suite (browser tests included)"
	@echo "make bench  run the benchmarks and rewrite BENCHMARKS.md"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files record what was installed, so a second `make run` starts in seconds.
$(VENV)/.run-$(GPU): $(VENV)/bin/python requirements.txt
	$(PY) -m pip install --quiet -r requirements.txt
	@if [ "$(GPU)" = "1" ]; then $(PY) -m pip install --quiet "tensorflow[and-cuda]==2.21.0"; fi
	@rm -f $(VENV)/.run-*; touch $@

$(VENV)/.dev: $(VENV)/.run-$(GPU) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(VENV)/.run-$(GPU)
	$(PY) -m dcgan bootstrap --address $(ADDRESS)
	@echo "DCGAN Portrait Studio: http://localhost:$(PORT)  (workspace: $(DCGAN_HOME); stop with Ctrl+C)"
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS) \
		--server.headless true

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

bench: $(VENV)/.dev
	$(PY) -m bench

clean-venv:
	rm -rf $(VENV)
