"""Forecast scores, pure functions of arrays: CRPS from sample paths, interval coverage."""

from __future__ import annotations

import numpy as np


def crps_samples(y: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """CRPS of each outcome ``y[i]`` under the sample distribution ``samples[:, i]``.

    CRPS(F, y) = E|X - y| - E|X - X'| / 2 (Gneiting & Raftery 2007, eq. 21), with the second
    expectation from the sorted samples in O(S log S): E|X - X'| = 2 / S^2 sum_i (2i - S - 1) x_(i).
    Lower is better; for a point forecast it reduces to the absolute error.
    """
    samples = np.asarray(samples, dtype=float)
    y = np.asarray(y, dtype=float)
    s = samples.shape[0]
    first = np.abs(samples - y[None, ...]).mean(axis=0)
    ordered = np.sort(samples, axis=0)
    weights = (2 * np.arange(1, s + 1) - s - 1).reshape((s,) + (1,) * (samples.ndim - 1))
    spread = 2.0 / s**2 * (weights * ordered).sum(axis=0)
    return first - spread / 2


def interval_coverage(y: np.ndarray, samples: np.ndarray, level: float) -> float:
    """Share of outcomes inside the central ``level`` interval of their sample distributions."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(np.mean((y >= lo) & (y <= hi)))


def randomized_pit(y: np.ndarray, samples: np.ndarray, seed: int = 0) -> np.ndarray:
    """Randomized probability integral transform of counts (Czado, Gneiting & Held 2009).

    u = F(y - 1) + v (F(y) - F(y - 1)), v ~ Uniform(0, 1): uniform on [0, 1] when the forecast
    distribution is right, even for discrete outcomes where plain interval hits are biased upward
    (a zero outcome always sits inside an interval whose lower end is zero).
    """
    samples = np.asarray(samples)
    y = np.asarray(y)
    below = (samples < y[None, ...]).mean(axis=0)
    at_or_below = (samples <= y[None, ...]).mean(axis=0)
    v = np.random.default_rng(seed).uniform(size=np.shape(y))
    return below + v * (at_or_below - below)


def pit_coverage(y: np.ndarray, samples: np.ndarray, level: float, seed: int = 0) -> float:
    """Share of outcomes whose randomized PIT falls in the central ``level`` interval."""
    u = randomized_pit(y, samples, seed)
    return float(np.mean((u >= (1 - level) / 2) & (u <= (1 + level) / 2)))
