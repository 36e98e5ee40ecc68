"""Shared demand shocks (``shared_shocks``): the likelihood reads them as written, the horizon carries
them on shared by every product of a sample path, and a real fit recovers their scale and gives the
totals intervals that cover."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.contract.schema import DATE, PRODUCT, QUANTITY
from forecast.model import builder
from forecast.model.builder import build_model
from forecast.model.forms import choose_forms
from forecast.model.priors import DEFAULT_PRIORS
from forecast.prep.synthetic import generate_retail_data
from tests.forecast.model.reference import pooled_negbin_loglik


def _at(model, point, names):
    outs = model.replace_rvs_by_values([model[n] for n in names])
    values = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point)
    return dict(zip(names, values, strict=True))


def _ar(phi: float, innovations: np.ndarray) -> np.ndarray:
    """``x_t = phi * x_(t-1) + e_t`` from ``x_0 = e_0``, along the first axis, by recursion."""
    x = np.array(innovations, dtype=float)
    for t in range(1, len(x)):
        x[t] = phi * x[t - 1] + innovations[t]
    return x


@pytest.mark.parametrize("form", ["centered", "innovations"])
def test_every_product_of_a_group_reads_its_periods_shock(tiny_design, monkeypatch, form):
    """The shock of group g in period t is the catalog's AR(1) plus g's own (summing to zero over the
    groups), each ``x_t = phi * x_(t-1) + sigma * e_t``; every row's log mean gains its group's shock
    of its period, and the likelihood term equals the row-by-row sum from SciPy. Written partially
    centered, the AR(1)s' prior is the normal density of their innovations; written by their
    standardized innovations (where a period's rows inform a shock less than its prior), the shocks
    are the recursion run on them."""
    monkeypatch.setattr(builder, "AR_INNOVATIONS_BELOW", 0.0 if form == "centered" else 1.01)
    design = tiny_design
    model = build_model(design, DEFAULT_PRIORS, shared_shocks=True)
    rng = np.random.default_rng(4)
    point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in model.initial_point().items()}
    names = ["alpha_product", "season", "trend", "elasticity", "promo", "log_alpha", "shock", "shock_phi"]
    names += ["shock_sigma", "shock_group_sigma", "demand_loglik"]
    raw = ["shock_w", "shock_group_w", "shock_prior", "shock_group_prior"]
    raw = raw if form == "centered" else ["shock_z", "shock_group_z"]
    v = _at(model, point, names + raw)

    phi = v["shock_phi"]
    if form == "centered":
        exponents = choose_forms(design, DEFAULT_PRIORS)["shocks"]
        a_common, a_own = exponents["common"], exponents["own"]
        common = v["shock_sigma"] ** (1 - a_common) * v["shock_w"]
        own = v["shock_group_sigma"] ** (1 - a_own) * v["shock_group_w"]  # (periods, groups - 1)

        def ar_density(w, scale, a):
            e = w - phi * np.concatenate([np.zeros_like(w[:1]), w[:-1]])
            return stats.norm.logpdf(e, 0.0, scale**a).sum()

        np.testing.assert_allclose(v["shock_prior"], ar_density(v["shock_w"], v["shock_sigma"], a_common))
        np.testing.assert_allclose(
            v["shock_group_prior"], ar_density(v["shock_group_w"], v["shock_group_sigma"], a_own)
        )
    else:
        assert not {"shock_w", "shock_prior"} & set(model.named_vars)
        common = _ar(phi, v["shock_sigma"] * v["shock_z"])
        own = _ar(phi, v["shock_group_sigma"] * v["shock_group_z"])
    shock = v["shock"]
    assert shock.shape == (design.n_train, design.n_pool)
    np.testing.assert_allclose(shock.mean(axis=1), common, atol=1e-12)  # the groups' own sum to zero
    assert np.linalg.matrix_rank(shock - common[:, None]) == design.n_pool - 1
    np.testing.assert_allclose(
        np.sum((shock - common[:, None]) ** 2, axis=1), np.sum(own**2, axis=1), rtol=1e-9
    )  # an orthonormal basis keeps each period's length

    rows = design.train
    want = pooled_negbin_loglik(design, v, shock[rows.time_idx, design.pool_idx[rows.product_idx]])
    np.testing.assert_allclose(v["demand_loglik"], want, rtol=1e-9)


def _posterior(model, values):
    """A posterior of these draws with the model's dims and coordinates (else its variables read as
    changed, and PyMC would draw them afresh)."""
    import arviz as az

    dims = {k: list(model.named_vars_to_dims[k]) for k in values if k in model.named_vars_to_dims}
    coords = {k: np.asarray(v) for k, v in model.coords.items()}
    return az.from_dict(posterior=values, dims=dims, coords=coords)


def test_the_horizon_carries_the_last_shock_on_shared_by_every_product_of_a_path(tiny_design, monkeypatch):
    """In the horizon each path's shocks go on from the last history period's with fresh innovations,
    the same for every product of a group in that path: large counts of two products of one group
    move together from path to path while their ratio barely moves, and the first period's shock is
    ``phi`` times the last one in expectation (the shocks written partially centered, so the last
    one is set directly)."""
    monkeypatch.setattr(builder, "AR_INNOVATIONS_BELOW", 0.0)
    # the parts sampled as written, so the posterior below sets them directly (the shear is the
    # same model: test_the_shocks_shear_leaves_the_model_as_it_is)
    monkeypatch.setattr(builder, "_shock_shifts", lambda design, common: {})
    design = tiny_design
    history = build_model(design, DEFAULT_PRIORS, shared_shocks=True)
    free = [rv.name for rv in history.free_RVs]
    start = _at(history, history.initial_point(), free)  # each free variable at the model's start
    n_paths = 600
    posterior = {
        k: np.broadcast_to(np.asarray(v, float), (1, n_paths, *np.shape(v))).copy() for k, v in start.items()
    }
    posterior["intercept"][:] = 8.0  # counts of thousands: Poisson noise about 2%
    posterior["log_alpha"][:] = 12.0
    posterior["shock_sigma"][:] = 0.3
    posterior["shock_group_sigma"][:] = 0.01
    posterior["shock_phi"][:] = 0.5
    a_common = choose_forms(design, DEFAULT_PRIORS)["shocks"]["common"]
    posterior["shock_w"][:] = 0.0
    posterior["shock_w"][..., -1] = 0.8 / 0.3 ** (1 - a_common)  # the last period's shock: 0.8
    posterior["shock_group_w"][:] = 0.0
    horizon = build_model(design, DEFAULT_PRIORS, predict=True, shared_shocks=True)
    with horizon:
        pp = pm.sample_posterior_predictive(
            _posterior(history, posterior), var_names=["demand"], random_seed=1, progressbar=False
        )
    y = pp.posterior_predictive["demand"].to_numpy()[0].astype(float)  # (path, row)
    rows = design.future
    first = np.flatnonzero(rows.time_idx == design.n_train)
    group = design.pool_idx[rows.product_idx[first]]
    a, b = first[group == group[0]][:2]  # two products of one group, the horizon's first period
    la, lb = np.log(y[:, a]), np.log(y[:, b])
    assert np.corrcoef(la, lb)[0, 1] > 0.9, np.corrcoef(la, lb)[0, 1]  # the shared shock moves both
    assert np.std(la - lb) < 0.25 * np.std(la)  # their ratio barely moves
    assert np.std(la) == pytest.approx(0.3, rel=0.2)  # one innovation of sd 0.3
    # the same paths without the shock: the first period's log counts centre 0.5 * 0.8 lower
    posterior["shock_w"][:] = 0.0
    posterior["shock_sigma"][:] = 1e-6
    with horizon:
        quiet = pm.sample_posterior_predictive(
            _posterior(history, posterior), var_names=["demand"], random_seed=1, progressbar=False
        )
    lq = np.log(quiet.posterior_predictive["demand"].to_numpy()[0].astype(float)[:, a])
    assert np.mean(la) - np.mean(lq) == pytest.approx(0.4, abs=0.05)


def test_the_shocks_shear_leaves_the_model_as_it_is(tiny_design, monkeypatch):
    """The intercept, the products' levels, the trend's and the season's averages are sampled plus
    the catalog-wide shocks' projection on their patterns (``builder._shock_shifts``): at every
    point the model's density is the density of the model written without the shear at the values
    its parts take there, and the likelihood reads the shocks only off those patterns (moving the
    shocks along them, with the sampled coordinates held, changes no row's mean)."""
    design = tiny_design
    forms = {"product": "centered"}  # its levels then a variable of their own in both
    sheared = build_model(design, DEFAULT_PRIORS, shared_shocks=True, forms=forms)
    assert {"intercept_total", "alpha_product_total", "trend_avg_total"} <= set(sheared.named_vars)
    with monkeypatch.context() as m:
        m.setattr(builder, "_shock_shifts", lambda design, common: {})
        plain = build_model(design, DEFAULT_PRIORS, shared_shocks=True, forms=forms)
    assert "intercept_total" not in plain.named_vars
    rng = np.random.default_rng(7)
    logp_sheared, logp_plain = sheared.compile_logp(), plain.compile_logp()
    for _ in range(3):
        point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in sheared.initial_point().items()}
        # the plain model's free variables: as sampled where both sample them, else (the sheared
        # parts: normals, no transform) at the values the sheared model gives them here
        sheared_only = [rv.name for rv in plain.free_RVs if plain.rvs_to_values[rv].name not in point]
        assert set(sheared_only) == {"intercept", "alpha_product", "trend_avg", "season_avg"}
        values = _at(sheared, point, sheared_only)
        mapped = {v.name: point.get(v.name) for v in plain.value_vars} | values
        np.testing.assert_allclose(logp_sheared(point), logp_plain(mapped), rtol=1e-9)
        assert values["intercept"] != point["intercept_total"]  # the shear moved something

    # The sampled coordinates held, the shocks moved by a constant and a slope: no row's mean moves.
    monkeypatch.setattr(builder, "AR_INNOVATIONS_BELOW", 0.0)  # the shocks' values set directly
    sheared = build_model(design, DEFAULT_PRIORS, shared_shocks=True, forms=forms)
    point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in sheared.initial_point().items()}
    a = choose_forms(design, DEFAULT_PRIORS)["shocks"]["common"]
    base = _at(sheared, point, ["demand_loglik", "shock_sigma", "shock_phi"])
    n = design.n_train
    moved_shock = 0.3 - 0.2 * np.asarray(design.years[:n])  # a level and a slope
    # w such that the common shock gains ``moved_shock`` (x = sigma^(1 - a) * w)
    moved = dict(point, shock_w=point["shock_w"] + moved_shock / base["shock_sigma"] ** (1 - a))
    after = _at(sheared, moved, ["demand_loglik"])
    np.testing.assert_allclose(after["demand_loglik"], base["demand_loglik"], rtol=1e-9)


