"""How each part of the model is written, measured on the same data and sampler.

    uv run python benchmarks/parameterisation.py [n_products ...] [--seeds 1 2]
    uv run python benchmarks/parameterisation.py 1000 --centering 0.3 0.7 1

With ``--centering``, the default form only, its offsets' centering exponent
(``forecast.model.builder.PARTIAL_CENTERING``) set to each value in turn (results/parameterisation_centering.json).

Each variant (``build_model(..., forms=...)``, the same model written differently): nutpie, 2
chains, 500 tuning + 1,000 draws per seed. Reported: sampling time, mean leapfrog steps per draw,
divergences, the smallest bulk ESS over the hyperparameters the run's checks gate on (derived
ones such as ``elasticity_mu`` included) and which, each hyperparameter's ESS, ESS per second, and
the worst R-hat.
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import nutpie
from _common import prepared, save
from threadpoolctl import threadpool_limits

from forecast.model import builder as model_module
from forecast.model.builder import build_model
from forecast.model.diagnostics import checked_parameters, is_hyperparameter
from forecast.model.priors import DEFAULT_PRIORS

TEXTBOOK = {c: "noncentered" for c in ("elasticity", "promo", "trend", "zero")}
AVERAGE = {c: "average" for c in ("elasticity", "promo", "trend")}
VARIANTS = {
    "textbook non-centered: group effects and elasticity, promotion, trend": {
        "groups": "noncentered",
        **TEXTBOOK,
    },
    "elasticity, promotion, trend through their average; group effects non-centered": {
        "groups": "noncentered",
        **AVERAGE,
    },
    "the same, group effects centered where every level holds 30+ products": AVERAGE,
    "the same, elasticity, promotion, trend offsets half-centered (default)": {},
    "the same, every group effect centered": {"groups": "centered"},
}


def measure(n: int, seeds: list[int], centering: list[float] | None = None) -> list[dict]:
    p = prepared(n)
    results = []
    variants = {name: (forms, None) for name, forms in VARIANTS.items()}
    if centering:
        variants = {f"the default, offsets' centering exponent {a}": ({}, a) for a in centering}
    default = model_module.PARTIAL_CENTERING
    for name, (forms, exponent) in variants.items():
        model_module.PARTIAL_CENTERING = default if exponent is None else exponent
        try:
            model = build_model(p.design, DEFAULT_PRIORS, forms=forms)
        finally:
            model_module.PARTIAL_CENTERING = default
        checked = checked_parameters(model)
        hyper = [v for v in checked if is_hyperparameter(v)]
        free = {rv.name for rv in model.free_RVs}
        with threadpool_limits(1):
            compiled = nutpie.compile_pymc_model(model)
        for seed in seeds:
            with threadpool_limits(1):
                t0 = time.perf_counter()
                idata = nutpie.sample(compiled, draws=1000, tune=500, chains=2, seed=seed, progress_bar=False)
                elapsed = time.perf_counter() - t0
            ess = az.ess(idata, var_names=hyper).to_array()
            worst = {v: float(ess.sel(variable=v).min()) for v in hyper}
            rhat = az.rhat(idata, var_names=checked).to_array()
            results.append(
                {
                    "products": n,
                    "variant": name,
                    "seed": seed,
                    "centered_groups": sorted(a for a in p.design.levels if f"effect_{a}" in free),
                    "sample_s": round(elapsed, 1),
                    "mean_steps": round(float(idata.sample_stats["n_steps"].mean()), 1),
                    "divergences": int(idata.sample_stats["diverging"].sum()),
                    "min_ess_hyper": round(min(worst.values())),
                    "worst_hyper": min(worst, key=worst.get),
                    "ess_hyper": {v: round(e) for v, e in worst.items()},
                    "ess_per_s": round(min(worst.values()) / elapsed, 2),
                    "max_rhat": round(float(rhat.max()), 3),
                }
            )
            print(results[-1], flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("products", type=int, nargs="*", default=[200, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--centering", type=float, nargs="+", help="exponents for the default form's offsets")
    args = parser.parse_args()
    rows = [r for n in args.products for r in measure(n, args.seeds, args.centering)]
    name = "parameterisation_centering" if args.centering else "parameterisation"
    save(name, {"tune": 500, "draws": 1000, "chains": 2, "results": rows})
