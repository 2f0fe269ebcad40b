# The two commands a new user needs: `make plan` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ENV ?= dev

.PHONY: setup plan test lint typecheck unit bench dev clean

setup: $(STAMP)

$(STAMP): pyproject.toml pep_runtime/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ./pep_runtime -e '.[dev]'
	touch $(STAMP)

plan: $(STAMP)
	$(BIN)/latticework plan --env $(ENV)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# Each sample service is its own app.py, so typecheck checks each on its own after the package.
typecheck: $(STAMP)
	$(BIN)/mypy
	for app in examples/*/app.py; do $(BIN)/mypy --strict $$app || exit 1; done

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck unit

# Every benchmark runs, even after one misses a target; the target fails at the end if any did.
bench: $(STAMP)
	status=0; for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || status=1; done; exit $$status

dev: $(STAMP)
	$(BIN)/latticework dev

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
