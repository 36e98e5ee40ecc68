"""Per-series forecasts made coherent across the hierarchy (hierarchicalforecast): the per-series
peers of the model's summed sample paths.

AutoETS fitted on every series of every level (the ``auto_ets`` baseline's own fits), then reconciled:

- ``auto_ets_bottom_up``: BottomUp, the bottom series' forecasts summed to every aggregate;
- ``auto_ets_min_trace``: MinTrace with ``mint_shrink`` (Wickramasuriya, Athanasopoulos & Hyndman
  2019): every level's forecast combined, weighted by the shrunk covariance of the in-sample errors
  (Schäfer & Strimmer 2005);

both with hierarchicalforecast's normal intervals, read off at the scoring grid's quantiles; means and
quantiles are clipped at zero as the baselines' are (a mean clipped there is no longer coherent).
hierarchicalforecast is imported where it is used: a command that reconciles nothing does not load it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecast.contract.quantiles import INTERVAL_LEVELS, SCORING_COLUMNS
from forecast.contract.schema import DATE
from forecast.evaluation.baselines import EtsFit, fit_auto_ets, interval_quantiles

# method -> hierarchicalforecast's name for its reconciliation of the AutoETS column
METHODS = {"auto_ets_bottom_up": "BottomUp", "auto_ets_min_trace": "MinTrace_method-mint_shrink"}
BOTTOM = "bottom"
# In-sample periods with errors that MinTrace needs to estimate their covariance at all.
MIN_INSAMPLE = 4


class ReconciliationError(ValueError):
    """A reconciliation that this history cannot support (too short, a singular covariance)."""


def named_members(keys: pd.DataFrame, sep: str) -> pd.DataFrame:
    """``summing_matrix``'s ``members`` from ``keys`` (index: product ids; per aggregate level, the
    key of the series each product sums into), every series named ``<level><sep><id>`` (a product
    and an attribute value may share an id)."""
    return pd.DataFrame(
        {level: level + sep + keys[level].astype(str).to_numpy() for level in keys.columns},
        index="product" + sep + keys.index.astype(str),
    )


def summing_matrix(members: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """hierarchicalforecast's ``S_df`` and ``tags`` from ``members``: one row per bottom series
    (index: its id), per aggregate level (column) the id of the series it sums into.

    ``S_df`` has ``unique_id`` and a 0/1 column per bottom series, the aggregates first and the bottom
    series' identity last; ``tags`` holds each level's series ids (the bottom level as ``BOTTOM``).
    """
    bottoms = members.index.astype(str)
    blocks, tags = [], {}
    for level in members.columns:
        key = members[level].astype(str).to_numpy()
        groups = np.array(sorted(set(key)))
        blocks.append(pd.DataFrame((groups[:, None] == key[None, :]).astype(float), index=groups))
        tags[level] = groups
    blocks.append(pd.DataFrame(np.eye(len(bottoms)), index=bottoms))
    tags[BOTTOM] = bottoms.to_numpy()
    s = pd.concat(blocks)
    s.columns = list(bottoms)
    if s.index.duplicated().any():
        raise ValueError(f"series ids repeat across levels: {sorted(set(s.index[s.index.duplicated()]))[:3]}")
    return s.rename_axis("unique_id").reset_index(), tags


def reconcile(ets: EtsFit, members: pd.DataFrame, dates: pd.DatetimeIndex) -> tuple[pd.DataFrame, dict]:
    """``ets``'s forecasts of the series in ``members``' hierarchy (``summing_matrix``) made coherent
    over ``dates`` by every method of ``METHODS``.

    Returns ``(rows, skipped)``: rows of ``method, series_id, date, mean`` and the grid's quantile
    columns; per method that this history cannot support, the reason (the other methods still run).
    Series of ``ets`` outside the hierarchy are left out.
    """
    empty = pd.DataFrame(columns=["method", "series_id", DATE, "mean", *SCORING_COLUMNS])
    if members.empty:
        return empty, {method: "no bottom series to reconcile" for method in METHODS}
    s_df, tags = summing_matrix(members)
    ids = s_df["unique_id"]
    y_hat = ets.forecast[ets.forecast["unique_id"].isin(ids)]
    missing = set(ids) - set(y_hat["unique_id"])
    if missing:
        raise ValueError(
            f"no AutoETS forecast for {len(missing)} series of the hierarchy, e.g. {min(missing)}"
        )
    if y_hat.groupby("unique_id")["ds"].min().nunique() != 1:
        raise ValueError(
            "the series' forecasts start on different periods: their histories must end together"
        )
    fitted = ets.fitted[ets.fitted["unique_id"].isin(ids)]
    rows, skipped = [], {}
    for method, tag in METHODS.items():
        try:
            if tag != "BottomUp":
                _check_insample(fitted)
            out = _reconcile_one(tag, y_hat, fitted, s_df, tags)
        except ReconciliationError as err:
            skipped[method] = str(err)
            continue
        rows.append(_grid_rows(out, f"AutoETS/{tag}", dates).assign(method=method))
    if not rows:
        return empty, skipped
    frame = pd.concat(rows, ignore_index=True)
    return frame[["method", "series_id", DATE, "mean", *SCORING_COLUMNS]], skipped


def reconciled_forecasts(
    history: pd.DataFrame,
    members: pd.DataFrame,
    dates: pd.DatetimeIndex,
    season: int,
    ets: EtsFit | None = None,
) -> tuple[pd.DataFrame, dict]:
    """AutoETS on every series of ``history`` (``series_id, date, y``, every level's series, each
    named uniquely), reconciled over ``members``' hierarchy (``summing_matrix``) for ``dates``.

    ``ets``: ``baselines.fit_auto_ets`` of the same history and horizon, where the caller has it.
    Returns what ``reconcile`` does.
    """
    ets = ets or fit_auto_ets(history, len(dates), season)
    return reconcile(ets, members, dates)


def _check_insample(fitted: pd.DataFrame) -> None:
    """Enough in-sample periods for an error covariance (hierarchicalforecast's shrinkage handles
    series with fewer, as new products are, by the periods each pair shares)."""
    errors = (fitted["y"] - fitted["AutoETS"]).to_numpy(float)
    periods = fitted.loc[np.isfinite(errors), "ds"].nunique()
    if periods < MIN_INSAMPLE:
        raise ReconciliationError(
            f"{periods} in-sample periods with forecast errors, fewer than the {MIN_INSAMPLE} "
            "an error covariance needs"
        )


def _reconcile_one(
    tag: str, y_hat: pd.DataFrame, fitted: pd.DataFrame, s_df: pd.DataFrame, tags: dict
) -> pd.DataFrame:
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUp, MinTrace

    reconciler = BottomUp() if tag == "BottomUp" else MinTrace(method="mint_shrink")
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = HierarchicalReconciliation([reconciler]).reconcile(
                Y_hat_df=y_hat,
                tags=tags,
                S_df=s_df,
                Y_df=fitted,
                level=list(INTERVAL_LEVELS),
                intervals_method="normality",
            )
    except Exception as err:  # hierarchicalforecast says "residuals close to 0" with a bare Exception
        raise ReconciliationError(f"{type(err).__name__}: {err}") from err
    columns = [c for c in out.columns if c.startswith(f"AutoETS/{tag}")]
    if not np.isfinite(out[columns].to_numpy(float)).all():
        raise ReconciliationError("non-finite reconciled forecasts (a singular error covariance)")
    return out


def _grid_rows(out: pd.DataFrame, column: str, dates: pd.DatetimeIndex) -> pd.DataFrame:
    out = out.sort_values(["unique_id", "ds"])
    frame = pd.DataFrame(interval_quantiles(out, column), columns=SCORING_COLUMNS)
    frame.insert(0, "mean", np.clip(out[column].to_numpy(float), 0, None))
    frame.insert(0, DATE, dates[(out["ds"] - out["ds"].min()).to_numpy()])
    frame.insert(0, "series_id", out["unique_id"].to_numpy())
    return frame