def _aggregates(values: np.ndarray, products: np.ndarray, category: pd.Series) -> np.ndarray:
    """Paths ``(path, product, period)`` summed to each category and to the total: ``(path, series, period)``."""
    cats = category.reindex(products).to_numpy()
    sums = [values[:, cats == c, :].sum(axis=1) for c in sorted(set(cats))]
    return np.stack([*sums, values.sum(axis=1)], axis=1)


STRONG = {"shock_sigma": 0.2, "shock_group_sigma": 0.05, "shock_phi": 0.7}


def _catalog(n_products: int, seed: int, **shocks):
    data = generate_retail_data(n_products=n_products, n_periods=104, horizon=13, seed=seed, **shocks)
    future = pd.DatetimeIndex(sorted(data.mean[DATE].unique()))[104:]
    train = data.sales[data.sales[DATE] < future[0]]
    plan = data.sales[data.sales[DATE] >= future[0]][[DATE, PRODUCT, "price", "promo"]]
    return data, train, plan


def _fits(data, train, plan) -> dict:
    """The catalog fitted with the shocks off and on (short chains): shocks -> (config, prepared, fitted)."""
    fits = {}
    for shocks in ("off", "on"):
        config = ForecastConfig(
            draws=300, tune=400, chains=2, attempt_budget=1.0, seed=3, shared_shocks=shocks
        ).with_(sample_paths=1000)
        prepared = runs.prepare(train, data.products, config, plan=plan)
        fits[shocks] = (config, prepared, runs.fit_model(prepared, config, progressbar=False))
    return fits


