"""The large-catalog stage 2: each product's level drawn given the top of the hierarchy.

The sampler's draws are checked against the exact conditional posterior computed by fine quadrature
(SciPy's densities on 40,001 points), and against the model's own log density (PyMC's ``logp`` of
the history build) as a function of one product's level; the horizon's log mean against the horizon
build's.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from forecast.model.builder import build_model
from forecast.model.conditional import (
    TopDraws,
    horizon_log_mean,
    horizon_paths,
    row_arrays,
    sample_levels,
    top_draws,
)
from forecast.model.likelihood import rows_data
from forecast.model.priors import DEFAULT_PRIORS

PRIOR_MEAN, PRIOR_SD, DISPERSION = 0.2, 0.8, 5.0
TREND, ELASTICITY, PROMO = 0.1, -1.5, 0.4


def _catalog(n_products, n_periods, censor=0.0, seed=0):
    """Rows of a known model: levels, a seasonal curve, a trend, prices and promotions."""
    rng = np.random.default_rng(seed)
    p = np.repeat(np.arange(n_products), n_periods)
    t = np.tile(np.arange(n_periods), n_products)
    season = 0.3 * np.sin(2 * np.pi * np.arange(n_periods) / 52)
    years = (np.arange(n_periods) - n_periods + 1) / 52
    lp = rng.normal(0, 0.1, len(p))
    pr = (rng.uniform(size=len(p)) < 0.1).astype(float)
    rest = season[t] + TREND * years[t] + ELASTICITY * lp + PROMO * pr
    mu = np.exp(rng.normal(0, 1, n_products)[p] + rest)
    y = rng.negative_binomial(DISPERSION, DISPERSION / (DISPERSION + mu)).astype(float)
    cens = rng.uniform(size=len(y)) < censor
    data = rows_data(p, t, lp, pr, y, np.zeros(n_products, int), years, cens if censor else None)
    return data, {"p": p, "rest": rest, "y": y, "cens": cens, "season": season}


def _top(n_products, season, zero=None):
    one = np.ones((1, n_products))
    return TopDraws(
        group_mean=PRIOR_MEAN * one,
        sigma_product=np.array([PRIOR_SD]),
        season=season[None, None, :],
        trend=TREND * one,
        elasticity=ELASTICITY * one,
        promo=PROMO * one,
        log_alpha=np.log(DISPERSION) * one,
        zero=None if zero is None else zero * one,
    )


def _quadrature_cdf(rows, product, zero=None):
    """The exact conditional posterior's CDF of one product's level, on a fine grid."""
    xs = np.linspace(-8, 8, 40001)
    m = rows["p"] == product
    y, c = rows["y"][m], rows["cens"][m]
    q = DISPERSION / (DISPERSION + np.exp(xs[:, None] + rows["rest"][m][None, :]))
    ll = np.where(c, stats.nbinom.logsf(y - 1, DISPERSION, q), stats.nbinom.logpmf(y, DISPERSION, q))
    if zero is not None:
        pi = 1 / (1 + np.exp(-zero))
        mix = np.log(pi + (1 - pi) * np.exp(ll))
        ll = np.where(c | (y > 0), np.log1p(-pi) + ll, mix)
    log_post = ll.sum(axis=1) + stats.norm.logpdf(xs, PRIOR_MEAN, PRIOR_SD)
    w = np.exp(log_post - log_post.max())
    cdf = np.cumsum(w)
    return xs, cdf / cdf[-1]


@pytest.mark.parametrize(
    ("periods", "censor", "zero"),
    [(6, 0.0, None), (260, 0.0, None), (60, 0.3, None), (60, 0.0, -1.0)],
    ids=["sparse", "long", "censored", "zero-inflated"],
)
def test_levels_follow_the_exact_conditional_posterior(periods, censor, zero):
    """40,000 draws per product, Kolmogorov-Smirnov against fine quadrature of the same density:
    a few rows (a skewed posterior, its grid widened past the Laplace guess), two hundred and sixty,
    stock-out rows read as lower bounds, structural zeros."""
    data, rows = _catalog(3, periods, censor)
    levels, _ = sample_levels(data, _top(3, rows["season"], zero), 40_000, seed=1)
    for product in range(3):
        xs, cdf = _quadrature_cdf(rows, product, zero)
        test = stats.kstest(levels[0, :, product], lambda v, xs=xs, cdf=cdf: np.interp(v, xs, cdf))
        assert test.statistic < 0.01, (product, test)
        assert test.pvalue > 1e-3, (product, test)


def test_the_rows_move_the_level_and_a_product_without_rows_keeps_its_prior():
    """A product that sold a lot gets a level far above the prior's, tightly; one without history
    rows gets the prior itself."""
    data, rows = _catalog(3, 104)
    starts = data["starts"].copy()
    starts[3] = starts[2]  # the third product loses its rows
    data = dict(data, starts=starts)
    top = _top(3, rows["season"])
    top = TopDraws(**{**top.__dict__, "group_mean": np.array([[-3.0, -3.0, -3.0]])})
    levels, _ = sample_levels(data, top, 20_000, seed=2)
    busy = levels[0, :, 0]
    assert busy.mean() > -2.0 and busy.std() < 0.2
    none = levels[0, :, 2]
    assert abs(none.mean() - (-3.0)) < 0.03 and abs(none.std() - PRIOR_SD) < 0.02


def _point_values(model, point, names):
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    return dict(zip(names, fn(point), strict=True))


def _as_posterior(model, values: dict) -> xr.Dataset:
    """Named values at one point as a posterior of one ``sample``, with the model's dims and coords."""
    dims = model.named_vars_to_dims
    data = {
        k: xr.DataArray(np.asarray(v)[None], dims=("sample", *dims.get(k, ()))) for k, v in values.items()
    }
    coords = {d: list(model.coords[d]) for k in values for d in dims.get(k, ())}
    return xr.Dataset(data, coords=coords)


