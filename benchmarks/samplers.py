"""ESS per second: nutpie against PyMC's default NUTS, same model and data, same run.

    uv run python benchmarks/samplers.py [n_products]

ESS is the smallest bulk ESS over the model's hyperparameters (the scales and shared means every
forecast depends on); time is wall time including compilation, and sampling alone.
"""

from __future__ import annotations

import os
import sys
import time

import arviz as az
import nutpie
import pymc as pm
from _common import prepared, save
from threadpoolctl import threadpool_limits

from forecast.config import DEFAULT_PRIORS
from forecast.diagnostics import is_hyperparameter
from forecast.model import build_model

DRAWS, TUNE, CHAINS = 1000, 500, 2


def min_ess(idata, model) -> float:
    names = [rv.name for rv in model.free_RVs if is_hyperparameter(rv.name)]
    return float(az.ess(idata, var_names=names).to_array().min())


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    p = prepared(n)
    model = build_model(p.design, DEFAULT_PRIORS)
    out = {"products": n, "rows": len(p.design.train), "draws": DRAWS, "tune": TUNE, "chains": CHAINS}
    with threadpool_limits(1):
        t0 = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model)
        t1 = time.perf_counter()
        idata = nutpie.sample(compiled, draws=DRAWS, tune=TUNE, chains=CHAINS, seed=1, progress_bar=False)
        t2 = time.perf_counter()
    ess = min_ess(idata, model)
    out["nutpie"] = {"compile_s": t1 - t0, "sample_s": t2 - t1, "min_ess_hyper": ess}
    # PyMC's default: pm.sample() with its own NUTS on the C backend, one process per chain.
    t0 = time.perf_counter()
    with model:
        idata = pm.sample(
            draws=DRAWS,
            tune=TUNE,
            chains=CHAINS,
            cores=min(CHAINS, os.cpu_count() or 1),
            random_seed=1,
            progressbar=False,
            compute_convergence_checks=False,
        )
    t1 = time.perf_counter()
    ess = min_ess(idata, model)
    out["pymc"] = {"total_s": t1 - t0, "min_ess_hyper": ess}
    nut_total = out["nutpie"]["compile_s"] + out["nutpie"]["sample_s"]
    out["nutpie"]["ess_per_s_total"] = out["nutpie"]["min_ess_hyper"] / nut_total
    out["nutpie"]["ess_per_s_sampling"] = out["nutpie"]["min_ess_hyper"] / out["nutpie"]["sample_s"]
    out["pymc"]["ess_per_s_total"] = ess / out["pymc"]["total_s"]
    out["ratio_ess_per_s_total"] = out["nutpie"]["ess_per_s_total"] / out["pymc"]["ess_per_s_total"]
    save(f"samplers_{n}", out)
