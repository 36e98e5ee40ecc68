"""The model's optional components (per-product deviations, the launch ramp, censored stock-out
periods): the fused likelihood reads them as written, and real fits on generated catalogs with
their truth recover them."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.contract.schema import Hierarchy
from forecast.model.builder import build_model, launch_rows
from forecast.model.priors import DEFAULT_PRIORS, PRODUCT_EFFECTS
from forecast.prep.design import Rows
from forecast.prep.realism import Realism, generate_realistic_catalog
from tests.forecast.model.reference import pooled_negbin_loglik

WEEK_IN_YEARS = 7 / 365.25


def _with_censored(design, share=0.2, seed=0):
    """``design`` with a share of its history rows marked censored."""
    rng = np.random.default_rng(seed)
    train = design.train
    censored = rng.uniform(size=len(train)) < share
    rows = Rows(train.product_idx, train.time_idx, train.log_price, train.promo, train.y, censored)
    return type(design)(**{**design.__dict__, "train": rows})


def test_the_likelihood_reads_every_component_as_written(tiny_design):
    """With every per-product deviation, the launch ramp and censored rows on, the model's
    likelihood term equals a row-by-row sum from SciPy of the log mean written from the model's
    named quantities: each row reads its own product's coefficients, seasonal row and dispersion,
    the ramp reaches the launched products' first year, a censored row counts its survival."""
    design = _with_censored(tiny_design)
    model = build_model(design, DEFAULT_PRIORS, product_effects=PRODUCT_EFFECTS, launch_ramp=True)
    names = ["alpha_product", "season", "season_product_z", "season_product_sigma", "ramp"]
    names += [f"{c}_product" for c in ("trend", "elasticity", "promo")] + ["log_alpha_product"]
    assert all(n in model.named_vars for n in names)
    rng = np.random.default_rng(1)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    # the model's quantities at the point: random variables replaced by the point's values
    outs = model.replace_rvs_by_values([model[n] for n in [*names, "demand_loglik"]])
    evaluated = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point)
    values, loglik = dict(zip(names, evaluated[:-1], strict=True)), float(evaluated[-1])

    rows = design.train
    p, t = rows.product_idx, rows.time_idx
    coef = values["season"][design.pool_idx] + values["season_product_sigma"] * values["season_product_z"]
    eta = (
        values["alpha_product"][p]
        + np.einsum("rk,rk->r", design.fourier[t], coef[p])
        + values["trend_product"][p] * design.years[t]
        + values["elasticity_product"][p] * rows.log_price
        + values["promo_product"][p] * rows.promo
    )
    at, age = launch_rows(design, rows)
    assert len(at) > 0
    tau = np.exp(values["ramp"][design.pool_idx[p[at]]])
    eta[at] += np.log1p(-np.exp(-age / tau))
    a = np.exp(values["log_alpha_product"][p])
    q = a / (a + np.exp(eta))
    log_pmf = stats.nbinom.logpmf(rows.y, a, q)
    log_sf = np.where(rows.y > 0, stats.nbinom.logsf(rows.y - 1, a, q), 0.0)
    want = np.sum(np.where(rows.censored, log_sf, log_pmf))
    np.testing.assert_allclose(loglik, want, rtol=1e-9)


def test_the_horizon_build_shares_every_component(tiny_design):
    """The horizon model has the same free variables as the history one, so the fitted posterior
    draws its paths (a component missing from either would be redrawn from its prior)."""
    kwargs = {"product_effects": PRODUCT_EFFECTS, "launch_ramp": True}
    history = build_model(tiny_design, DEFAULT_PRIORS, **kwargs)
    horizon = build_model(tiny_design, DEFAULT_PRIORS, predict=True, **kwargs)
    assert {v.name for v in history.free_RVs} == {v.name for v in horizon.free_RVs} - {"demand"}


def test_unknown_product_effect_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown product_effects \\['colour'\\]; choose from elasticity"):
        ForecastConfig(product_effects="elasticity,colour")


def _fit(data, **options):
    config = ForecastConfig(draws=300, tune=400, chains=2, attempt_budget=1.0, seed=3, horizon=13, **options)
    prepared = runs.prepare(data.sales, data.products, config, plan=data.plan)
    return prepared, runs.fit_model(prepared, config, progressbar=False)


