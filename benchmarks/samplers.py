"""ESS per second: nutpie against PyMC's default NUTS, same model and data, same run.

    uv run python benchmarks/samplers.py [n_products] [--seeds 1 2 3] [--settings same|defaults]

Both samplers get the same model, data, 1,000 kept draws per chain, 2 chains (in parallel on the
two cores) and target acceptance 0.8 (both defaults). Tuning: ``same`` gives both 500 steps;
``defaults`` gives each its own default (nutpie 300, ``pm.sample()`` 1,000). PyMC runs as
``pm.sample()`` does by default: its own NUTS on the C backend, one process per chain. nutpie
compiles the model once (numba); the compile time is reported on its own and counted into the
first seed's wall time. PyMC's time is reported both all in (its compile, process start-up,
initialisation and sampling: what a user waits for) and sampling alone (``pm.sample``'s own
sampling time), so the ratios compare like with like:

- ``ratio_sampling_only``: both samplers' sampling alone;
- ``ratio_with_one_compile``: both all in (nutpie's one compile counted once);
- ``ratio_sampling``: nutpie's sampling against PyMC all in (the earlier tables' measure).

ESS is the smallest bulk ESS over the model's hyperparameters (the scales and shared means every
forecast depends on), the quantity the run's checks gate on; one seed's minimum is noisy, so the
ratio is taken on the sum over seeds.
"""

from __future__ import annotations

import argparse
import os
import time

import arviz as az
import nutpie
import pymc as pm
from _common import prepared, save
from threadpoolctl import threadpool_limits

from forecast.model.builder import build_model
from forecast.model.diagnostics import checked_parameters, is_hyperparameter
from forecast.model.priors import DEFAULT_PRIORS

DRAWS, CHAINS, TARGET = 1000, 2, 0.8
TUNE = {"same": {"nutpie": 500, "pymc": 500}, "defaults": {"nutpie": 300, "pymc": 1000}}


def min_ess(idata, model) -> float:
    names = [name for name in checked_parameters(model) if is_hyperparameter(name)]
    return float(az.ess(idata, var_names=names).to_array().min())


def steps(idata) -> float:
    return float(idata.sample_stats["n_steps"].mean()) if "n_steps" in idata.sample_stats else float("nan")


def main(n: int, seeds: list[int], settings: str) -> None:
    p = prepared(n)
    model = build_model(p.design, DEFAULT_PRIORS)
    tune = TUNE[settings]
    out = {"products": n, "rows": len(p.design.train), "draws": DRAWS, "tune": tune, "chains": CHAINS}
    with threadpool_limits(1):
        t0 = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model)
        compile_s = time.perf_counter() - t0
    runs = []
    for seed in seeds:
        with threadpool_limits(1):
            t0 = time.perf_counter()
            idata = nutpie.sample(
                compiled,
                draws=DRAWS,
                tune=tune["nutpie"],
                chains=CHAINS,
                seed=seed,
                target_accept=TARGET,
                progress_bar=False,
            )
            nut_s = time.perf_counter() - t0
        nut_ess = min_ess(idata, model)
        nut_steps = steps(idata)
        t0 = time.perf_counter()
        with model:
            idata = pm.sample(
                draws=DRAWS,
                tune=tune["pymc"],
                chains=CHAINS,
                cores=min(CHAINS, os.cpu_count() or 1),
                random_seed=seed,
                target_accept=TARGET,
                progressbar=False,
                compute_convergence_checks=False,
            )
        pymc_s = time.perf_counter() - t0
        pymc_sample_s = float(idata.posterior.attrs["sampling_time"])
        runs.append(
            {
                "seed": seed,
                "nutpie_sample_s": round(nut_s, 1),
                "nutpie_min_ess_hyper": round(nut_ess),
                "nutpie_leapfrog_steps": round(nut_steps, 1),
                "pymc_total_s": round(pymc_s, 1),
                "pymc_sample_s": round(pymc_sample_s, 1),
                "pymc_min_ess_hyper": round(min_ess(idata, model)),
                "pymc_leapfrog_steps": round(steps(idata), 1),
            }
        )
        print(runs[-1], flush=True)
    nut_ess = sum(r["nutpie_min_ess_hyper"] for r in runs)
    pymc_ess = sum(r["pymc_min_ess_hyper"] for r in runs)
    nut_s = sum(r["nutpie_sample_s"] for r in runs)
    pymc_s = sum(r["pymc_total_s"] for r in runs)
    pymc_sample_s = sum(r["pymc_sample_s"] for r in runs)
    out |= {
        "nutpie_compile_s": round(compile_s, 1),
        "runs": runs,
        "nutpie_ess_per_s_sampling": round(nut_ess / nut_s, 2),
        "nutpie_ess_per_s_with_compile": round(nut_ess / (nut_s + compile_s), 2),
        "pymc_ess_per_s": round(pymc_ess / pymc_s, 2),
        "pymc_ess_per_s_sampling": round(pymc_ess / pymc_sample_s, 2),
        "ratio_sampling_only": round((nut_ess / nut_s) / (pymc_ess / pymc_sample_s), 2),
        "ratio_sampling": round((nut_ess / nut_s) / (pymc_ess / pymc_s), 2),
        "ratio_with_one_compile": round((nut_ess / (nut_s + compile_s)) / (pymc_ess / pymc_s), 2),
        "ratio_first_seed_with_compile": round(
            (runs[0]["nutpie_min_ess_hyper"] / (runs[0]["nutpie_sample_s"] + compile_s))
            / (runs[0]["pymc_min_ess_hyper"] / runs[0]["pymc_total_s"]),
            2,
        ),
    }
    save(f"samplers_{n}_{settings}", out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("products", type=int, nargs="?", default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--settings", choices=sorted(TUNE), default="same")
    args = parser.parse_args()
    main(args.products, args.seeds, args.settings)
