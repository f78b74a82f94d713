# Two commands on a fresh machine: `make demo` and `make test`. Everything else is installed here.
SHELL := /bin/bash
PY ?= python3
UV := $(PY) -m uv
EXAMPLE := examples/building_energy
N ?= 300

.PHONY: setup demo test lint format clean

setup:  ## the environment, from uv.lock (installs uv itself if missing)
	@$(PY) -m uv --version >/dev/null 2>&1 || $(PY) -m pip install --quiet "uv>=0.5"
	$(UV) sync --locked

demo: setup  ## run the building-energy example on the embedded backend and preview scalars.pq
	PYTHONPATH=$(EXAMPLE)/src $(UV) run --locked python $(EXAMPLE)/scripts/allocate.py --n $(N) --store demo-store

lint: setup  ## ruff (check + format) and mypy --strict
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy --strict scythe

test: lint  ## lint, then the whole suite (slow tests included)
	$(UV) run --locked pytest -m "slow or not slow"

format: setup
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .

clean:
	rm -rf demo-store scythe-store .pytest_cache .mypy_cache .ruff_cache
