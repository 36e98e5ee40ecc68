"""Is a category's effect traded against its brands'? One first attempt, then the posterior's answer.

    uv run python benchmarks/nesting.py w200 --seed 1 --label nesting_w200

For a catalog of the convergence corpus (``benchmarks/corpus.py``; brands nest in categories), one
sampling attempt at the default settings (4 chains, 600 tuning + 1,000 draws, the geometry from
the data, no retries), then per category: the posterior correlation of its effect with the mean of
its brands' effects and with each brand's (the most negative), the posterior sd of its effect
against that of the sum the data inform (its effect plus its brands' mean), and the worst bulk ESS
and R-hat of the category effects. With brands summing to zero over the whole catalog the first
two show the ridge (correlation near -1, an sd several times the informed sum's); with brands
summing to zero within their category (``forecast.prep.design.parent_groups``) the brands' mean is 0.
Run it on two snapshots to compare (``git archive``, then ``PYTHONPATH=<snapshot>``).
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import numpy as np
from _common import save
from corpus import BY_NAME

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.model.forms import choose_forms
from forecast.model.inference import Sampler
from forecast.prep.synthetic import generate_retail_data


def measure(name: str, seed: int) -> dict:
    spec = BY_NAME[name]
    data = generate_retail_data(seed=seed, **spec.generate)
    config = ForecastConfig.from_options(nested=spec.nested, crossed=spec.crossed, seed=seed)
    design = runs.prepare(data.sales, data.products, config).design
    forms = choose_forms(design, config.merged_priors)
    model = runs.model_for(design, config, forms=forms)
    t0 = time.perf_counter()
    idata = Sampler(model, config.sampler).sample(
        chains=config.chains,
        tune=config.tune,
        draws=config.draws,
        target_accept=config.target_accept_for(len(design.products)),
        seed=seed,
        progressbar=False,
    )
    seconds = time.perf_counter() - t0
    post = idata.posterior
    cats = post["effect_category"].stack(s=("chain", "draw"))
    brands = post["effect_brand"].stack(s=("chain", "draw"))
    parent = brands["brand"].to_index().str.split("/").str[0]
    per_category = []
    for cat in cats["category"].values:
        c = cats.sel(category=cat).values
        own = brands.values[parent == cat]
        mean = own.mean(axis=0)
        per_category.append(
            {
                "category": str(cat),
                "brands": int(len(own)),
                "corr_with_brands_mean": float(np.corrcoef(c, mean)[0, 1]) if mean.std() > 1e-9 else None,
                "most_negative_corr_with_a_brand": float(min(np.corrcoef(c, b)[0, 1] for b in own)),
                "sd_effect": float(c.std()),
                "sd_effect_plus_brands_mean": float((c + mean).std()),
            }
        )
    effect = post[["effect_category"]]
    return {
        "catalog": name,
        "seed": seed,
        "products": len(design.products),
        "sampling_s": round(seconds, 1),
        "min_ess_bulk_category": float(az.ess(effect)["effect_category"].min()),
        "max_rhat_category": float(az.rhat(effect)["effect_category"].max()),
        "categories": per_category,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("catalog", choices=list(BY_NAME))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", default="nesting")
    args = parser.parse_args()
    save(args.label, measure(args.catalog, args.seed))


if __name__ == "__main__":
    main()
