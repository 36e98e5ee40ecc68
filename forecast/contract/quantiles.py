"""The quantile grids, each a subset of the next, and the one rule that names their columns.

- ``QUANTILES``: what the ``forecasts`` table stores per product and period (``p05`` ... ``p95``).
- ``BAND_QUANTILES``: those plus the 95% band's ends (``p025``, ``p975``): what the backtest stores
  per forecast and what the dashboards read off summed sample paths.
- ``SCORING_GRID``: the central intervals at 10%, 20%, ..., 90% and 95% plus the median, 21 levels:
  every method in a backtest is scored from these (``forecast.evaluation.metrics``).
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
BAND_QUANTILES = (0.025, *QUANTILES, 0.975)
INTERVAL_LEVELS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95)  # central intervals, in percent
SCORING_GRID = np.array(
    sorted(
        {0.5}
        | {round(0.5 - lv / 200, 4) for lv in INTERVAL_LEVELS}
        | {round(0.5 + lv / 200, 4) for lv in INTERVAL_LEVELS}
    )
)


def column(q: float) -> str:
    """A stored quantile's column: ``p05`` for 0.05, ``p50`` for the median, ``p025`` for 0.025."""
    per_mille = round(q * 1000)
    return f"p{per_mille // 10:02d}" if per_mille % 10 == 0 else f"p{per_mille:03d}"


def scoring_column(q: float) -> str:
    """A scoring grid level's column in the backtest's working frames: ``q025``, ``q500``, ``q975``."""
    return f"q{round(q * 1000):03d}"


QUANTILE_COLUMNS = tuple(column(q) for q in QUANTILES)
BACKTEST_QUANTILES = [column(q) for q in BAND_QUANTILES]
SCORING_COLUMNS = [scoring_column(q) for q in SCORING_GRID]
