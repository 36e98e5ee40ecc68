"""Which products a planner calls new, sparse or intermittent, which periods are censored by a
stock-out and which products are on their way out: one set of rules, read by the design, the
backtest's segments, the dashboards' product pages and the evidence tests alike."""

from __future__ import annotations

import numpy as np
import pandas as pd

# New: at most this many periods from the product's first sale to the end of its history.
NEW_MAX_PERIODS = 12
# Sparse: fewer units than this over its whole history.
SPARSE_MAX_UNITS = 30
# Intermittent: an average demand interval above this (Syntetos & Boylan 2005).
INTERMITTENT_ADI = 1.32


def is_new(periods: np.ndarray) -> np.ndarray:
    """True where a product's periods of history make it new."""
    return np.asarray(periods) <= NEW_MAX_PERIODS


def is_censored(availability) -> np.ndarray:
    """True where a period's ``availability`` (in-stock share) is under 1: the product ran out for
    part of it, so its sales are a lower bound on demand. Unknown (NaN, None) reads as in stock, as
    a sales file without the column does."""
    a = pd.to_numeric(pd.Series(np.asarray(availability, dtype=object)), errors="coerce")
    return (a.fillna(1.0) < 1.0).to_numpy()


def is_declining(end_date, cutoff) -> np.ndarray:
    """True where a product has an ``end_date`` after ``cutoff``: on sale at the cutoff but leaving
    the catalog (its demand winds down, then stops), as the products file tells. A product that left
    before the cutoff has nothing left to forecast."""
    end = pd.to_datetime(pd.Series(np.asarray(end_date, dtype=object)))
    return (end.notna() & (end > pd.Timestamp(cutoff))).to_numpy()
