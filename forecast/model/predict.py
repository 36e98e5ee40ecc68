"""Forecasts: posterior predictive sample paths over the horizon, and their summaries."""

from __future__ import annotations

import zlib

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from forecast.contract.paths import SamplePaths
from forecast.contract.quantiles import QUANTILE_COLUMNS, QUANTILES
from forecast.contract.schema import DATE, PRODUCT
from forecast.prep.design import Design


def thin(posterior: xr.Dataset, n: int, seed: int) -> xr.Dataset:
    """``n`` posterior draws picked at random (with replacement only if there are fewer than ``n``)."""
    stacked = posterior.stack(sample=("chain", "draw"))
    total = stacked.sizes["sample"]
    rng = np.random.default_rng(seed)
    pick = rng.choice(total, size=n, replace=n > total)
    picked = stacked.isel(sample=pick).drop_vars(["sample", "chain", "draw"])
    return picked.rename({"sample": "draw"}).expand_dims(chain=[0]).assign_coords(draw=np.arange(n))


def unseen_event_draws(posterior: xr.Dataset, model: pm.Model, seed: int) -> xr.Dataset:
    """``posterior`` with the standard normals of the unseen event columns' effects
    (``forecast.model.builder._unseen_events``) set from ``seed`` alone: the catalog's per path and
    column, a group's per path, column and group name. So path ``i`` of every shard fitted by
    NUTS carries the same effect for the catalog and for a group that two shards share, and
    their sums across shards are draws of the total (``forecast.shards``). Unchanged without
    unseen columns."""
    if "event_unseen_z" not in model.named_vars:
        return posterior
    n = posterior.sizes["draw"]
    columns = list(model.coords["unseen_events"])
    common = np.random.default_rng([seed, 0]).standard_normal((1, n, len(columns)))
    out = posterior.assign(event_unseen_z=(("chain", "draw", "unseen_events"), common))
    if "event_unseen_group_z" in model.named_vars:
        dim = model.named_vars_to_dims["event_unseen_group_z"][0]
        groups = list(model.coords[dim])
        own = np.stack(
            [
                np.random.default_rng([seed, 1, zlib.crc32(str(g).encode())]).standard_normal(
                    (n, len(columns))
                )
                for g in groups
            ],
            axis=1,
        )
        out = out.assign(event_unseen_group_z=(("chain", "draw", dim, "unseen_events"), own[None]))
    return out.assign_coords(unseen_events=columns)


def sample_paths(
    model: pm.Model, design: Design, idata: az.InferenceData, n_paths: int, seed: int
) -> SamplePaths:
    """Joint sample paths of demand for every product over the horizon.

    ``model`` is the horizon build (``build_model(..., predict=True)``). Path ``i`` of every product
    comes from the same posterior draw, so sums across products (a category's total) are draws of
    the total: aggregate quantiles computed from them are coherent.
    """
    posterior = unseen_event_draws(thin(idata.posterior, n_paths, seed), model, seed)
    pp = pm.sample_posterior_predictive(
        posterior, model=model, var_names=["demand"], random_seed=seed, progressbar=False
    )
    values = pp.posterior_predictive["demand"].values.reshape(n_paths, -1)
    horizon = len(design.future_dates)
    # Horizon rows are product-major (see design.build_design), so this reshape is exact.
    values = values.reshape(n_paths, len(design.products), horizon)
    values = zero_discontinued(values, design.off_sale)
    return SamplePaths(values=values, products=design.products.to_numpy(), dates=design.future_dates)


def zero_discontinued(values: np.ndarray, off: np.ndarray | None) -> np.ndarray:
    """Sample paths ``(path, product, period)`` with 0 wherever ``off`` ``(product, period)`` is True:
    a discontinued product sells nothing after its end date, nor a product before its launch
    (``Design.off_sale``), in every path,
    so its mean and quantiles are 0 there and sums across products stay draws of the total."""
    if off is None:
        return values
    return np.where(off[None, :, :], np.zeros((), dtype=values.dtype), values)


def summarise(paths: SamplePaths) -> pd.DataFrame:
    """Mean and quantiles per product and period (columns ``mean``, ``p05`` ... ``p95``)."""
    v = paths.values.astype(float)
    q = np.quantile(v, QUANTILES, axis=0)  # (quantile, product, period)
    n_prod, n_time = v.shape[1:]
    frame = pd.DataFrame(
        {
            PRODUCT: np.repeat(paths.products, n_time),
            DATE: np.tile(paths.dates.values, n_prod),
            "mean": v.mean(axis=0).ravel(),
        }
    )
    for col, values in zip(QUANTILE_COLUMNS, q, strict=True):
        frame[col] = values.ravel()
    return frame
