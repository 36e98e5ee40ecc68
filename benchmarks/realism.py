"""The current model on the realism catalog: how far from the truth, overall and by segment.

    uv run python benchmarks/realism.py --products 120 --seed 1 [--draws 500 --tune 500 --chains 4]

The catalog is ``forecast.prep.realism.generate_realistic_catalog`` (every departure on: holidays,
launch ramp-up, end of life, stock-outs, per-product dispersion and price response), three years
of weekly history and 13 held-out weeks from the first Monday of October. The model is fitted as a
run fits it (``forecast.runs.prepare`` / ``fit_model`` / ``forecast``, ``ForecastConfig`` defaults
but the draws, tuning and chains given here, and one sampling attempt), on the history as the model
reads it today: the ``availability`` column, the products' ``end_date`` and the event calendar left out unless
``--give`` names them,
the horizon's prices and promotions given as the plan, the forecast options ``--option`` sets
(``--option launch_ramp=on product_effects=elasticity,dispersion``). Its sample paths are scored by
``forecast.evaluation.truth.score_against_truth``: CRPS relative to the true distribution's, and the
50/80/95% interval coverage of the forecast and of the truth. Writes
``results/<--name>.json`` (default ``realism_before``).
"""

from __future__ import annotations

import argparse
import time

from _common import save

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.evaluation.truth import score_against_truth
from forecast.prep.realism import describe, generate_realistic_catalog


def main(args: argparse.Namespace) -> None:
    data = generate_realistic_catalog(n_products=args.products, seed=args.seed)
    given = set(args.give)
    sales = data.sales if "availability" in given else data.sales.drop(columns=["availability"])
    products = data.products if "end_date" in given else data.products.drop(columns=["end_date"])
    options = dict(o.split("=", 1) for o in args.option)
    config = ForecastConfig(
        **options,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        horizon=len(data.truth["date"].unique()),
        attempt_budget=args.attempt_budget,
    )
    t0 = time.perf_counter()
    events = data.events if "events" in given else None
    prepared = runs.prepare(sales, products, config, plan=data.plan, events=events)
    fitted = runs.fit_model(prepared, config, progressbar=False)
    fit_seconds = time.perf_counter() - t0
    _, paths = runs.forecast(prepared, fitted, config)
    scores = score_against_truth(paths.values, paths.products, paths.dates, data.truth)
    d = fitted.diagnostics
    out = {
        "catalog": describe(data),
        "config": {
            "draws": args.draws,
            "tune": args.tune,
            "chains": args.chains,
            "attempt_budget": args.attempt_budget,
            "given": sorted(given),
            **options,
        },
        "fit": {
            "seconds": round(fit_seconds, 1),
            **{k: d.get(k) for k in ("verdict", "max_rhat", "min_ess_hyper", "divergences", "problems")},
        },
        "scores": scores,
    }
    save(args.name, out)
    print(f"{'segment':<12} {'rows':>5} {'ratio':>7} {'excess':>7}  cov50 m/t  cov80 m/t  cov95 m/t")
    for name, s in scores.items():
        if not s.get("rows"):
            continue
        cov = "  ".join(f"{c['model']:.2f}/{c['truth']:.2f}" for c in s["coverage"].values())
        print(f"{name:<12} {s['rows']:>5} {s['ratio']!s:>7} {s['excess']:>7}  {cov}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--attempt-budget", type=float, default=1.0)
    parser.add_argument("--name", default="realism_before")
    parser.add_argument(
        "--give",
        nargs="*",
        default=[],
        choices=["availability", "end_date", "events"],
        help="columns of the catalog the model reads (default: neither, as before they were read)",
    )
    parser.add_argument(
        "--option", nargs="*", default=[], help="forecast options as name=value (e.g. launch_ramp=on)"
    )
    main(parser.parse_args())