def _interval(idata, name):
    return az.hdi(idata.posterior[name], hdi_prob=0.9)[name].to_numpy()


def test_per_product_dispersion_and_price_response_are_recovered():
    """On a catalog whose products differ in dispersion (sd 0.7 on log alpha) and in price
    response (sd 0.5 around their category's elasticity): both scales are recovered within their
    90% intervals, and the products' own values follow the truth."""
    realism = Realism(dispersion_sd=0.7, elasticity_sd=0.5).only("product_dispersion", "product_elasticity")
    data = generate_realistic_catalog(n_products=60, n_weeks=156, seed=5, realism=realism)
    prepared, fitted = _fit(data, product_effects="elasticity,dispersion")
    post = fitted.idata.posterior
    for name, true_scale in (("dispersion_product_sigma", 0.7), ("elasticity_product_sigma", 0.5)):
        low, high = _interval(fitted.idata, name)
        assert low <= true_scale <= high, (name, low, high)
    truth = data.params.loc[prepared.design.products]
    selling = prepared.design.n_obs > 52
    own_dispersion = post["log_alpha_product"].mean(("chain", "draw")).to_numpy()
    assert np.corrcoef(own_dispersion[selling], np.log(truth["dispersion"])[selling])[0, 1] > 0.5
    own_elasticity = post["elasticity_product"].mean(("chain", "draw")).to_numpy()
    assert np.corrcoef(own_elasticity[selling], truth["elasticity"][selling])[0, 1] > 0.5


def test_launch_ramp_is_recovered():
    """Products launched inside the data ramp up over about 16 weeks (tau 14-18 weeks; the prior's
    centre is 4 weeks): the ramp's catalog-wide log tau has the truth in its 90% interval and
    leaves the prior's centre out of it. The products carry their launch dates: a slow launch's
    first sale comes weeks after it, and read from the first sale its ramp looks far shorter (and a
    slow seller's first sale in week 5 like a launch)."""
    realism = Realism(ramp_weeks=(14.0, 18.0)).only("ramp_up")
    data = generate_realistic_catalog(n_products=100, n_weeks=104, seed=6, realism=realism)
    assert data.params["ramp_tau"].notna().sum() >= 10
    assert data.products["launch_date"].notna().sum() == data.params["ramp_tau"].notna().sum()
    _, fitted = _fit(data, launch_ramp="on")
    low, high = _interval(fitted.idata, "ramp_mu")
    assert low <= np.log(16 * WEEK_IN_YEARS) <= high, (low, high)
    assert not low <= DEFAULT_PRIORS["ramp_mu"] <= high


def test_a_censored_period_does_not_pull_the_forecast_down():
    """Half the products run out of stock in a quarter of their weeks, their recorded sales thinned
    by the in-stock share. Read as demand, those weeks pull the products' forecasts down; read as
    censored (a lower bound), the forecast of their demand is higher and nearer the truth."""
    realism = Realism(stockout_share=0.5, stockout_rate=0.25).only("stockouts")
    data = generate_realistic_catalog(n_products=40, n_weeks=104, seed=8, realism=realism)
    assert (data.sales["availability"] < 1).mean() > 0.05
    totals = {}
    for how in ("censored", "as_demand"):
        config = ForecastConfig(draws=300, tune=400, chains=2, attempt_budget=1.0, seed=3, stockouts=how)
        prepared = runs.prepare(data.sales, data.products, config, plan=data.plan)
        assert prepared.design.train.censored is not None
        fitted = runs.fit_model(prepared, config, progressbar=False)
        _, paths = runs.forecast(prepared, fitted, config)
        mean = paths.values.mean(axis=0)  # (products, periods) of the horizon
        prone = data.params.loc[paths.products, "stockout_prone"].to_numpy()
        totals[how] = mean[prone].sum()
    truth = data.truth.merge(data.params[["stockout_prone"]], left_on="product_id", right_index=True)
    true_total = truth.loc[truth["stockout_prone"], "mean"].sum()
    assert totals["as_demand"] < 0.93 * true_total  # the bias the censoring removes is there
    assert abs(totals["censored"] / true_total - 1) < 0.07
    assert totals["censored"] > totals["as_demand"] * 1.05


