"""Scores against a known truth: a forecast's sample paths next to the distribution that generated
the held-out demand (the realism catalog, ``forecast.prep.realism``), overall and by segment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.evaluation.scores import crps_samples, interval_coverage
from forecast.prep.realism import SEGMENTS


def truth_draws(truth: pd.DataFrame, n_draws: int = 1000, seed: int = 0) -> np.ndarray:
    """``n_draws`` draws (draw, row) of each truth row's negative binomial (gamma-Poisson)."""
    rng = np.random.default_rng(seed)
    mean = truth["mean"].to_numpy(float)
    shape = truth["dispersion"].to_numpy(float)
    lam = rng.gamma(shape[None, :], mean[None, :] / shape[None, :], size=(n_draws, len(truth)))
    return rng.poisson(lam)


LEVELS = (0.5, 0.8, 0.95)


def score_against_truth(
    paths: np.ndarray,
    products,
    dates,
    truth: pd.DataFrame,
    n_truth_draws: int = 1000,
    seed: int = 0,
) -> dict:
    """Score sample paths ``(draw, product, period)`` (labelled by ``products`` and ``dates``)
    against the held-out actuals (``truth["demand"]``), relative to the true distribution.

    The true distribution's CRPS is that of ``n_truth_draws`` draws of each row's true negative
    binomial (seed ``seed``) at the same actuals: the score no forecast beats on average. Reported
    overall and per segment (``SEGMENTS``: the rows where the flag is set, and ``plain``: none set):
    both mean CRPS, their ratio (forecast over truth: 1 is as good as knowing the truth) and
    difference (``excess``: the ratio runs away where the truth is nearly certain, e.g. a sparse or
    discontinued product's zeros, and is ``None`` where the truth's CRPS is zero), and the
    share of actuals inside the central 50/80/95% intervals of the forecast and of the truth (with
    counts the truth's coverage runs above nominal: an interval's ends are themselves outcomes).
    Every (product, date) of the paths must have a truth row.
    """
    paths = np.asarray(paths)
    products = np.asarray(products).astype(str)
    dates = pd.DatetimeIndex(dates)
    keyed = truth.set_index(["product_id", "date"])
    grid = pd.MultiIndex.from_product([products, dates], names=["product_id", "date"])
    missing = ~grid.isin(keyed.index)
    if missing.any():
        raise ValueError(
            f"{missing.sum()} (product, date) of the paths have no truth row, e.g. {grid[missing][0]}"
        )
    rows = keyed.loc[grid].reset_index()
    model = paths.reshape(paths.shape[0], -1)
    true = truth_draws(rows, n_truth_draws, seed)
    y = rows["demand"].to_numpy()
    crps_model = crps_samples(y, model)
    crps_true = crps_samples(y, true)
    flags = {s: rows[s].to_numpy(bool) for s in SEGMENTS if s in rows.columns}
    masks = {"all": np.ones(len(rows), dtype=bool), **flags}
    masks["plain"] = ~np.any(list(flags.values()), axis=0) if flags else masks["all"]

    def summary(mask: np.ndarray) -> dict:
        if not mask.any():
            return {"rows": 0}
        cm, ct = float(crps_model[mask].mean()), float(crps_true[mask].mean())
        return {
            "rows": int(mask.sum()),
            "products": int(rows.loc[mask, "product_id"].nunique()),
            "crps_model": round(cm, 4),
            "crps_truth": round(ct, 4),
            "ratio": round(cm / ct, 4) if ct > 0 else None,
            "excess": round(cm - ct, 4),
            "coverage": {
                f"{round(100 * level)}": {
                    "model": round(interval_coverage(y[mask], model[:, mask], level), 3),
                    "truth": round(interval_coverage(y[mask], true[:, mask], level), 3),
                }
                for level in LEVELS
            },
        }

    return {name: summary(mask) for name, mask in masks.items()}
