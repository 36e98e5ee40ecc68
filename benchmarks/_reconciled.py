"""Per-series forecasts reconciled across a hierarchy (hierarchicalforecast), as the benchmarks'
peers of the model's summed draws: AutoETS fitted on every series of every level, then made coherent
by BottomUp (the products' forecasts summed) and MinTrace (``mint_shrink``: every level's forecast
combined, weighted by the in-sample errors' shrunk covariance), with normal intervals.

hierarchicalforecast is not a dependency of the project: ``uv run --with hierarchicalforecast==1.5.3``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecast.contract.quantiles import SCORING_COLUMNS, SCORING_GRID
from forecast.contract.schema import DATE

METHODS = {"bottom_up": "BottomUp", "min_trace": "MinTrace_method-mint_shrink"}
# Two-sided interval levels whose ends are the scoring grid's quantiles.
LEVELS = sorted({round(100 * (1 - 2 * min(q, 1 - q))) for q in SCORING_GRID if q != 0.5})


def reconciled(
    bottom: pd.DataFrame, levels: dict[str, list[str]], horizon: int, season: int
) -> dict[str, dict[str, pd.DataFrame]]:
    """``bottom``: ``series_id, date, y`` per product with the product's attribute columns; ``levels``:
    per scored level (other than ``product`` and ``total``), the attribute columns that name its series
    (``{"category": ["category"], "brand": ["category", "brand"]}``), the products' own being all of
    them. Returns per method and level the forecast cells ``series_id, date, mean, <grid columns>``
    over the ``horizon`` periods after the history, series named as the benchmark names them."""
    try:
        from hierarchicalforecast.core import HierarchicalReconciliation
        from hierarchicalforecast.methods import BottomUp, MinTrace
        from hierarchicalforecast.utils import aggregate
    except ImportError as err:
        raise SystemExit("needs hierarchicalforecast: uv run --with hierarchicalforecast==1.5.3 ...") from err
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    attrs = list(dict.fromkeys(c for cols in levels.values() for c in cols))  # the products' own
    frame = bottom.rename(columns={DATE: "ds"}).assign(total="total")
    spec = [["total"]] + [["total", *cols] for cols in levels.values()]
    spec = [c for c in spec if c != ["total", *attrs]] + [["total", *attrs]]  # the bottom level last
    frame = frame[["total", *attrs, "ds", "y"]]
    y_df, s_df, tags = aggregate(frame, spec)
    dates = np.sort(frame["ds"].unique())
    step = pd.DatetimeIndex(dates[-2:]).to_series().diff().iloc[-1]
    future = pd.date_range(pd.Timestamp(dates[-1]) + step, periods=horizon, freq=step)
    # statsforecast on an integer time axis (dates put back by position), as the project's baselines
    y_int = y_df.assign(ds=y_df.groupby("unique_id").cumcount())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sf = StatsForecast(models=[AutoETS(season_length=season)], freq=1, n_jobs=1)
        y_hat = sf.forecast(df=y_int, h=horizon, level=LEVELS, fitted=True)
        fitted = sf.forecast_fitted_values()
        rec = HierarchicalReconciliation([BottomUp(), MinTrace(method="mint_shrink")]).reconcile(
            Y_hat_df=y_hat, tags=tags, S_df=s_df, Y_df=fitted, level=LEVELS, intervals_method="normality"
        )
    rec["date"] = future[rec["ds"].to_numpy() - rec["ds"].min()]
    names = {"total": {"total": "total"}}
    for level, cols in levels.items():
        keys = frame[cols].drop_duplicates().itertuples(index=False, name=None)
        names[level] = {"/".join(["total", *map(str, key)]): key[-1] for key in keys}
    ids = bottom.drop_duplicates("series_id")
    names["product"] = dict(
        zip(["/".join(["total", *map(str, key)]) for key in ids[attrs].itertuples(index=False, name=None)],
            ids["series_id"], strict=True)
    )  # fmt: skip
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for method, tag in METHODS.items():
        column = f"AutoETS/{tag}"
        q = {}
        for qq, name in zip(SCORING_GRID, SCORING_COLUMNS, strict=True):
            if qq == 0.5:
                q[name] = rec[column]
            else:
                side = "lo" if qq < 0.5 else "hi"
                q[name] = rec[f"{column}-{side}-{round(100 * (1 - 2 * min(qq, 1 - qq)))}"]
        cells = pd.DataFrame({"unique_id": rec["unique_id"], DATE: rec["date"], "mean": rec[column], **q})
        cells[["mean", *SCORING_COLUMNS]] = cells[["mean", *SCORING_COLUMNS]].clip(lower=0.0)
        out[method] = {}
        for level, mapping in names.items():
            part = cells[cells["unique_id"].isin(mapping)]
            out[method][level] = part.assign(series_id=part["unique_id"].map(mapping)).drop(
                columns="unique_id"
            )
    return out
