"""Centered or non-centered, per pooled component: measured on the same data and sampler.

    uv run python benchmarks/parameterisation.py [n_products]

Each variant: nutpie, 2 chains, 500 tuning + 500 draws, seed 1. Reported: sampling time, mean
leapfrog steps per draw, divergences, the worst bulk ESS and R-hat over free parameters.
"""

from __future__ import annotations

import sys
import time

import arviz as az
import nutpie
from _common import prepared, save
from threadpoolctl import threadpool_limits

from forecast.config import DEFAULT_PRIORS
from forecast.model import build_model

VARIANTS = {
    "all pooled components centered": {"season": True, "elasticity": True, "promo": True, "trend": True},
    "trend non-centered, rest centered": {"season": True, "elasticity": True, "promo": True, "trend": False},
    "season centered, rest non-centered (default)": {},
    "all pooled components non-centered": {"season": False},
}

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    p = prepared(n)
    results = []
    for name, centered in VARIANTS.items():
        model = build_model(p.design, DEFAULT_PRIORS, centered=centered)
        compiled = nutpie.compile_pymc_model(model)
        with threadpool_limits(1):
            t0 = time.perf_counter()
            idata = nutpie.sample(compiled, draws=500, tune=500, chains=2, seed=1, progress_bar=False)
            elapsed = time.perf_counter() - t0
        free = [rv.name for rv in model.free_RVs]
        summary = az.summary(idata, var_names=free, kind="diagnostics")
        worst = summary["ess_bulk"].idxmin()
        results.append(
            {
                "variant": name,
                "sample_s": round(elapsed, 1),
                "mean_steps": round(float(idata.sample_stats["n_steps"].mean()), 1),
                "divergences": int(idata.sample_stats["diverging"].sum()),
                "min_ess_bulk": float(summary["ess_bulk"].min()),
                "worst_parameter": worst,
                "max_rhat": float(summary["r_hat"].max()),
            }
        )
        print(results[-1], flush=True)
    save(f"parameterisation_{n}", {"products": n, "results": results})
