"""Stage 1 of the M5-shaped catalog's large-catalog run, fitted once (one sampling attempt, no
remedies), with the event columns as the design builds them or as it built them before.

Usage: ``uv run python benchmarks/m5_stage1.py --db /tmp/m5w.duckdb --variant current`` (after
``m5_catalog.py --freq W`` and ``demand-forecast ingest``). The sample is the one a default
``demand-forecast forecast --nested state,store --crossed category,department`` fits
(``forecast.shards.large_catalog``: 1,000 stratified products, seed 1). Variants:

- ``raw``: every (event, offset) column, 0/1, none merged (the design before these changes);
- ``merged``: columns on in the same history periods merged (``forecast.prep.events``), 0/1;
- ``current``: and events on in most periods without lead and lag columns, each column less its
  fit on a constant and the Fourier terms (``forecast.prep.design``): the design now.

Prints the fit's seconds (compile included), worst R-hat, least ESS, divergences and the slowest
parameters; ``--save NAME`` adds them to ``results/m5_stage1.json`` under ``NAME``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import duckdb
from _common import OUT

from forecast import runs, shards, storage
from forecast.config.options import ForecastConfig
from forecast.prep import events as events_module

VARIANTS = ("raw", "merged", "current")


def _patched(variant: str) -> None:
    """Undo the design's later event steps for the earlier variants."""
    if variant in ("raw", "merged"):
        events_module.DENSE_SHARE = 1.0  # every event keeps its window
    if variant == "raw":
        events_module._merge_identical = lambda matrix, names, n_train: (matrix, names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--variant", choices=VARIANTS, default="current")
    parser.add_argument("--save", default=None)
    args = parser.parse_args()
    _patched(args.variant)
    with duckdb.connect(args.db, read_only=True) as con:
        sales, products = storage.load_training_data(con)
        events = storage.load_events(con)
    config = ForecastConfig.from_options(nested="state,store", crossed="category,department", horizon=13)
    prepared = runs.prepare(sales, products, config, None, events)
    if args.variant in ("raw", "merged"):  # the design's columns as 0/1 again
        d = prepared.design
        on, names = events_module.event_features(events, d.dates, prepared.frequency, d.n_train)
        prepared = replace(prepared, design=replace(d, events=on, event_names=names))
    sharding = shards.large_catalog(len(prepared.design.products), config)
    sample = shards.stage1_prepared(prepared, config, sharding)
    start = time.perf_counter()
    fitted = runs.fit_model(sample, replace(config, attempt_budget=1.0), progressbar=False)
    seconds = time.perf_counter() - start
    d = fitted.diagnostics
    slowest = fitted.parameters.sort_values("r_hat", ascending=False).head(5)
    figures = {
        "variant": args.variant,
        "event_columns": int(sample.design.events.shape[1]),
        "seconds": round(seconds, 1),
        "max_rhat": round(float(d["max_rhat"]), 4),
        "min_ess_bulk": round(float(d["min_ess_bulk"]), 1),
        "divergences": int(d["divergences"]),
        "verdict": d["verdict"],
        "problems": d["problems"],
        "slowest": slowest[["parameter", "r_hat", "ess_bulk"]].round(4).to_dict("records"),
    }
    print(json.dumps(figures, indent=2))
    if args.save:
        path = OUT / "m5_stage1.json"
        saved = json.loads(path.read_text()) if path.exists() else {}
        saved[args.save] = figures
        OUT.mkdir(exist_ok=True)
        path.write_text(json.dumps(saved, indent=2))


if __name__ == "__main__":
    main()
