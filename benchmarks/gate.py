"""The convergence gate's false-alarm rate on healthy fits and its detection rate on broken ones.

    uv run python benchmarks/gate.py w200 m30-strong q32-crossed d60

For each catalog of the convergence corpus (``benchmarks/corpus.py``, seed 1), one compiled model:

- **a long reference run**: 8 chains x (1,500 tuning + 5,000 draws) at target acceptance 0.95. Its
  non-overlapping windows are **healthy fits** of the default size (4 chains x 1,000 draws: two
  groups of four chains x five windows = 10 per catalog), each a real run of the sampler on the
  same posterior. The old gate is scored on windows of its own size (2 chains x 2,000 draws: four
  pairs x two windows = 8 per catalog).
- **broken fits** (default size, seeds 1 to 3 each): *too few draws* (30 tuning + 150 draws),
  *chains started apart* (each chain started at its own random point, 3 sd out in the
  unconstrained space, 40 tuning steps), and a *mis-specified funnel* (every part written
  centered, target acceptance 0.8).

Each fit is scored by the gate (``forecast.model.diagnostics.failures``) and by the gate as it was before
(max R-hat over every parameter at most 1.01, hyperparameter ESS at least 400, no divergences,
BFMI at least 0.3), and by its error against the reference: the largest distance of a
hyperparameter's (or a product level's) posterior mean from the reference's, in reference sds.
Results: ``results/gate.json``.
"""

from __future__ import annotations

import argparse

import arviz as az
import numpy as np
from _common import save
from corpus import BY_NAME

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.model.builder import centering_data
from forecast.model.diagnostics import MIN_BFMI, MIN_ESS, checked_parameters, failures, parameter_table
from forecast.model.forms import choose_forms
from forecast.model.inference import Sampler, pool_chains


def old_gate(idata, table) -> bool:
    """The gate before: max R-hat over every checked parameter (raw ones included), ESS on the
    hyperparameters as it named them, no divergences, BFMI."""
    hyper = table[table["variable"].map(lambda n: n.startswith("sigma_") or n.endswith(("_sigma", "_mu"))
                                        or n in ("intercept", "log_alpha"))]  # fmt: skip
    ok = table["r_hat"].max() <= 1.01 and hyper[["ess_bulk", "ess_tail"]].min().min() >= MIN_ESS
    ok = ok and int(idata.sample_stats["diverging"].sum()) == 0
    return bool(ok and np.min(az.bfmi(idata)) >= MIN_BFMI)


def window(idata, chains: list[int], start: int, length: int):
    return az.InferenceData(
        posterior=idata.posterior.isel(chain=chains, draw=slice(start, start + length)).assign_coords(
            chain=np.arange(len(chains)), draw=np.arange(length)
        ),
        sample_stats=idata.sample_stats.isel(chain=chains, draw=slice(start, start + length)).assign_coords(
            chain=np.arange(len(chains)), draw=np.arange(length)
        ),
    )


def error(table, reference) -> dict:
    """Largest |mean - reference mean| / reference sd, over hyperparameters and product levels."""
    ref = reference.set_index("parameter")
    out = {}
    for role in ("hyper", "product"):
        t = table[table["role"] == role].set_index("parameter")
        common = t.index.intersection(ref.index)
        z = (t.loc[common, "mean"] - ref.loc[common, "mean"]).abs() / ref.loc[common, "sd"]
        out[role] = round(float(z.max()), 2) if len(z) else None
    return out


def score(kind, idata, names, reference) -> dict:
    table = parameter_table(idata, names)
    found = failures(idata, table)
    return {
        "kind": kind,
        "gate_passes": not found,
        "gate_failures": [f.describe() for f in found],
        "old_gate_passes": old_gate(idata, table),
        "error": error(table, reference),
        "divergences": int(idata.sample_stats["diverging"].sum()),
    }


