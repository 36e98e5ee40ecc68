"""Which products a planner calls new, sparse or intermittent: one set of rules, read by the
backtest's segments, the dashboards' product pages and the evidence tests alike."""

from __future__ import annotations

import numpy as np

# New: at most this many periods from the product's first sale to the end of its history.
NEW_MAX_PERIODS = 12
# Sparse: fewer units than this over its whole history.
SPARSE_MAX_UNITS = 30
# Intermittent: an average demand interval above this (Syntetos & Boylan 2005).
INTERMITTENT_ADI = 1.32


def is_new(periods: np.ndarray) -> np.ndarray:
    """True where a product's periods of history make it new."""
    return np.asarray(periods) <= NEW_MAX_PERIODS