def _top_names(model):
    names = ["intercept", "sigma_product", "log_alpha", "season", "trend", "elasticity", "promo"]
    names += [n for n in model.named_vars if n.startswith(("effect_", "sigma_"))]
    names += [f"{c}_{s}" for c in ("season", "trend", "elasticity", "promo") for s in ("mu", "sigma")]
    return sorted({n for n in names if n in model.named_vars})


@pytest.fixture
def at_a_point(tiny_design):
    """The model (products written centered, so a product's level is its own coordinate) at a
    random point, its top as ``TopDraws`` and the products' levels there."""
    model = build_model(tiny_design, DEFAULT_PRIORS, forms={"product": "centered"})
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    values = _point_values(model, point, _top_names(model))
    top = top_draws(_as_posterior(model, values), tiny_design, np.random.default_rng(0))
    return model, point, top


def test_levels_follow_the_models_own_log_density(tiny_design, at_a_point):
    """The sampler's conditional posterior of a product's level is the model's: the history build's
    ``logp`` over a grid of that level with everything else held (the top read through
    ``top_draws``), normalised, against 20,000 draws."""
    model, point, top = at_a_point
    logp = model.compile_logp()
    levels, _ = sample_levels(row_arrays(tiny_design), top, 20_000, seed=3)
    busiest = int(np.argmax(tiny_design.n_obs))
    sparsest = int(np.argmin(np.where(tiny_design.n_obs > 0, tiny_design.n_obs, 10**9)))
    for product in (busiest, sparsest):
        centre = levels[0, :, product].mean()
        xs = np.linspace(centre - 4, centre + 4, 1601)
        lp = []
        for x in xs:
            moved = dict(point)
            moved["alpha_product"] = point["alpha_product"].copy()
            moved["alpha_product"][product] = x
            lp.append(logp(moved))
        w = np.exp(np.array(lp) - max(lp))
        cdf = np.cumsum(w) / w.sum()
        test = stats.kstest(levels[0, :, product], lambda v, xs=xs, cdf=cdf: np.interp(v, xs, cdf))
        assert test.statistic < 0.015, (product, test)


def test_horizon_log_mean_is_the_horizon_models(tiny_design, at_a_point):
    """Every horizon cell's log mean from ``TopDraws`` equals the horizon build's at the same point."""
    model, point, top = at_a_point
    horizon = build_model(tiny_design, DEFAULT_PRIORS, predict=True, forms={"product": "centered"})
    n, p = horizon["demand"].owner.inputs[
        -2:
    ]  # PyMC's negative binomial: n = alpha, p = alpha / (mu + alpha)
    (mean,) = horizon.replace_rvs_by_values([n * (1 - p) / p])
    inputs = [v for v in horizon.value_vars if v.name != "demand"]
    fn = horizon.compile_fn(mean, inputs=inputs, on_unused_input="ignore")
    want = np.log(fn({k: v for k, v in point.items() if k in {v.name for v in inputs}}))
    got = horizon_log_mean(tiny_design, top, 0, point["alpha_product"][None])[0]
    np.testing.assert_allclose(got.ravel(), want, rtol=1e-9, atol=1e-9)


def test_horizon_paths_share_the_top_and_have_the_negative_binomials_spread(tiny_design, at_a_point):
    """Paths' mean and variance per cell are the negative binomial's (mu, mu + mu^2 / a) at the
    levels given; a product off sale sells nothing."""
    _, point, top = at_a_point
    levels = np.broadcast_to(point["alpha_product"], (1, 20_000, len(tiny_design.products)))
    paths = horizon_paths(tiny_design, top, levels, seed=4)
    mu = np.exp(horizon_log_mean(tiny_design, top, 0, point["alpha_product"][None])[0])
    a = np.exp(top.log_alpha[0])[:, None]
    on = mu < 50
    np.testing.assert_allclose(paths.values.mean(axis=0)[on], mu[on], rtol=0.05, atol=0.02)
    np.testing.assert_allclose(paths.values.var(axis=0)[on], (mu + mu**2 / a)[on], rtol=0.1, atol=0.05)
    assert paths.values.shape == (20_000, len(tiny_design.products), len(tiny_design.future_dates))
