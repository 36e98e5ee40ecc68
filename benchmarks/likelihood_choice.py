"""Negative binomial or zero-inflated negative binomial: which forecasts held-out weeks better.

    uv run python benchmarks/likelihood_choice.py [n_products]

A demo-like catalog with 13 held-out weeks; each likelihood fitted with the default configuration
on the first 104 weeks, the held-out weeks forecast with the generator's planned prices and
promotions, scored by CRPS (lower is better) and randomized-PIT coverage of the 80% interval.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _common import save

from forecast import runs
from forecast.config import ForecastConfig
from forecast.evaluation import crps_samples, randomized_pit
from forecast.synthetic import generate_retail_data

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    data = generate_retail_data(n_products=n, n_periods=104, horizon=13, seed=21)
    end = data.mean["date"].unique()[103]
    train = data.sales[data.sales["date"] <= end]
    future = data.mean[data.mean["date"] > end]
    plan = future[["date", "product_id", "price", "promo"]]
    results = {}
    for likelihood in ("negbin", "zinb"):
        config = ForecastConfig(horizon=13, likelihood=likelihood, sample_paths=500)
        t0 = time.perf_counter()
        prepared = runs.prepare(train, data.products, config, plan)
        fitted = runs.fit_model(prepared, config, progressbar=False)
        _, paths = runs.forecast(prepared, fitted, config)
        pos = {p: i for i, p in enumerate(paths.products)}
        day = {d: j for j, d in enumerate(paths.dates)}
        i = future["product_id"].map(pos).to_numpy()
        j = future["date"].map(day).to_numpy()
        samples = paths.values[:, i, j]
        y = future["quantity"].to_numpy()
        u = randomized_pit(y, samples)
        results[likelihood] = {
            "crps": float(crps_samples(y, samples).mean()),
            "coverage_80": float(np.mean((u >= 0.1) & (u <= 0.9))),
            "verdict": fitted.diagnostics["verdict"],
            "problems": fitted.diagnostics["problems"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(likelihood, results[likelihood], flush=True)
    best = min(results, key=lambda k: results[k]["crps"])
    save(f"likelihood_choice_{n}", {"products": n, "results": results, "lower_crps": best})
