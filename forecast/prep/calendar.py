"""Frequency inference and future dates, from the dates alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Frequency:
    code: str  # "D", "W", "M" or "Q"
    name: str
    periods_per_year: float
    offset: pd.DateOffset

    def future(self, last: pd.Timestamp, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` dates that follow ``last``."""
        return pd.DatetimeIndex([last + self.offset * k for k in range(1, horizon + 1)])

    def grid(self, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
        """Every period from ``first`` to ``last`` inclusive."""
        dates = [first]
        while dates[-1] < last:
            dates.append(first + self.offset * len(dates))
        return pd.DatetimeIndex(dates)


_FREQUENCIES = {
    "D": Frequency("D", "daily", 365.25, pd.DateOffset(days=1)),
    "W": Frequency("W", "weekly", 365.25 / 7, pd.DateOffset(weeks=1)),
    "M": Frequency("M", "monthly", 12.0, pd.DateOffset(months=1)),
    "Q": Frequency("Q", "quarterly", 4.0, pd.DateOffset(months=3)),
}


def infer_frequency(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> Frequency:
    """Infer daily, weekly, monthly or quarterly data from the spacing of its distinct dates.

    Sparse data skips periods, so the smallest gap decides when every gap is a multiple of it
    (days, weeks); otherwise the typical (median) gap does, and a stray off-grid date is reported
    later by the design step rather than silently turning weekly data into daily.
    """
    unique = pd.DatetimeIndex(pd.unique(pd.to_datetime(pd.Series(dates)))).sort_values()
    if len(unique) < 2:
        raise ValueError("need at least two distinct dates to infer the data's frequency")
    gaps = np.diff(unique.values).astype("timedelta64[D]").astype(int)
    smallest = int(gaps.min())
    if smallest in (1, 7) and (gaps % smallest == 0).all():
        gap = float(smallest)
    else:
        gap = float(np.median(gaps))
    if gap == 1:
        code = "D"
    elif gap == 7:
        code = "W"
    elif 28 <= gap <= 31:
        code = "M"
    elif 89 <= gap <= 92:
        code = "Q"
    else:
        raise ValueError(
            f"cannot infer the frequency: the typical gap between dates is {gap:g} days; "
            "expected 1 (daily), 7 (weekly), 28-31 (monthly) or 89-92 (quarterly)"
        )
    freq = _FREQUENCIES[code]
    if code in ("M", "Q"):
        days = set(unique.day)
        if len(days) > 1 and not all(d >= 28 for d in days):
            raise ValueError(
                f"{freq.name} dates must fall on the same day of the month; found days {sorted(days)}"
            )
        if all(d >= 28 for d in days) and len(days) > 1:  # month ends
            step = 1 if code == "M" else 3
            freq = Frequency(code, freq.name, freq.periods_per_year, pd.offsets.MonthEnd(step))
    return freq


def frequency_from_code(code: str) -> Frequency:
    return _FREQUENCIES[code]
