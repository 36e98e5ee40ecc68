"""Totals that hold: forecasts scored at every level of a catalog whose products share demand shocks.

    uv run python benchmarks/shocks.py --products 200 --seed 1            # shocks in the data
    uv run python benchmarks/shocks.py --products 200 --seed 1 --no-shocks

A catalog from ``forecast.prep.synthetic.generate_retail_data`` with shared demand shocks
(``--shock-sigma`` catalog-wide and ``--shock-group-sigma`` per category, AR(1) with ``--shock-phi``;
``--no-shocks``: none), 104 weeks of history and 13 held out (the generator's own prices and
promotions given as the plan). The model is fitted with ``shared_shocks`` off (``static``), on
(``shocks``) and at the default (``defaults``: ``auto``, the pre-fit decides) (``--variants``;
``ForecastConfig`` defaults otherwise, the remedies' attempt budget). Its sample
paths are summed within each draw to every category and to the total (coherent), and scored at the
product, category and total level against:

- the oracle: paths drawn from the generating process itself (its parameters, the last history
  period's true shocks carried forward by the same AR(1), fresh shocks and negative binomial noise),
  so its coverage is what a perfect model gets on this one realisation;
- statsforecast's AutoETS fitted to each series of that level itself (each category's and the total's
  own history), with its own intervals.

Scores (``forecast.evaluation.metrics``): weighted quantile loss on the scoring grid, CRPS, 50/80/95%
coverage. Also the shock scales' and phi's posterior (90% interval) against the truth.
Writes ``results/shocks_<products>_<seed>[_noshocks].json``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from _common import save

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.contract.quantiles import SCORING_COLUMNS, SCORING_GRID
from forecast.contract.schema import DATE, PRODUCT, QUANTITY
from forecast.evaluation.baselines import baseline_forecasts
from forecast.evaluation.metrics import score
from forecast.prep.synthetic import generate_retail_data

HISTORY, HORIZON = 104, 13
VARIANTS = {"static": {"shared_shocks": "off"}, "shocks": {"shared_shocks": "on"}, "defaults": {}}
N_ORACLE = 2000


def quantile_cells(values: np.ndarray, ids, dates, actual: pd.DataFrame) -> pd.DataFrame:
    """Grid quantiles and mean of paths ``(draw, series, period)``, joined to the actuals."""
    q = np.quantile(values.astype(float), SCORING_GRID, axis=0)
    n_series, n_time = values.shape[1:]
    frame = pd.DataFrame(q.reshape(len(SCORING_GRID), -1).T, columns=SCORING_COLUMNS)
    frame.insert(0, "mean", values.mean(axis=0).ravel())
    frame.insert(0, DATE, np.tile(np.asarray(dates), n_series))
    frame.insert(0, "series_id", np.repeat(np.asarray(ids), n_time))
    return frame.merge(actual, on=["series_id", DATE])


def levels(
    paths: np.ndarray, products: np.ndarray, category: pd.Series
) -> dict[str, tuple[np.ndarray, list]]:
    """Paths ``(draw, product, period)`` at every level: products, categories (summed), total."""
    cats = category.reindex(products).to_numpy()
    names = sorted(set(cats))
    by_cat = np.stack([paths[:, cats == c, :].sum(axis=1) for c in names], axis=1)
    return {
        "product": (paths, list(products)),
        "category": (by_cat, names),
        "total": (paths.sum(axis=1, keepdims=True), ["total"]),
    }


def long_series(frame: pd.DataFrame, category: pd.Series) -> dict[str, pd.DataFrame]:
    """``series_id, date, y`` per level from product rows ``date, product_id, quantity``."""
    f = frame.assign(category=frame[PRODUCT].map(category))
    out = {"product": f.rename(columns={PRODUCT: "series_id"})}
    out["category"] = (
        f.groupby(["category", DATE], as_index=False)[QUANTITY]
        .sum()
        .rename(columns={"category": "series_id"})
    )
    out["total"] = f.groupby(DATE, as_index=False)[QUANTITY].sum().assign(series_id="total")
    return {k: v.rename(columns={QUANTITY: "y"})[["series_id", DATE, "y"]] for k, v in out.items()}


def oracle_paths(data, products: np.ndarray, future: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """The generating process's own predictive paths over the horizon ``(draw, product, period)``."""
    rng = np.random.default_rng([seed, 9])
    mean = data.mean.pivot(index=PRODUCT, columns=DATE, values="mean").reindex(index=products, columns=future)
    base = mean.to_numpy()  # true means with the realised shocks in them
    cats = data.products.set_index(PRODUCT)["category"].reindex(products).to_numpy()
    if data.truth.shocks is not None:
        shocks, p = data.truth.shocks, data.truth.shock
        realised = shocks.loc[future, cats].to_numpy().T  # (product, period)
        base = base / np.exp(realised)
        last = shocks.iloc[HISTORY - 1].to_numpy()  # per category, the last history period
        groups = list(shocks.columns)
        x = np.tile(last, (N_ORACLE, 1))
        drawn = np.empty((N_ORACLE, len(groups), len(future)))
        for h in range(len(future)):
            e = p["sigma"] * rng.normal(size=(N_ORACLE, 1)) + p["group_sigma"] * rng.normal(
                size=(N_ORACLE, len(groups))
            )
            x = p["phi"] * x + e
            drawn[:, :, h] = x
        idx = np.array([groups.index(c) for c in cats])
        mu = base[None, :, :] * np.exp(drawn[:, idx, :])
    else:
        mu = np.broadcast_to(base, (N_ORACLE, *base.shape))
    mu = np.nan_to_num(mu)  # products not on sale in a period
    alpha = data.truth.alpha
    return rng.poisson(rng.gamma(alpha, mu / alpha)).astype(np.int64)


