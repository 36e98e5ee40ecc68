"""Partial pooling made visible: each product's pooled effect next to its no-pooling estimate."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

from forecast.design import Design
from forecast.schema import PRODUCT


def _mean(idata: az.InferenceData, name: str) -> np.ndarray:
    return idata.posterior[name].mean(("chain", "draw")).to_numpy()


def product_effects(idata: az.InferenceData, design: Design) -> pd.DataFrame:
    """Per product: pooled level, its groups' mean, the no-pooling estimate and the shrinkage.

    ``no_pooling_effect`` is the level the product's own rows alone would give, holding the other
    components at their posterior means: log(sum y / sum exp(offset)), the maximum-likelihood level
    of a count model with that offset; undefined (null) for products with no rows or no sales.
    ``shrinkage`` = (no_pooling - pooled) / (no_pooling - group): 0 means the product kept its own
    estimate, 1 means it was pulled all the way to its groups' mean.
    """
    post = idata.posterior
    alpha = post["alpha_product"]
    pooled = alpha.mean(("chain", "draw")).to_numpy()
    pooled_sd = alpha.std(("chain", "draw")).to_numpy()
    n_products = len(design.products)
    if "intercept" in post:
        group = np.full(n_products, float(_mean(idata, "intercept")))
        for attr, idx in design.level_idx.items():
            group = group + _mean(idata, f"effect_{attr}")[idx]
    else:
        group = np.full(n_products, np.nan)

    rows = design.train
    pool = design.pool_idx[rows.product_idx]
    season = np.zeros((len(design.dates), design.n_pool))
    if "season" in post:
        season = design.fourier @ _mean(idata, "season").T  # (periods, groups)
    offset = (
        season[rows.time_idx, pool]
        + _mean(idata, "trend")[pool] * design.years[rows.time_idx]
        + _mean(idata, "elasticity")[pool] * rows.log_price
        + _mean(idata, "promo")[pool] * rows.promo
    )
    units = np.bincount(rows.product_idx, weights=rows.y, minlength=n_products)
    exposure = np.bincount(rows.product_idx, weights=np.exp(offset), minlength=n_products)
    with np.errstate(divide="ignore", invalid="ignore"):
        no_pool = np.where(units > 0, np.log(units / exposure), np.nan)
        gap = no_pool - group
        shrinkage = np.where(np.abs(gap) > 1e-6, (no_pool - pooled) / gap, np.nan)
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
