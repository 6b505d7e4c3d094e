# crmhub — every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# pip's progress, version notice and root warning are noise in `make demo`; errors still show.
PIP_QUIET := --quiet --quiet --disable-pip-version-check --root-user-action=ignore

.PHONY: demo test lint bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "crmhub needs Python 3.11 or newer (found " + sys.version.split()[0] + "); set PYTHON=python3.11"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing crmhub and its development tools into $(VENV) (once; about 2 minutes) …"
	@$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip
	@$(BIN)/python -m pip install $(PIP_QUIET) -e ".[dev,postgres]"
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/crmhub demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -n 2 -q $(PYTEST_ARGS)

bench: $(STAMP)
	@mkdir -p bench/results
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .crmhub .pytest_cache .mypy_cache .ruff_cache
