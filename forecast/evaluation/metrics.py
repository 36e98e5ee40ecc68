"""Backtest scores of quantile forecasts: CRPS, weighted quantile loss, MASE, bias, coverage, PIT.

Every method, the project's model and the baselines alike, is scored from the same grid of quantiles
(``SCORING_GRID``), so no method gains from a finer representation: the model's quantiles come from
its sample paths, a baseline's from its prediction intervals. CRPS comes from scoringrules and MASE from
utilsforecast; the rest are sums simple enough to state in one line each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scoringrules as sr
from utilsforecast.losses import mase as _mase

from forecast.contract.quantiles import SCORING_COLUMNS, SCORING_GRID, scoring_column

PIT_BINS = 10


def pinball(y: np.ndarray, q: np.ndarray, alphas: np.ndarray = SCORING_GRID) -> np.ndarray:
    """Pinball loss per cell and level: ``alpha (y - q)`` above the quantile, ``(1 - alpha)(q - y)`` below."""
    diff = np.asarray(y, float)[:, None] - np.asarray(q, float)
    return np.where(diff >= 0, alphas * diff, (alphas - 1) * diff)


def crps(y: np.ndarray, q: np.ndarray, alphas: np.ndarray = SCORING_GRID) -> np.ndarray:
    """CRPS per cell, approximated from quantiles: twice the mean pinball loss (scoringrules)."""
    return np.asarray(sr.crps_quantile(np.asarray(y, float), np.asarray(q, float), alphas, backend="numpy"))


def wql(y: np.ndarray, q: np.ndarray, alphas: np.ndarray = SCORING_GRID) -> float:
    """Weighted quantile loss: mean over levels of ``2 sum(pinball) / sum(|y|)``; scale-free."""
    total = np.abs(np.asarray(y, float)).sum()
    if total == 0:
        return float("nan")
    return float((2 * pinball(y, q, alphas).sum(axis=0) / total).mean())


def bias(y: np.ndarray, mean: np.ndarray) -> float:
    """Relative bias of the mean forecast: ``(sum(mean) - sum(y)) / sum(y)``; positive over-forecasts."""
    total = np.asarray(y, float).sum()
    return float((np.asarray(mean, float).sum() - total) / total) if total else float("nan")


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of outcomes inside the closed interval ``[lo, hi]``."""
    y = np.asarray(y, float)
    return float(np.mean((y >= lo) & (y <= hi))) if len(y) else float("nan")


def pit(y: np.ndarray, q: np.ndarray, alphas: np.ndarray = SCORING_GRID, seed: int = 0) -> np.ndarray:
    """Randomized PIT of each outcome under the distribution its quantiles describe.

    The CDF runs linearly between quantiles; where several quantiles equal the outcome (a count
    forecast puts mass on whole numbers, a zero-clipped interval on zero) the PIT is drawn uniformly
    over the CDF's jump there, estimated from the levels they span, and beyond the outermost
    quantiles over the tail (Czado, Gneiting & Held 2009). A calibrated forecast gives uniform PIT
    values, for counts too.
    """
    y = np.asarray(y, float)
    q = np.asarray(q, float)
    below = (q < y[:, None]).sum(axis=1)  # quantiles strictly below the outcome
    at_or_below = (q <= y[:, None]).sum(axis=1)
    a = np.concatenate([[0.0], alphas, [1.0]])
    lo = np.empty_like(y)
    hi = np.empty_like(y)
    tie = at_or_below > below
    # Ties: the CDF jumps at the outcome, from somewhere between the level of the last quantile below
    # it and the first tied level, to somewhere between the last tied level and the next one; the
    # midpoints of those gaps are the jump's best estimates (0 and 1 beyond the grid).
    lo[tie] = (a[below[tie]] + a[below[tie] + 1]) / 2
    hi[tie] = (a[at_or_below[tie]] + a[at_or_below[tie] + 1]) / 2
    lo[tie & (y <= 0)] = 0.0  # counts: nothing lies below zero
    # Strictly between quantiles k-1 and k: linear; below all / above all: the tail's levels.
    k = below[~tie]
    yk, qk = y[~tie], q[~tie]
    inner = (k > 0) & (k < len(alphas))
    left = np.where(inner, qk[np.arange(len(k)), np.clip(k - 1, 0, len(alphas) - 1)], 0.0)
    right = np.where(inner, qk[np.arange(len(k)), np.clip(k, 0, len(alphas) - 1)], 1.0)
    frac = np.where(inner, (yk - left) / np.where(inner, right - left, 1.0), 0.0)
    lin = a[k] + frac * (a[k + 1] - a[k])
    lo[~tie] = np.where(inner, lin, a[k])
    hi[~tie] = np.where(inner, lin, a[k + 1])
    v = np.random.default_rng(seed).uniform(size=len(y))
    return lo + v * (hi - lo)


def pit_histogram(u: np.ndarray, bins: int = PIT_BINS) -> np.ndarray:
    """Share of PIT values in each of ``bins`` equal bins of [0, 1]."""
    counts = np.histogram(np.clip(u, 0, 1 - 1e-12), bins=bins, range=(0, 1))[0]
    return counts / max(len(u), 1)


def mase(scored: pd.DataFrame, train: pd.DataFrame, point: str = SCORING_COLUMNS[10]) -> pd.Series:
    """MASE of the median per series, scaled by the in-sample one-step naive MAE (utilsforecast).

    ``scored`` has ``series_id, date, actual`` and the quantile columns; ``train`` has
    ``series_id, date, y``. Series whose history is flat (a naive MAE of zero) or missing get NaN.
    """
    df = scored[["series_id", "date", "actual", point]].rename(
        columns={"series_id": "unique_id", "date": "ds", "actual": "y", point: "forecast"}
    )
    history = train[["series_id", "date", "y"]].rename(columns={"series_id": "unique_id", "date": "ds"})
    history = history[history["unique_id"].isin(df["unique_id"])].sort_values(["unique_id", "ds"])
    present = df["unique_id"].isin(history["unique_id"])
    out = pd.Series(np.nan, index=pd.Index(df["unique_id"].unique(), name="series_id"))
    if present.any():
        res = _mase(df[present], models=["forecast"], seasonality=1, train_df=history)
        out.loc[res["unique_id"].to_numpy()] = res["forecast"].to_numpy()
    return out.replace([np.inf, -np.inf], np.nan)


def score(scored: pd.DataFrame, train: pd.DataFrame | None = None, seed: int = 0) -> dict[str, float]:
    """All metrics of one set of scored cells (``actual``, ``mean`` and the quantile columns)."""
    y = scored["actual"].to_numpy(float)
    q = scored[SCORING_COLUMNS].to_numpy(float)
    u = pit(y, q, seed=seed)
    mase_values = mase(scored, train) if train is not None else pd.Series(dtype=float)
    return {
        "n_series": int(scored["series_id"].nunique()),
        "n_cells": len(scored),
        "crps": float(crps(y, q).mean()) if len(y) else float("nan"),
        "wql": wql(y, q),
        "mase": float(mase_values.mean()) if mase_values.notna().any() else float("nan"),
        "bias": bias(y, scored["mean"].to_numpy(float)),
        "coverage_50": coverage(y, scored[scoring_column(0.25)], scored[scoring_column(0.75)]),
        "coverage_80": coverage(y, scored[scoring_column(0.1)], scored[scoring_column(0.9)]),
        "coverage_95": coverage(y, scored[scoring_column(0.025)], scored[scoring_column(0.975)]),
        "pit_coverage_80": float(np.mean((u >= 0.1) & (u <= 0.9))) if len(u) else float("nan"),
    }
