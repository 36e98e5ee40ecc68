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
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import ADIDA, TSB, AutoETS, CrostonOptimized, Naive, SeasonalNaive
from statsforecast.utils import ConformalIntervals

from forecast.contract.quantiles import INTERVAL_LEVELS, SCORING_COLUMNS

BASELINES = ("seasonal_naive", "auto_ets", "croston", "tsb", "adida")
CONFORMAL_WINDOWS = 4


@dataclass(frozen=True)
class EtsFit:
    """AutoETS on every series, in statsforecast's frames (``unique_id``, integer ``ds``): the
    forecasts with their intervals on ``INTERVAL_LEVELS`` and the in-sample fitted values (``y`` and
    ``AutoETS``), which a reconciliation weighs the series by (``forecast.evaluation.reconciled``)."""

    forecast: pd.DataFrame
    fitted: pd.DataFrame


def _models(season: int, horizon: int) -> dict[str, object]:
    conformal = ConformalIntervals(h=horizon, n_windows=CONFORMAL_WINDOWS)
    return {
        "croston": CrostonOptimized(prediction_intervals=conformal),
        "tsb": TSB(alpha_d=0.1, alpha_p=0.1, prediction_intervals=conformal),
        "adida": ADIDA(prediction_intervals=conformal),
    }


def interval_quantiles(frame: pd.DataFrame, column: str) -> np.ndarray:
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


def _train(history: pd.DataFrame) -> pd.DataFrame:
    """statsforecast's frame: each period's position among all the history's periods is its ``ds``
    (dates are put back by position), so series that end together share their forecasts' ``ds``."""
    train = history.sort_values(["series_id", "date"]).rename(columns={"series_id": "unique_id"})
    periods = np.sort(train["date"].unique())
    train["ds"] = np.searchsorted(periods, train["date"].to_numpy(periods.dtype))
    return train[["unique_id", "ds", "y"]].astype({"y": float}).reset_index(drop=True)


def fit_auto_ets(history: pd.DataFrame, horizon: int, season: int) -> EtsFit:
    """AutoETS's forecasts ``horizon`` periods ahead and its in-sample fitted values, per series of
    ``history`` (``series_id, date, y``, as ``baseline_forecasts`` takes it)."""
    train = _train(history)
    # A one-period series has no in-sample error: statsforecast cannot give it fitted values (its
    # naive fallback fails on them), so it is forecast alone and its fitted value left empty.
    single = train.groupby("unique_id")["ds"].transform("size").to_numpy() < 2
    sf = StatsForecast(models=[AutoETS(season_length=season)], freq=1, n_jobs=1, fallback_model=Naive())
    forecasts, fitted = [], [train[single].assign(AutoETS=np.nan)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if (~single).any():
            forecasts.append(sf.forecast(df=train[~single], h=horizon, level=INTERVAL_LEVELS, fitted=True))
            fitted.append(sf.forecast_fitted_values()[["unique_id", "ds", "y", "AutoETS"]])
        if single.any():
            forecasts.append(sf.forecast(df=train[single], h=horizon, level=INTERVAL_LEVELS))
    forecast = pd.concat(forecasts, ignore_index=True).sort_values(["unique_id", "ds"], ignore_index=True)
    return EtsFit(forecast, pd.concat(fitted, ignore_index=True))


def baseline_forecasts(
    history: pd.DataFrame, dates: pd.DatetimeIndex, season: int, ets: EtsFit | None = None
) -> pd.DataFrame:
    """Every baseline's quantiles for each series over ``dates``.

    ``history`` is long ``series_id, date, y`` with no gaps (zeros where nothing sold). ``ets``:
    ``fit_auto_ets`` of the same history and horizon, where the caller has it already. Returns rows
    of ``method, series_id, date, mean`` and the grid's quantile columns.
    """
    horizon = len(dates)
    train = _train(history)
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
    ets = ets or fit_auto_ets(history, horizon, season)
    outputs.append(("auto_ets", ets.forecast, "AutoETS"))
    models = _models(season, horizon)
    out = _run(list(models.values()), train, horizon)
    for name, model in models.items():
        outputs.append((name, out, model.alias))

    frames = []
    for method, out, column in outputs:
        out = out.sort_values(["unique_id", "ds"])
        q = interval_quantiles(out, column)
        frame = pd.DataFrame(q, columns=SCORING_COLUMNS)
        frame.insert(0, "mean", np.clip(out[column].to_numpy(), 0, None))
        frame.insert(0, "date", np.tile(dates.values, len(out) // horizon))
        frame.insert(0, "series_id", out["unique_id"].to_numpy())
        frame.insert(0, "method", method)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