def measure(name: str) -> dict:
    spec = BY_NAME[name]
    data = generate(spec)
    config = ForecastConfig.from_options(nested=spec.nested, crossed=spec.crossed, seed=1)
    prepared = runs.prepare(data.sales, data.products, config)
    design = prepared.design
    forms = choose_forms(design, config.merged_priors)
    model = runs.model_for(design, config, forms=forms)
    sampler = Sampler(model, "nutpie")
    names = checked_parameters(model)
    target = config.target_accept_for(len(design.products))
    print(f"{name}: reference run", flush=True)
    long = sampler.sample(chains=8, tune=1500, draws=5000, target_accept=0.95, seed=101, progressbar=False)
    reference = parameter_table(long, names)
    ref_ok = not failures(long, reference)
    results = []
    for group in ([0, 1, 2, 3], [4, 5, 6, 7]):
        for start in range(0, 5000, 1000):
            results.append(score("healthy", window(long, group, start, 1000), names, reference))
    old_healthy = []
    for pair in ([0, 1], [2, 3], [4, 5], [6, 7]):
        for start in (0, 2000):
            fit = window(long, pair, start, 2000)
            old_healthy.append(old_gate(fit, parameter_table(fit, names)))
    for seed in (1, 2, 3):
        few = sampler.sample(chains=4, tune=30, draws=150, target_accept=target, seed=seed, progressbar=False)
        results.append(score("too few draws", few, names, reference))
        rng = np.random.default_rng(seed)
        apart = None
        for chain in range(4):
            one = sampler.sample(chains=1, tune=40, draws=1000, target_accept=target, seed=seed * 10 + chain,
                                 progressbar=False, init_mean=rng.normal(0, 3, sampler._compiled.n_dim))  # fmt: skip
            apart = one if apart is None else pool_chains(apart, one)
        results.append(score("chains started apart", apart, names, reference))
        centered = {**forms, "product": np.ones(len(design.products)),
                    "groups": {a: 1.0 for a in forms["groups"]}} | {k: 1.0 for k in ("season", "trend", "elasticity", "promo", "zero")}  # fmt: skip
        sampler.set_data(centering_data(centered))
        funnel = sampler.sample(
            chains=4, tune=600, draws=1000, target_accept=0.8, seed=seed, progressbar=False
        )
        sampler.set_data(centering_data(forms))
        results.append(score("funnel (every part centered)", funnel, names, reference))
    for r in results:
        print(name, r, flush=True)
    return {
        "catalog": name,
        "reference_passes": ref_ok,
        "reference_divergences": int(long.sample_stats["diverging"].sum()),
        "reference_max_rhat": round(float(reference[reference["role"] != "raw"]["r_hat"].max()), 4),
        "fits": results,
        "old_gate_healthy_passes": old_healthy,
    }


def generate(spec):
    from forecast.prep.synthetic import generate_retail_data

    return generate_retail_data(seed=1, **spec.generate)


def summary(catalogs: list[dict]) -> str:
    lines = ["| catalog | healthy fits: gate fails | old gate fails (2 x 2,000) | too few draws caught | "
             "started apart caught | funnel caught | error of uncaught broken fits (sd) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in catalogs:
        fits = c["fits"]
        healthy = [f for f in fits if f["kind"] == "healthy"]
        cell = []
        for kind in ("too few draws", "chains started apart", "funnel (every part centered)"):
            ks = [f for f in fits if f["kind"] == kind]
            cell.append(f"{sum(not f['gate_passes'] for f in ks)} of {len(ks)}")
        missed = [f["error"]["hyper"] for f in fits if f["kind"] != "healthy" and f["gate_passes"]]
        lines.append(
            f"| {c['catalog']} | {sum(not f['gate_passes'] for f in healthy)} of {len(healthy)} | "
            f"{sum(not p for p in c['old_gate_healthy_passes'])} of {len(c['old_gate_healthy_passes'])} | "
            f"{' | '.join(cell)} | {', '.join(map(str, missed)) or '-'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("catalogs", nargs="+", choices=list(BY_NAME))
    args = parser.parse_args()
    catalogs = [measure(c) for c in args.catalogs]
    save("gate", {"catalogs": catalogs})
    print(summary(catalogs))