@pytest.fixture(scope="module")
def strong():
    """A catalog whose products share strong AR(1) shocks (0.2 a week catalog-wide), 13 weeks held
    out, fitted with the shocks off and on (one fit each, shared by the tests below)."""
    data, train, plan = _catalog(60, 5, **STRONG)
    future = pd.DatetimeIndex(sorted(data.mean[DATE].unique()))[104:]
    held = data.mean[data.mean[DATE] >= future[0]].pivot(index=PRODUCT, columns=DATE, values=QUANTITY)
    return data, held, _fits(data, train, plan)


@pytest.mark.slow
def test_a_strong_shared_shock_is_recovered_and_gives_totals_that_cover(strong):
    """The fitted shock scale's 90% interval holds the truth, and the summed draws' 80% intervals of
    the categories and the total cover the held-out weeks about as often as they say, where the same
    model without the shocks is far too sure of its totals."""
    data, held, fits = strong
    products = held.index.to_numpy()
    category = data.products.set_index(PRODUCT)["category"]
    actual = _aggregates(held.fillna(0).to_numpy()[None], products, category)[0]
    coverage, width = {}, {}
    for shocks, (config, prepared, fitted) in fits.items():
        _, paths = runs.forecast(prepared, fitted, config)
        values = paths.values[:, np.searchsorted(paths.products, products), :]
        low, high = np.quantile(_aggregates(values, products, category), [0.1, 0.9], axis=0)
        coverage[shocks] = float(np.mean((actual >= low) & (actual <= high)))
        width[shocks] = float(np.median((high - low)[-1] / np.maximum(high + low, 1)[-1] * 2))  # the total's
    sigma = fits["on"][2].idata.posterior["shock_sigma"].to_numpy().ravel()
    assert np.quantile(sigma, 0.05) < 0.2 < np.quantile(sigma, 0.95), np.quantile(sigma, [0.05, 0.95])
    assert coverage["on"] >= 0.7, coverage
    assert coverage["on"] > coverage["off"] + 0.08, coverage
    # the total's 80% interval, relative to its level: a shock of 0.2 a week and its carry-over
    # widen it against independent products' noise alone (measured 1.9x)
    assert width["on"] > 1.5 * width["off"], width


