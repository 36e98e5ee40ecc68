"""The model's optional components (per-product deviations, the launch ramp, censored stock-out
periods): the fused likelihood reads them as written, and real fits on generated catalogs with
their truth recover them."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from scipy import stats

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.model.builder import build_model, launch_rows
from forecast.model.priors import DEFAULT_PRIORS, PRODUCT_EFFECTS
from forecast.prep.design import Rows
from forecast.prep.realism import Realism, generate_realistic_catalog

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
    data = generate_realistic_catalog(n_products=60, n_weeks=104, seed=5, realism=realism)
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
    """Products launched inside the data ramp up over about 22 weeks (tau 20-24 weeks; the prior's
    centre is 4 weeks): the ramp's catalog-wide log tau has the truth in its 90% interval and
    leaves the prior's centre out of it. The products carry their launch dates: a slow launch's
    first sale comes weeks after it, and read from the first sale its ramp looks far shorter."""
    realism = Realism(ramp_weeks=(20.0, 24.0)).only("ramp_up")
    data = generate_realistic_catalog(n_products=80, n_weeks=104, seed=6, realism=realism)
    assert data.params["ramp_tau"].notna().sum() >= 10
    assert data.products["launch_date"].notna().sum() == data.params["ramp_tau"].notna().sum()
    # The retailer lists the established products too, from before the data: slow sellers among
    # them whose first sale comes weeks in would otherwise read as launches at full level.
    established = (data.params["launch"] == data.sales["date"].min()).to_numpy()
    data.products.loc[established, "launch_date"] = data.params["launch"].min() - np.timedelta64(52, "W")
    _, fitted = _fit(data, launch_ramp="on")
    low, high = _interval(fitted.idata, "ramp_mu")
    assert low <= np.log(22 * WEEK_IN_YEARS) <= high, (low, high)
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
