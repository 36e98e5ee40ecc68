"""A pooled component written for a low plausible scale, or for the scale the chains found.

    uv run python benchmarks/scale_form.py w5000 --seed 2 --part trend --scale 0.021

For a catalog of the convergence corpus (``benchmarks/corpus.py``), the model is compiled once with
the forms from the data (``forecast.model.forms``) and sampled twice at the default settings (4 chains,
600 tuning + 1,000 draws, sampler seed = seed + 5): with ``--part`` at its exponent from the pre-fit,
and at its exponent were its scale ``--scale`` (the posterior median a first attempt found;
``forecast.model.forms.exponent_at``). Reported: the part's scale's ESS, the part's worst R-hat, steps
per draw, seconds and what fails the gate. The measurement behind ``forecast.model.remedies``' "written
for the scale the chains found" (benchmarks/README.md, "the convergence corpus").
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
from forecast.model.builder import centering_data
from forecast.model.diagnostics import checked_parameters, failures, parameter_table
from forecast.model.forms import choose_forms, exponent_at, pilot_scales
from forecast.model.inference import Sampler
from forecast.prep.synthetic import generate_retail_data


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("catalog", choices=list(BY_NAME))
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--part", default="trend", choices=["trend", "elasticity", "promo", "season"])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--label", default="scale_form")
    args = parser.parse_args()
    spec = BY_NAME[args.catalog]
    data = generate_retail_data(seed=args.seed, **spec.generate)
    config = ForecastConfig.from_options(nested=spec.nested, crossed=spec.crossed, seed=args.seed)
    design = runs.prepare(data.sales, data.products, config).design
    priors = config.merged_priors
    spreads = pilot_scales(design, priors)
    forms = choose_forms(design, priors, scales=spreads)
    model = runs.model_for(design, config, forms=forms)
    sampler = Sampler(model, config.sampler)
    names = checked_parameters(model)
    scale_name = f"{args.part}_sigma"
    results = []
    variants = {
        "from the pre-fit": forms[args.part],
        f"at scale {args.scale}": float(exponent_at(design, priors, spreads, args.part, args.scale)),
    }
    for label, exponent in variants.items():
        sampler.set_data(centering_data({**forms, args.part: exponent}))
        t0 = time.perf_counter()
        idata = sampler.sample(chains=config.chains, tune=config.tune, draws=config.draws, seed=args.seed + 5,
                               target_accept=config.target_accept_for(len(design.products)), progressbar=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        post = idata.posterior
        results.append(
            {
                "variant": label,
                "exponent": round(float(np.mean(exponent)), 3),
                "ess_scale": float(az.ess(post[[scale_name]])[scale_name]),
                "max_rhat_part": float(az.rhat(post[[args.part]])[args.part].max()),
                "steps_per_draw": float(idata.sample_stats["n_steps"].mean()),
                "seconds": round(seconds, 1),
                "fails": "; ".join(f.describe() for f in failures(idata, parameter_table(idata, names))),
            }
        )
        print(results[-1], flush=True)
    save(args.label, {"catalog": args.catalog, "seed": args.seed, "part": args.part, "results": results})


if __name__ == "__main__":
    main()