@pytest.mark.slow
def test_the_sharded_path_gives_the_one_fits_totals(strong):
    """Stage 2 by conditional sampling reads the shocks from stage 1's draws of the top and draws the
    horizon's once for the catalog: with every product in stage 1 (the one fit), two shards' paths
    summed to the total match the one fit's total in level and spread, and path ``i`` of one shard
    moves with path ``i`` of the other (each drawing its own shocks would leave them unrelated)."""
    from forecast import shards

    _, _, fits = strong
    config, prepared, fitted = fits["on"]
    _, joint = runs.forecast(prepared, fitted, config)
    sharding = shards.ShardConfig(n_shards=2, sample_products=10_000)
    stage1 = shards.Stage1(fitted, {}, prepared.design.products.to_numpy(), 0.0)
    stage1 = shards.with_top(stage1, prepared.design, config, sharding)
    assert stage1.top.future_offset is not None
    parts = [
        shards.fit_shard_conditional(s, stage1.top.subset(prepared.design, s.positions), config)
        for s in shards.split(prepared, sharding)
    ]
    a, b = (p.paths.values.sum(axis=1).astype(float) for p in parts)  # (path, period) per shard
    assert a.shape == joint.values.sum(axis=1).shape
    sharded, one = (
        np.quantile(a + b, [0.1, 0.5, 0.9], axis=0),
        np.quantile(joint.values.sum(axis=1), [0.1, 0.5, 0.9], axis=0),
    )
    assert np.median(np.abs(sharded[1] / one[1] - 1)) < 0.04, (sharded[1], one[1])
    spread = (sharded[2] - sharded[0]) / (one[2] - one[0])
    assert 0.85 < np.median(spread) < 1.15, spread
    corr = [np.corrcoef(np.log1p(a[:, t]), np.log1p(b[:, t]))[0, 1] for t in range(a.shape[1])]
    assert np.median(corr) > 0.5, corr


