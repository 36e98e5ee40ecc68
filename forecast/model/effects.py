"""Partial pooling made visible: each product's pooled effect next to its no-pooling estimate."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from forecast.contract.schema import PRODUCT
from forecast.prep.design import Design


def posterior_mean(posterior, name: str) -> np.ndarray:
    """A variable's mean over chains and draws."""
    return posterior[name].mean(("chain", "draw")).to_numpy()


def product_effects(idata: az.InferenceData, design: Design) -> pd.DataFrame:
    """Per product: pooled level, its groups' mean, the no-pooling estimate and the shrinkage.

    ``no_pooling_effect`` is the level the product's own rows alone would give, holding the other
    components at their posterior means: log(sum y / sum exp(offset)), the maximum-likelihood level
    of a count model with that offset; undefined (null) for products with no rows or no sales.

    ``shrinkage`` is the weight of its groups' mean in the product's level, from 0 (its own rows
    alone) to 1 (its groups alone): ``w = tau**-2 / (tau**-2 + I)``, the precision-weighted average
    of the normal approximation (Gelman & Hill 2007, section 12.2), where ``tau`` is the posterior
    mean of ``sigma_product`` (products' spread around their groups) and ``I`` the Fisher
    information the product's rows give its level (negative binomial: ``sum mu alpha / (alpha +
    mu)`` at the pooled level; zero inflation is left out, which makes ``I`` a little large). A
    product with no rows has ``w = 1``. It is defined for every product of a pooled model (null
    under no pooling). The ratio ``(no_pooling - pooled) / (no_pooling - group)`` is not used: with
    the other effects moving too, it ran from -1 to 7 on the demo, outside any share's scale.
    """
    post = idata.posterior
    alpha = post["alpha_product"]
    pooled = alpha.mean(("chain", "draw")).to_numpy()
    pooled_sd = alpha.std(("chain", "draw")).to_numpy()
    n_products = len(design.products)
    if "intercept" in post:
        group = np.full(n_products, float(posterior_mean(idata.posterior, "intercept")))
        for attr, idx in design.level_idx.items():
            group = group + posterior_mean(idata.posterior, f"effect_{attr}")[idx]
    else:
        group = np.full(n_products, np.nan)

    rows = design.train
    p = rows.product_idx
    season = np.zeros((len(design.dates), n_products))
    if "season" in post:
        coef = posterior_mean(post, "season")[design.pool_idx]  # (products, terms)
        if "season_product_z" in post:  # each product's own deviation (product_effects)
            coef = coef + posterior_mean(post, "season_product_sigma") * posterior_mean(
                post, "season_product_z"
            )
        season = design.fourier @ coef.T  # (periods, products)
    if "event" in post:  # events by group, added to each product's row
        season = season + (design.events @ posterior_mean(post, "event").T)[:, design.pool_idx]
    offset = (
        season[rows.time_idx, p]
        + _per_product(post, "trend", design)[p] * design.years[rows.time_idx]
        + _per_product(post, "elasticity", design)[p] * rows.log_price
        + _per_product(post, "promo", design)[p] * rows.promo
    )
    shrink = _shrinkage(idata, pooled[rows.product_idx] + offset, rows.product_idx, n_products)
    return effects_table(design, pooled, pooled_sd, group, offset, shrink)


def effects_table(
    design: Design, pooled, pooled_sd, group, offset: np.ndarray, shrinkage: np.ndarray
) -> pd.DataFrame:
    """``product_effects``'s table from its parts: per product the level's posterior mean and sd,
    its groups' mean and shrinkage; per history row ``offset``, the rest of its log mean (for the
    no-pooling estimate)."""
    rows, n_products = design.train, len(design.products)
    units = np.bincount(rows.product_idx, weights=rows.y, minlength=n_products)
    exposure = np.bincount(rows.product_idx, weights=np.exp(offset), minlength=n_products)
    with np.errstate(divide="ignore", invalid="ignore"):
        no_pool = np.where(units > 0, np.log(units / exposure), np.nan)
    return pd.DataFrame(
        {
            PRODUCT: design.products.to_numpy(),
            "n_obs": design.n_obs.astype(np.int64),
            "units": units.astype(np.int64),
            "pooled_effect": pooled,
            "pooled_sd": pooled_sd,
            "group_effect": group,
            "no_pooling_effect": no_pool,
            "shrinkage": shrinkage,
        }
    )


def _per_product(post, name: str, design: Design) -> np.ndarray:
    """A component's posterior mean per product: its own (``<name>_product``) or its group's."""
    if f"{name}_product" in post:
        return posterior_mean(post, f"{name}_product")
    return posterior_mean(post, name)[design.pool_idx]


def _shrinkage(idata: az.InferenceData, log_mu: np.ndarray, product_idx: np.ndarray, n: int) -> np.ndarray:
    """The groups' weight in each product's level (``shrinkage``), at the posterior means."""
    post = idata.posterior
    if "sigma_product" not in post:  # no pooling: nothing is borrowed
        return np.full(n, np.nan)
    log_alpha = None
    if "log_alpha" in post:
        log_alpha = posterior_mean(post, "log_alpha_product" if "log_alpha_product" in post else "log_alpha")
    return shrinkage(float(posterior_mean(post, "sigma_product")), log_mu, log_alpha, product_idx, n)


def shrinkage(tau: float, log_mu: np.ndarray, log_alpha, product_idx: np.ndarray, n: int) -> np.ndarray:
    """The groups' weight in each product's level: prior precision (``1 / tau^2``) over prior plus
    data precision (each row's log mean ``log_mu``; ``log_alpha`` the negative binomial's
    dispersion, scalar or per product, or ``None`` for a Poisson's information)."""
    mu = np.exp(log_mu)
    if log_alpha is not None:  # negative binomial: each row informs less than a Poisson row would
        dispersion = np.exp(log_alpha)[product_idx] if np.ndim(log_alpha) else float(np.exp(log_alpha))
        mu = mu * dispersion / (dispersion + mu)
    info = np.bincount(product_idx, weights=mu, minlength=n)
    prior = 1.0 / tau**2
    return prior / (prior + info)