def main(args: argparse.Namespace) -> None:
    shocks = {} if args.no_shocks else {
        "shock_sigma": args.shock_sigma, "shock_group_sigma": args.shock_group_sigma, "shock_phi": args.shock_phi
    }  # fmt: skip
    data = generate_retail_data(
        n_products=args.products, n_periods=HISTORY, horizon=HORIZON, seed=args.seed, **shocks
    )
    dates = pd.DatetimeIndex(sorted(data.mean[DATE].unique()))
    future = dates[HISTORY:]
    category = data.products.set_index(PRODUCT)["category"]
    train = data.sales[data.sales[DATE] < future[0]]
    plan = data.sales[data.sales[DATE] >= future[0]][[DATE, PRODUCT, "price", "promo"]]
    products = np.sort(data.products[PRODUCT].to_numpy())
    # every active (product, period), zeros included: the held-out truth and the baselines' history
    full = data.mean[[DATE, PRODUCT, QUANTITY]]
    held = long_series(full[full[DATE] >= future[0]], category)
    history = long_series(full[full[DATE] < future[0]], category)
    actual = {k: v.rename(columns={"y": "actual"}) for k, v in held.items()}

    results: dict = {"products": args.products, "seed": args.seed, "shocks": shocks, "methods": {}}

    def keep(method: str, paths: np.ndarray, extra: dict | None = None) -> None:
        out = dict(extra or {})
        for level, (values, ids) in levels(paths, products, category).items():
            cells = quantile_cells(values, ids, future, actual[level])
            out[level] = {
                k: round(v, 4) for k, v in score(cells, history[level]).items() if isinstance(v, float)
            }
        results["methods"][method] = out
        print(
            method,
            {lv: (out[lv]["wql"], out[lv]["coverage_80"]) for lv in ("product", "category", "total")},
            flush=True,
        )

    keep("oracle", oracle_paths(data, products, future, args.seed))
    ets = {}
    for level in ("product", "category", "total"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = baseline_forecasts(history[level], future, 52)
        cells = (
            f[f["method"] == "auto_ets"].drop(columns="method").merge(actual[level], on=["series_id", DATE])
        )
        ets[level] = {k: round(v, 4) for k, v in score(cells, history[level]).items() if isinstance(v, float)}
    results["methods"]["auto_ets"] = ets
    print("auto_ets", {lv: (ets[lv]["wql"], ets[lv]["coverage_80"]) for lv in ets}, flush=True)

    base = ForecastConfig(seed=args.seed)
    for name in args.variants:
        config = base.with_(**VARIANTS[name])
        prepared = runs.prepare(train, data.products, config, plan=plan)
        clock = time.perf_counter()
        fitted = runs.fit_model(prepared, config, progressbar=False)
        seconds = time.perf_counter() - clock
        _, paths = runs.forecast(prepared, fitted, config)
        values = paths.values[:, np.searchsorted(paths.products, products), :]
        post = fitted.idata.posterior
        d = fitted.diagnostics
        extra = {
            "seconds": round(seconds, 1),
            **{k: d.get(k) for k in ("verdict", "max_rhat", "min_ess_hyper", "divergences")},
            "attempts": len(fitted.attempts),
        }
        for v in ("shock_sigma", "shock_group_sigma", "shock_phi"):
            if v in post:
                x = post[v].values.ravel()
                extra[v] = [round(float(np.quantile(x, q)), 4) for q in (0.05, 0.5, 0.95)]
        keep(name, values, extra)
    name = f"shocks_{args.products}_{args.seed}" + ("_noshocks" if args.no_shocks else "")
    save(args.name or name, results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shock-sigma", type=float, default=0.1)
    parser.add_argument("--shock-group-sigma", type=float, default=0.05)
    parser.add_argument("--shock-phi", type=float, default=0.7)
    parser.add_argument("--no-shocks", action="store_true")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--name", help="results file name (results/NAME.json)")
    main(parser.parse_args())
