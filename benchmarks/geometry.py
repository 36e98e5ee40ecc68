"""How the model's parts are written, chosen from the data, against the fixed forms, on the corpus.

    uv run python benchmarks/geometry.py w6 q32-crossed w200 --seeds 1 2

For each catalog of the convergence corpus (``benchmarks/corpus.py``) and seed, the model is
compiled once and sampled under each geometry in turn (the centering exponents are data of the
compiled model): the fixed forms the model had before (products centered, attributes centered
where every level holds 30 products, seasonality centered, elasticity, promotion and trend
half-centered), and the exponents ``forecast.model.forms`` computes from the rows and its quick
pre-fit, with levels that share a scale summarised by their mean or by their 10th percentile (the
default), and with a product's information taken from its own rows (the default) or from its
deviation from its groups' mean. Default sampler settings (4 chains, 600 tuning + 1,000 draws, the catalog's target
acceptance). Reported per geometry: divergences, the worst hyperparameter ESS, the worst gated
R-hat, leapfrog steps per draw, sampling seconds and the gate's verdict. Results:
``results/geometry.json``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import save
from corpus import BY_NAME

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.model.builder import CENTER_MIN_PRODUCTS, centering_data
from forecast.model.diagnostics import checked_parameters, failures, parameter_table, verdict
from forecast.model.forms import choose_forms
from forecast.model.inference import Sampler
from forecast.prep.synthetic import generate_retail_data


def fixed_forms(design) -> dict:
    """The forms before they came from the data, as exponents of the same graph."""
    groups = {
        attr: 1.0 if np.bincount(idx).min() >= CENTER_MIN_PRODUCTS else 0.0
        for attr, idx in design.level_idx.items()
    }
    return {
        "product": np.ones(len(design.products)),
        "groups": groups,
        "season": 1.0,
        "elasticity": 0.5,
        "promo": 0.5,
        "trend": 0.5,
        "zero": 0.0,
    }


def measure(name: str, seed: int) -> list[dict]:
    spec = BY_NAME[name]
    data = generate_retail_data(seed=seed, **spec.generate)
    config = ForecastConfig.from_options(nested=spec.nested, crossed=spec.crossed, seed=seed)
    prepared = runs.prepare(data.sales, data.products, config)
    design, priors = prepared.design, config.merged_priors
    variants = {
        "fixed forms (before)": fixed_forms(design),
        "rows and pre-fit, levels' mean": choose_forms(
            design, priors, level_summary="mean", product_information_of="rows"
        ),
        "rows and pre-fit, least informed levels": choose_forms(
            design, priors, level_summary=0.1, product_information_of="rows"
        ),
        "the same, products' deviation from their groups": choose_forms(
            design, priors, level_summary=0.1, product_information_of="deviation"
        ),
    }
    model = runs.model_for(design, config, forms=next(iter(variants.values())))
    sampler = Sampler(model, "nutpie")
    names = checked_parameters(model)
    target = config.target_accept_for(len(design.products))
    out = []
    for label, forms in variants.items():
        sampler.set_data(centering_data(forms))
        t0 = time.perf_counter()
        idata = sampler.sample(chains=config.chains, tune=config.tune, draws=config.draws, target_accept=target,
                               seed=seed, progressbar=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        table = parameter_table(idata, names)
        v = verdict(idata, table)
        hyper = table[table["role"] == "hyper"]
        worst = hyper.loc[hyper[["ess_bulk", "ess_tail"]].min(axis=1).idxmin(), "parameter"]
        row = {
            "catalog": name,
            "seed": seed,
            "geometry": label,
            "divergences": v["divergences"],
            "min_ess_hyper": round(v["min_ess_hyper"]),
            "worst": worst,
            "max_rhat": round(v["max_rhat"], 4),
            "steps": round(float(idata.sample_stats["n_steps"].mean()), 1),
            "seconds": round(seconds, 1),
            "passes": not failures(idata, table),
            "problems": v["problems"],
            "exponents": {
                k: round(float(np.mean(list(f.values()) if isinstance(f, dict) else f)), 2)
                for k, f in forms.items()
            },
        }
        out.append(row)
        print(row, flush=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("catalogs", nargs="+", choices=list(BY_NAME))
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2])
    parser.add_argument("--label", default="geometry")
    args = parser.parse_args()
    results = [r for c in args.catalogs for s in args.seeds for r in measure(c, s)]
    save(args.label, {"results": results})