def test_auto_puts_the_shocks_in_where_the_prefit_finds_them_and_says_so():
    """``shared_shocks=auto`` (the default): in the model for a catalog whose products share shocks,
    not for the same catalog without them; ``on`` and ``off`` as set; a shard's stage 2 by NUTS
    (``fixed``) has none, and refuses a top fitted with them. The run record says which and why."""
    from forecast.config.options import NO_SHARDED_SHOCKS

    assert ForecastConfig().shared_shocks == "auto"
    designs = {}
    for name, shocks in (("with", {"shock_sigma": 0.1, "shock_phi": 0.7}), ("without", {})):
        data, train, plan = _catalog(200, 1, **shocks)
        designs[name] = runs.prepare(train, data.products, ForecastConfig(), plan=plan)
    assert runs.shocks_in(designs["with"].design, ForecastConfig())
    assert not runs.shocks_in(designs["without"].design, ForecastConfig())
    assert runs.shocks_in(designs["without"].design, ForecastConfig(shared_shocks="on"))
    assert not runs.shocks_in(designs["with"].design, ForecastConfig(shared_shocks="off"))
    assert not runs.shocks_in(designs["with"].design, ForecastConfig(), fixed={"intercept": 0.0})
    for config, fixed in ((ForecastConfig(), {"shock_sigma": 0.1}), (ForecastConfig(shared_shocks="on"), {})):
        with pytest.raises(ValueError, match="needs stage 2 by conditional sampling"):
            runs.shocks_in(designs["with"].design, config, fixed=fixed)
    assert NO_SHARDED_SHOCKS.startswith("shared_shocks=on")
    assert "shared shocks on (auto" in runs.describe(designs["with"], ForecastConfig())["message"]
    assert "shared shocks off (auto" in runs.describe(designs["without"], ForecastConfig())["message"]
    # a sharded run's record says what its stage 1 decides, on its sample
    from forecast import shards

    sharding = shards.ShardConfig(n_shards=2, sample_products=200)
    for name, word in (("with", "on"), ("without", "off")):
        sample = shards.stage1_prepared(designs[name], ForecastConfig(), sharding)
        line = shards.shocks_line(sample, ForecastConfig(), sharding)
        assert line.startswith(f"stage 1: shared shocks {word} (auto"), line
        assert line in runs.describe(designs[name], ForecastConfig(), shocks=line)["message"]
    nuts = shards.ShardConfig(n_shards=2, sample_products=200, stage2="nuts")
    sample = shards.stage1_prepared(designs["with"], ForecastConfig(), nuts)
    assert "NUTS cannot share them" in shards.shocks_line(sample, ForecastConfig(), nuts)
    model = runs.model_for(designs["with"].design, ForecastConfig())
    assert "shock_phi" in model.named_vars
    assert "shock_phi" not in runs.model_for(designs["without"].design, ForecastConfig()).named_vars


@pytest.mark.slow
def test_without_shared_shocks_the_component_finds_a_scale_near_zero_and_changes_nothing():
    """Set on for a catalog whose products share no shocks: the shock scale's posterior sits low
    (under its prior's median), and the forecasts are the model's without it: the total's median
    and 80% interval per week, and every product's mean, within sampling error."""
    out = {}
    for shocks, (config, prepared, fitted) in _fits(*_catalog(60, 5)).items():
        _, paths = runs.forecast(prepared, fitted, config)
        out[shocks] = (fitted.idata.posterior, paths.values.astype(float))
    sigma = out["on"][0]["shock_sigma"].to_numpy().ravel()
    prior_median = stats.gamma(2.0, scale=DEFAULT_PRIORS["shock_sigma"] / 2.0).median()
    assert np.median(sigma) < prior_median, (np.median(sigma), prior_median)
    total = {k: np.quantile(v[1].sum(axis=1), [0.1, 0.5, 0.9], axis=0) for k, v in out.items()}
    assert np.median(np.abs(total["on"][1] / total["off"][1] - 1)) < 0.03, total
    width = (total["on"][2] - total["on"][0]) / (total["off"][2] - total["off"][0])
    assert 0.85 < np.median(width) < 1.25, width
    means = {k: v[1].mean(axis=(0, 2)) for k, v in out.items()}
    sold = means["off"] > 1.0
    assert np.median(np.abs(means["on"][sold] / means["off"][sold] - 1)) < 0.03