def test_the_level_drift_walks_back_from_the_last_period(tiny_design):
    """With the level drift on, each row's log mean gains its product's walk, written here from
    scratch: steps of ``drift_sigma * sqrt(spacing in years) * drift_z`` at knots every ``spacing``
    periods back from the last history period (where the walk is 0), linear between knots; the
    likelihood term equals the row-by-row sum from SciPy."""
    from forecast.model.builder import drift_knots

    design = tiny_design
    model = build_model(design, DEFAULT_PRIORS, level_drift=True)
    rng = np.random.default_rng(2)
    point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in model.initial_point().items()}
    names = ["alpha_product", "season", "trend", "elasticity", "promo", "log_alpha", "drift_sigma", "drift_z"]
    outs = model.replace_rvs_by_values([model[n] for n in [*names, "demand_loglik"]])
    evaluated = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point)
    v, loglik = dict(zip(names, evaluated[:-1], strict=True)), float(evaluated[-1])

    spacing, knots = drift_knots(design)
    step = v["drift_sigma"] * np.sqrt(spacing * (design.years[1] - design.years[0]))
    rows = design.train
    drift, used = np.zeros(len(rows)), 0
    for p in range(len(design.products)):
        n_steps = max(knots[p] - 1, 0)
        level = np.concatenate([[0.0], np.cumsum(step * v["drift_z"][used : used + n_steps])])
        used += n_steps
        for i in np.flatnonzero(rows.product_idx == p):
            back = (design.n_train - 1 - rows.time_idx[i]) / spacing
            k = int(back)
            drift[i] = level[k] + (back - k) * (level[k + 1] - level[k])
    assert used == len(v["drift_z"]) and np.abs(drift).max() > 0.1
    want = pooled_negbin_loglik(design, v, drift)
    np.testing.assert_allclose(loglik, want, rtol=1e-9)
    horizon = build_model(design, DEFAULT_PRIORS, predict=True, level_drift=True)
    assert "drift_future_z" in horizon.named_vars and "drift_z" not in horizon.named_vars


def _drifting_catalog(n_products=30, n_weeks=91, horizon=13, seed=11, drift_per_year=0.6):
    """Weekly counts whose log level walks (sd ``drift_per_year`` a year) around 2, no seasonality,
    prices or promotions: sales of the first ``n_weeks``, and the held-out weeks' counts."""
    rng = np.random.default_rng(seed)
    total = n_weeks + horizon
    walk = np.cumsum(rng.normal(0, drift_per_year * np.sqrt(7 / 365.25), (n_products, total)), axis=1)
    mean = np.exp(2.0 + rng.normal(0, 0.5, (n_products, 1)) + walk)
    counts = rng.negative_binomial(20, 20 / (20 + mean))
    dates = pd.date_range("2023-01-02", periods=total, freq="7D")
    ids = [f"P{i:03d}" for i in range(n_products)]
    p, t = np.meshgrid(np.arange(n_products), np.arange(total), indexing="ij")
    frame = pd.DataFrame(
        {"date": dates[t.ravel()], "product_id": np.array(ids)[p.ravel()], "quantity": counts.ravel()}
    )
    products = pd.DataFrame(
        {"product_id": ids, "category": ["c"] * n_products, "brand": [f"b{i % 5}" for i in range(n_products)]}
    )
    return frame[frame["date"] < dates[n_weeks]], products, counts[:, n_weeks:]


def test_level_drift_gives_drifting_series_intervals_that_cover():
    """On series whose level walks, a static level's 80% intervals are too narrow for the held-out
    weeks; with the drift on they cover about as often as they say."""
    sales, products, actual = _drifting_catalog()
    coverage = {}
    for drift in ("off", "on"):
        config = ForecastConfig(
            hierarchy=Hierarchy(nested=("category", "brand"), crossed=()),
            draws=300,
            tune=400,
            chains=2,
            attempt_budget=1.0,
            seed=3,
            level_drift=drift,
        )
        prepared = runs.prepare(sales, products, config)
        fitted = runs.fit_model(prepared, config, progressbar=False)
        _, paths = runs.forecast(prepared, fitted, config)
        low, high = np.quantile(paths.values, [0.1, 0.9], axis=0)
        coverage[drift] = float(np.mean((actual >= low) & (actual <= high)))
    assert coverage["on"] >= 0.72, coverage
    assert coverage["on"] > coverage["off"] + 0.08, coverage
