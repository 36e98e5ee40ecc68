"""The forecasts a planner would otherwise use, from statsforecast, as quantiles on the backtest grid.

- ``seasonal_naive``: the value one year back, with its own intervals; series with less than a year
  of history fall back to the naive forecast (last value), as a planner would.
- ``auto_ets``: exponential smoothing with the model chosen by AICc (statsforecast's AutoETS drops a
  season longer than 24 periods, as R's ``ets`` does) and its own intervals.
- ``croston``, ``tsb``, ``adida``: intermittent-demand methods, which have no intervals of their own:
  conformal intervals from rolling windows of the series' own history; series too short for the
  windows fall back to the naive forecast.

All forecasts are of counts, so quantiles and means are clipped at zero, and each row's quantiles are
sorted (rearrangement: crossing quantiles swapped into order, Chernozhukov et al. 2010).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import ADIDA, TSB, AutoETS, CrostonOptimized, Naive, SeasonalNaive
from statsforecast.utils import ConformalIntervals

from forecast.contract.quantiles import INTERVAL_LEVELS, SCORING_COLUMNS

BASELINES = ("seasonal_naive", "auto_ets", "croston", "tsb", "adida")
CONFORMAL_WINDOWS = 4


def _models(season: int, horizon: int) -> dict[str, object]:
    conformal = ConformalIntervals(h=horizon, n_windows=CONFORMAL_WINDOWS)
    return {
        "auto_ets": AutoETS(season_length=season),
        "croston": CrostonOptimized(prediction_intervals=conformal),
        "tsb": TSB(alpha_d=0.1, alpha_p=0.1, prediction_intervals=conformal),
        "adida": ADIDA(prediction_intervals=conformal),
    }


def _quantiles(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The grid's quantiles from a statsforecast output's point forecast and intervals."""
    lo = [frame[f"{column}-lo-{lvl}"].to_numpy() for lvl in reversed(INTERVAL_LEVELS)]
    hi = [frame[f"{column}-hi-{lvl}"].to_numpy() for lvl in INTERVAL_LEVELS]
    q = np.column_stack(lo + [frame[column].to_numpy()] + hi)
    return np.sort(np.clip(q, 0, None), axis=1)


def _run(models: list, train: pd.DataFrame, horizon: int) -> pd.DataFrame:
    sf = StatsForecast(models=models, freq=1, n_jobs=1, fallback_model=Naive())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sf.forecast(df=train, h=horizon, level=INTERVAL_LEVELS)


def baseline_forecasts(history: pd.DataFrame, dates: pd.DatetimeIndex, season: int) -> pd.DataFrame:
    """Every baseline's quantiles for each series over ``dates``.

    ``history`` is long ``series_id, date, y`` with no gaps (zeros where nothing sold). Returns rows of
    ``method, series_id, date, mean`` and the grid's quantile columns.
    """
    horizon = len(dates)
    # statsforecast sees each series on an integer time axis; dates are put back by position.
    train = history.sort_values(["series_id", "date"]).rename(columns={"series_id": "unique_id"})
    train["ds"] = train.groupby("unique_id").cumcount()
    train = train[["unique_id", "ds", "y"]].astype({"y": float})
    length = train.groupby("unique_id")["ds"].size()

    outputs: list[tuple[str, pd.DataFrame, str]] = []
    long_enough = length.index[length >= season]
    short = length.index[length < season]
    if len(long_enough):
        out = _run(
            [SeasonalNaive(season_length=season)], train[train["unique_id"].isin(long_enough)], horizon
        )
        outputs.append(("seasonal_naive", out, "SeasonalNaive"))
    if len(short):
        out = _run([Naive()], train[train["unique_id"].isin(short)], horizon)
        outputs.append(("seasonal_naive", out, "Naive"))
    models = _models(season, horizon)
    out = _run(list(models.values()), train, horizon)
    for name, model in models.items():
        outputs.append((name, out, model.alias))

    frames = []
    for method, out, column in outputs:
        out = out.sort_values(["unique_id", "ds"])
        q = _quantiles(out, column)
        frame = pd.DataFrame(q, columns=SCORING_COLUMNS)
        frame.insert(0, "mean", np.clip(out[column].to_numpy(), 0, None))
        frame.insert(0, "date", np.tile(dates.values, len(out) // horizon))
        frame.insert(0, "series_id", out["unique_id"].to_numpy())
        frame.insert(0, "method", method)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
