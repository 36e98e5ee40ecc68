"""The hierarchical demand model: a pure builder, ``build_model(design, priors) -> pm.Model``.

log E[demand] for product p in period t:

    eta = alpha_p                                   product level, pooled under its groups
        + s_g(t)                                    Fourier seasonality of p's pooling group g
        + b_g * years(t)                            trend, pooled by group
        + e_g * log(price / reference price)        price elasticity, pooled by group
        + l_g * promo                               promotion lift, pooled by group

    alpha_p ~ Normal(mu + sum_a u_a[level_a(p)], sigma_product)       (centered)
    u_a     = sigma_a * z_a,  z_a ~ ZeroSumNormal(1)                   (non-centered, per attribute)
    s_g, b_g, e_g, l_g ~ Normal(shared mean, shared sd)                (centered, per pooling group)
    demand  ~ NegativeBinomial(exp(eta), alpha)

Group effects are non-centered (few groups, weakly identified scales: the funnel), product levels
centered (most products have dozens of observations that pin them down); the choice was measured,
see benchmarks/README.md. Every index is a 1-D gather: PyTensor's C backend has no compiled
gradient for indexing a 2-D parameter by product, so seasonality is computed per (period, group)
and gathered through one flat index.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from forecast.design import Design, Rows


def _group_effects(design: Design, priors: dict[str, float]) -> pt.TensorVariable:
    """Sum over attributes of each product's (non-centered) group effects, per product."""
    total = pt.zeros(len(design.products))
    for attr in design.levels:
        sigma = pm.HalfNormal(f"sigma_{attr}", priors["group_sigma"])
        # Effects sum to zero over an attribute's levels, so the intercept is the grand mean and
        # not traded off against the average of every attribute's effects.
        z = pm.ZeroSumNormal(f"z_{attr}", sigma=1.0, dims=attr)
        effect = pm.Deterministic(f"effect_{attr}", sigma * z, dims=attr)
        total = total + effect[design.level_idx[attr]]
    return total


def _pooled(
    name: str, mu: float, sigma: float, group_sigma: float, dims: str | tuple[str, ...], centered: bool
) -> pt.TensorVariable:
    """A coefficient per pooling group around a shared mean.

    Centered when every group holds thousands of rows (its coefficient is pinned by the data, and
    the non-centered form would then correlate the shared mean with every deviation); non-centered
    when groups are weakly informed (the funnel). ``dims`` may add trailing dims (Fourier terms).
    """
    dims = (dims,) if isinstance(dims, str) else dims
    mean = pm.Normal(f"{name}_mu", mu, sigma, dims=dims[1:] or None)
    scale = pm.HalfNormal(f"{name}_sigma", group_sigma)
    if centered:
        return pm.Normal(name, mean, scale, dims=dims)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, mean + scale * z, dims=dims)


# Per pooled component: centered where each group's coefficient is pinned by thousands of rows,
# non-centered where the data say little about it next to its prior (a category's trend over two
# years). Measured: benchmarks/README.md, "Parameterisation".
CENTERED = {"season": True, "elasticity": False, "promo": False, "trend": False}


def build_model(
    design: Design,
    priors: dict[str, float],
    predict: bool = False,
    centered: dict[str, bool] | None = None,
) -> pm.Model:
    """Build the model on the history rows, or on the horizon rows when ``predict`` is true.

    Both builds share every parameter name and shape, so a posterior fitted on the history is used
    directly with ``pm.sample_posterior_predictive`` on the horizon build.
    """
    rows: Rows = design.future if predict else design.train
    pool = design.pool or "pool"
    coords = {
        "product": design.products,
        **{attr: levels for attr, levels in design.levels.items()},
        "fourier": design.fourier_names,
        "obs": np.arange(len(rows)),
    }
    if design.pool is None:
        coords["pool"] = ["all"]
    pool_idx = design.pool_idx
    centered = CENTERED | (centered or {})
    obs_pool = pool_idx[rows.product_idx]
    # Flat index into the (period, group) seasonality matrix: a 1-D gather.
    season_idx = rows.time_idx * design.n_pool + obs_pool

    with pm.Model(coords=coords) as model:
        intercept = pm.Normal("intercept", priors["intercept_mu"], priors["intercept_sigma"])
        sigma_product = pm.HalfNormal("sigma_product", priors["product_sigma"])
        group_mean = intercept + _group_effects(design, priors)
        alpha_p = pm.Normal("alpha_product", group_mean, sigma_product, dims="product")

        season_coef = _pooled(
            "season",
            0.0,
            priors["season_sigma"],
            priors["season_group_sigma"],
            (pool, "fourier"),
            centered["season"],
        )
        season = pt.dot(pt.as_tensor(design.fourier), season_coef.T)  # (periods, groups)

        trend = _pooled(
            "trend", 0.0, priors["trend_sigma"], priors["trend_group_sigma"], pool, centered["trend"]
        )

        elasticity = _pooled(
            "elasticity",
            priors["elasticity_mu"],
            priors["elasticity_sigma"],
            priors["elasticity_group_sigma"],
            pool,
            centered["elasticity"],
        )
        promo = _pooled(
            "promo",
            priors["promo_mu"],
            priors["promo_sigma"],
            priors["promo_group_sigma"],
            pool,
            centered["promo"],
        )
        log_alpha = pm.Normal("log_alpha", priors["log_alpha_mu"], priors["log_alpha_sigma"])

        eta = (
            alpha_p[rows.product_idx]
            + season.flatten()[season_idx]
            + trend[obs_pool] * design.years[rows.time_idx]
            + elasticity[obs_pool] * rows.log_price
            + promo[obs_pool] * rows.promo
        )
        if predict:
            pm.NegativeBinomial("demand", mu=pt.exp(eta), alpha=pt.exp(log_alpha), dims="obs")
        else:
            pm.Potential("demand_loglik", negbin_loglik(eta, log_alpha, rows.y))
    return model


def negbin_loglik(eta: pt.TensorVariable, log_alpha: pt.TensorVariable, y: np.ndarray):
    """Summed negative binomial log-likelihood of counts ``y`` with log mean ``eta``.

    The same density as ``pm.NegativeBinomial(mu=exp(eta), alpha)``, arranged for speed:

        log p(y) = lgamma(y + a) - lgamma(a) - lgamma(y + 1)
                   + a log a + y eta - (y + a) log(exp(eta) + a)

    With one dispersion ``a`` for all rows, the gamma-function terms depend on ``y`` only through its
    distinct values, so they are summed over the histogram of ``y`` (a few hundred values) instead of
    every row, and each row costs one ``logaddexp``. That is most of a gradient's time saved: the
    per-row ``lgamma`` and ``digamma`` calls of the textbook form dominate it.
    """
    values, counts = np.unique(y, return_counts=True)
    alpha = pt.exp(log_alpha)
    n = len(y)
    const = pt.sum(counts * pt.gammaln(values + alpha)) - n * pt.gammaln(alpha)
    const = const - float(np.sum(counts * _gammaln(values + 1.0)))
    per_row = pt.dot(y.astype("float64"), eta) - pt.sum((y + alpha) * pt.logaddexp(eta, log_alpha))
    return const + n * alpha * log_alpha + per_row


def _gammaln(x: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(x)
