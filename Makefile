# Everything runs through uv with the committed uv.lock. uv itself is installed with pip on first use.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --locked

.PHONY: setup demo test test-fast lint bench clean

setup:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --locked --quiet

SEED ?=
demo: setup  ## generate retail data, ingest, fit, forecast, write to data/demand.duckdb (SEED=n: another catalog)
	$(RUN) demand-forecast demo $(if $(SEED),--seed $(SEED))

test: setup  ## the whole suite, MCMC fits included
	$(RUN) pytest

test-fast: setup  ## everything but the slow fits
	$(RUN) pytest -m "not slow"

bench: setup  ## the model benchmarks recorded in benchmarks/README.md (tens of minutes)
	$(RUN) python benchmarks/gradient.py 500
	$(RUN) python benchmarks/samplers.py 200
	$(RUN) python benchmarks/scaling.py 200 1000
	$(RUN) python benchmarks/bench_ingest.py
	$(RUN) python benchmarks/bench_draws.py
	$(RUN) python benchmarks/cli_speed.py

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

clean:
	rm -rf .venv data .pytest_cache .ruff_cache
