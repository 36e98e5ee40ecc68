"""The model's log-likelihood written from scratch with SciPy, for the wiring tests."""

from __future__ import annotations

import numpy as np
from scipy import stats


def pooled_negbin_loglik(design, v: dict, offset: np.ndarray) -> float:
    """Row-by-row negative binomial log-likelihood of the history with every component pooled by
    group (``v``: the model's named quantities at a point) plus a per-row ``offset`` to the log mean."""
    rows, pool = design.train, design.pool_idx
    p, t, g = rows.product_idx, rows.time_idx, pool[rows.product_idx]
    eta = (
        v["alpha_product"][p]
        + np.einsum("rk,rk->r", design.fourier[t], v["season"][g])
        + v["trend"][g] * design.years[t]
        + v["elasticity"][g] * rows.log_price
        + v["promo"][g] * rows.promo
        + offset
    )
    a = np.exp(v["log_alpha"])
    return float(stats.nbinom.logpmf(rows.y, a, a / (a + np.exp(eta))).sum())
