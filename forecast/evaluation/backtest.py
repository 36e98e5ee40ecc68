"""Rolling-origin backtests: folds, segments, the model's and baselines' forecasts, and their scores.

Each fold fits only on sales dated at or before its cutoff and is scored on the ``horizon`` periods
after it. Within a fold every method forecasts the same series over the same dates:

- product level: every product with history at the cutoff (segments ``regular``, ``intermittent``,
  ``new``; together ``all``), plus, for the project's models only, products launched after the cutoff
  (``unseen``: the baselines have nothing to forecast them from); across those, the products that
  had stock-outs before the cutoff (``stockout``: periods with availability under 1) and those the
  products file says are leaving (``declining``: an end date after the cutoff);
- aggregate levels (each attribute of the hierarchy, and ``total``) over the products with history:
  the project's models sum their joint sample paths (coherent aggregates); a baseline forecasts the
  aggregated series itself, as a planner would; and AutoETS's forecasts of every series at every
  level are made coherent by BottomUp and MinTrace (``auto_ets_bottom_up``, ``auto_ets_min_trace``:
  ``forecast.evaluation.reconciled``), over the products whose history reaches the cutoff.

Future prices and promotions in the scored periods are given to the model as a plan (a retailer sets
its own prices and promotion calendar ahead); quantities after the cutoff never reach a fit. A
discontinued product's periods after its end date are neither history nor scored: it left the
catalog, and its zeros there are not demand (the model forecasts exactly zero there, and a baseline
fitted on those zeros would be scored on them too).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast import runs
from forecast.config.options import DEFAULT_HORIZON, ForecastConfig
from forecast.contract.paths import SamplePaths
from forecast.contract.quantiles import (
    BACKTEST_QUANTILES,
    BAND_QUANTILES,
    SCORING_COLUMNS,
    SCORING_GRID,
    scoring_column,
)
from forecast.contract.schema import (
    AVAILABILITY,
    DATE,
    END_DATE,
    LAUNCH_DATE,
    PRICE,
    PRODUCT,
    PROMO,
    QUANTITY,
    Hierarchy,
)
from forecast.contract.segments import INTERMITTENT_ADI, is_censored, is_declining, is_new
from forecast.evaluation.baselines import baseline_forecasts, fit_auto_ets
from forecast.evaluation.metrics import mase as fold_mase
from forecast.evaluation.metrics import pit, pit_histogram, score
from forecast.evaluation.reconciled import named_members, reconcile
from forecast.prep.calendar import Frequency, infer_frequency
from forecast.prep.design import level_keys, panel_rows

MODEL = "hierarchical"
NO_POOLING = "no_pooling"
FROM_ATTRIBUTES = "hierarchical_from_attributes"
SEGMENTS = ("all", "regular", "intermittent", "new", "unseen", "cold_start", "stockout", "declining")
# Segments that cut across the others: a product is in any number of them (``FoldResult.flags``).
FLAGS = ("stockout", "declining")
SEASON = {"D": 7, "W": 52, "M": 12, "Q": 4}
SEP = "\x1f"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    number: int  # 1 is the earliest
    cutoff: pd.Timestamp  # the last period a fit sees
    dates: pd.DatetimeIndex  # the periods scored


@dataclass
class FoldResult:
    """One fold's forecasts of every method (long: method, level, series_id, date, mean, quantiles)."""

    fold: Fold
    forecasts: pd.DataFrame
    actuals: pd.DataFrame  # level, series_id, date, actual
    history: pd.DataFrame  # level, series_id, date, y: what the fits saw (for MASE)
    segments: pd.Series  # product_id -> segment
    fits: list[dict] = field(default_factory=list)  # per model fit: verdict, worst diagnostics, seconds
    # product_id -> a bool column per cross-cutting segment (FLAGS); empty: none known
    flags: pd.DataFrame = field(default_factory=pd.DataFrame)


def make_folds(grid: pd.DatetimeIndex, folds: int, horizon: int, step: int, min_train: int) -> list[Fold]:
    """``folds`` cutoffs ``step`` periods apart, the last one ``horizon`` periods before the data ends."""
    if folds < 1 or horizon < 1 or step < 1:
        raise ValueError("folds, horizon and step must be at least 1")
    last = len(grid) - 1 - horizon
    first = last - step * (folds - 1)
    if first < min_train - 1:
        raise ValueError(
            f"{len(grid)} periods of data cannot hold {folds} folds of {horizon} periods {step} apart "
            f"with at least {min_train} periods of history before the first cutoff; "
            "use fewer folds, a shorter horizon or a smaller step"
        )
    out = []
    for k, idx in enumerate(range(first, last + 1, step), start=1):
        out.append(Fold(number=k, cutoff=grid[idx], dates=grid[idx + 1 : idx + 1 + horizon]))
    return out


def dense_panel(
    sales: pd.DataFrame, grid: pd.DatetimeIndex, products: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``product_id, date, y``: every period from a product's first sales row, or from the period
    holding its ``launch_date`` (``products``' column, where given; the first period when before
    the grid), to the grid's end, or to the period holding its ``end_date`` (where given).

    Periods without a row sold zero, as the model's design reads them (a listed product's weeks
    before its first sale too); a discontinued product's periods after its end date are not in the
    panel (not demand: the product left the catalog), nor a product's periods before its launch.
    """
    sales = sales.assign(**{DATE: pd.to_datetime(sales[DATE])})
    pos = pd.Series(np.arange(len(grid)), index=grid)
    t = pos.reindex(sales[DATE]).to_numpy()
    first = pd.Series(t, index=sales.index).groupby(sales[PRODUCT].astype(str)).min()
    if products is not None and LAUNCH_DATE in products.columns:
        listed = products.set_index(products[PRODUCT].astype(str))[LAUNCH_DATE]
        listed = pd.to_datetime(listed[~listed.index.duplicated()]).dropna()
        bounds = grid.append(pd.DatetimeIndex([grid[-1] + (grid[-1] - grid[-2])])) if len(grid) > 1 else grid
        at = np.searchsorted(bounds.values, listed.to_numpy(bounds.values.dtype), side="right") - 1
        begin = pd.Series(np.maximum(at, 0), index=listed.index)
        first = begin[begin < len(grid)].combine_first(first.drop(listed.index, errors="ignore"))
    last = None
    if products is not None and END_DATE in products.columns:
        end = pd.to_datetime(products.set_index(products[PRODUCT].astype(str))[END_DATE])
        end = end[~end.index.duplicated()].reindex(first.index)
        stop = (
            np.searchsorted(grid.values, end.fillna(grid[-1]).to_numpy(grid.values.dtype), side="right") - 1
        )
        last = np.where(end.isna().to_numpy(), len(grid) - 1, stop)
    ids, t_rows = panel_rows(first.index.to_numpy(), first.to_numpy(), len(grid), last)
    panel = pd.DataFrame({PRODUCT: ids, DATE: grid[t_rows]})
    qty = sales.groupby([sales[PRODUCT].astype(str), DATE])[QUANTITY].sum()
    panel["y"] = qty.reindex(pd.MultiIndex.from_frame(panel[[PRODUCT, DATE]])).fillna(0).to_numpy()
    return panel


def segment_products(history: pd.DataFrame, products: pd.Index) -> pd.Series:
    """Each product's segment at the cutoff, from the history a fit sees (``product_id, date, y``)."""
    g = history.groupby(PRODUCT)["y"]
    n = g.size()
    nonzero = g.apply(lambda s: (s > 0).sum())
    adi = n / nonzero.replace(0, np.nan)
    seg = pd.Series("regular", index=n.index)
    seg[(adi > INTERMITTENT_ADI) | adi.isna()] = "intermittent"
    seg[is_new(n)] = "new"
    return seg.reindex(products).fillna("unseen").rename("segment")


def product_flags(sales: pd.DataFrame, products: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Per product, the cross-cutting segments at ``cutoff`` (``FLAGS``), from what the data tells:
    ``stockout``, a sales row up to the cutoff with availability under 1 (``is_censored``);
    ``declining``, an end date after the cutoff (``is_declining``)."""
    ids = pd.Index(products[PRODUCT].astype(str).unique())
    flags = pd.DataFrame(False, index=ids, columns=list(FLAGS))
    if AVAILABILITY in sales.columns:
        seen = sales[pd.to_datetime(sales[DATE]) <= cutoff]
        out = seen.loc[is_censored(seen[AVAILABILITY].to_numpy()), PRODUCT].astype(str).unique()
        flags["stockout"] = ids.isin(out)
    if END_DATE in products.columns:
        ends = products.drop_duplicates(PRODUCT)
        ends = pd.Series(pd.to_datetime(ends[END_DATE]).to_numpy(), index=ends[PRODUCT].astype(str))
        flags["declining"] = is_declining(ends.reindex(ids).to_numpy(), cutoff)
    return flags


def group_keys(products: pd.DataFrame, hierarchy: Hierarchy) -> pd.DataFrame:
    """Per product (index), its series id at every aggregate level: attributes and ``total``."""
    keys = level_keys(products.fillna({a: "unknown" for a in hierarchy.attributes}), hierarchy)
    keys.index = products[PRODUCT].astype(str)
    keys["total"] = "total"
    return keys


def _levels(panel: pd.DataFrame, keys: pd.DataFrame, value: str) -> pd.DataFrame:
    """Product rows and their sums at every aggregate level: ``level, series_id, date, <value>``."""
    frames = [panel.rename(columns={PRODUCT: "series_id"}).assign(level="product")]
    for level in keys.columns:
        key = keys[level].reindex(panel[PRODUCT]).to_numpy()
        summed = panel.assign(series_id=key).groupby(["series_id", DATE], as_index=False)[value].sum()
        frames.append(summed.assign(level=level))
    return pd.concat(frames, ignore_index=True)[["level", "series_id", DATE, value]]


def path_quantiles(paths: SamplePaths, keys: pd.DataFrame, seen: pd.Index) -> pd.DataFrame:
    """Mean and grid quantiles per product, and per aggregate from summed paths of the seen products."""
    values = paths.values.astype(float)  # (draw, product, period)
    dates = paths.dates
    ids = pd.Index(paths.products.astype(str))
    frames = [_quantile_frame(values, ids, dates, "product")]
    mask = ids.isin(seen)
    for level in keys.columns:
        key = keys[level].reindex(ids[mask])
        codes, groups = pd.factorize(key, sort=True)
        member = np.zeros((mask.sum(), len(groups)))
        member[np.arange(mask.sum()), codes] = 1.0
        summed = np.einsum("dpt,pg->dgt", values[:, mask, :], member)
        frames.append(_quantile_frame(summed, pd.Index(groups), dates, level))
    return pd.concat(frames, ignore_index=True)


def _quantile_frame(values: np.ndarray, ids: pd.Index, dates: pd.DatetimeIndex, level: str) -> pd.DataFrame:
    n_series, n_time = values.shape[1:]
    q = np.quantile(values, SCORING_GRID, axis=0)  # (quantile, series, period)
    frame = pd.DataFrame(q.reshape(len(SCORING_GRID), -1).T, columns=SCORING_COLUMNS)
    frame.insert(0, "mean", values.mean(axis=0).ravel())
    frame.insert(0, DATE, np.tile(dates.values, n_series))
    frame.insert(0, "series_id", np.repeat(ids.to_numpy(), n_time))
    frame.insert(0, "level", level)
    return frame


def fold_plan(sales: pd.DataFrame, fold: Fold) -> pd.DataFrame | None:
    """Prices and promotions of the scored periods, from the sales rows: the retailer's own plan."""
    cols = [c for c in (PRICE, PROMO) if c in sales.columns]
    if not cols:
        return None
    rows = sales[pd.to_datetime(sales[DATE]).isin(fold.dates)]
    return rows[[DATE, PRODUCT, *cols]].reset_index(drop=True)


def fit_paths(
    train: pd.DataFrame,
    products: pd.DataFrame,
    config: ForecastConfig,
    fold: Fold,
    plan: pd.DataFrame | None,
    label: str,
    progressbar: bool = False,
    events: pd.DataFrame | None = None,
) -> tuple[SamplePaths, dict]:
    """Fit the model on the fold's history and draw its joint sample paths over the scored periods
    (``events``: the calendar, ``runs.prepare``'s)."""
    clock = time.perf_counter()
    config = config.with_(horizon=len(fold.dates))
    prepared = runs.prepare(train, products, config, plan, events)
    if not prepared.design.future_dates.equals(fold.dates):
        raise ValueError(
            f"fold {fold.number}: no sales rows on the cutoff {fold.cutoff.date()}, so the fit would "
            "forecast other periods than those scored; choose another step or horizon"
        )
    fitted = runs.fit_model(prepared, config, progressbar=progressbar)
    _, paths = runs.forecast(prepared, fitted, config)
    d = fitted.diagnostics
    record = {
        "fold": fold.number,
        "model": label,
        "verdict": d.get("verdict"),
        "max_rhat": d.get("max_rhat"),
        "min_ess_hyper": d.get("min_ess_hyper"),
        "divergences": d.get("divergences"),
        "problems": d.get("problems"),
        "seconds": round(time.perf_counter() - clock, 1),
    }
    return paths, record


def run_fold(
    sales: pd.DataFrame,
    products: pd.DataFrame,
    grid: pd.DatetimeIndex,
    frequency: Frequency,
    fold: Fold,
    config: ForecastConfig,
    cold_start: pd.Index | None = None,
    baselines: bool = True,
    progressbar: bool = False,
    no_pooling: bool = True,
    events: pd.DataFrame | None = None,
) -> FoldResult:
    """Every method's forecasts for one fold, with the actuals and the history they are scored on.

    ``cold_start``: products whose whole history is hidden from one more fit of the model, which then
    forecasts them from their attributes alone (method ``hierarchical_from_attributes``).
    ``baselines`` and ``no_pooling``: whether to forecast with the baselines (AutoETS's
    reconciliations among them) and the no-pooling model.
    ``events``: the event calendar the model's fits read (``runs.prepare``).
    """
    sales = sales.assign(**{DATE: pd.to_datetime(sales[DATE])})
    train = sales[sales[DATE] <= fold.cutoff]
    keys = group_keys(products, config.hierarchy)
    panel = dense_panel(sales, grid, products)
    history = panel[panel[DATE] <= fold.cutoff]
    segments = segment_products(history, pd.Index(products[PRODUCT].astype(str)))
    seen = segments.index[segments != "unseen"]
    future = panel[panel[DATE].isin(fold.dates)]
    actuals = pd.concat(
        [
            future[future[PRODUCT].isin(segments.index)]
            .rename(columns={PRODUCT: "series_id", "y": "actual"})
            .assign(level="product"),
            _levels(future[future[PRODUCT].isin(seen)].rename(columns={"y": "actual"}), keys, "actual").query(
                "level != 'product'"
            ),
        ],
        ignore_index=True,
    )
    seen_history = _levels(history[history[PRODUCT].isin(seen)], keys, "y")
    plan = fold_plan(sales, fold)

    forecasts, fits = [], []
    models = [(MODEL, config)] + ([(NO_POOLING, config.with_(pooling="none"))] if no_pooling else [])
    for label, cfg in models:
        paths, record = fit_paths(train, products, cfg, fold, plan, label, progressbar, events)
        forecasts.append(path_quantiles(paths, keys, seen).assign(method=label))
        fits.append(record)
    if cold_start is not None and len(cold_start):
        hidden = train[~train[PRODUCT].astype(str).isin(cold_start)]
        paths, record = fit_paths(hidden, products, config, fold, plan, FROM_ATTRIBUTES, progressbar, events)
        cold = path_quantiles(paths, keys, seen).query("level == 'product'")
        forecasts.append(cold[cold["series_id"].isin(cold_start)].assign(method=FROM_ATTRIBUTES))
        fits.append(record)
    if baselines:
        season = SEASON[frequency.code]
        # A product id and an attribute value may coincide: a series is named by level and id.
        named = seen_history.assign(series_id=seen_history["level"] + SEP + seen_history["series_id"])
        named = named[["series_id", DATE, "y"]]
        ets = fit_auto_ets(named, len(fold.dates), season)
        base = baseline_forecasts(named, fold.dates, season, ets=ets)
        rec, skipped = reconcile(ets, _members(history, keys, fold.cutoff), fold.dates)
        for method, reason in skipped.items():
            log.warning("fold %d: %s left out: %s", fold.number, method, reason)
        for frame in [f for f in (base, rec) if len(f)]:
            parts = frame["series_id"].str.split(SEP, n=1, expand=True)
            forecasts.append(frame.assign(level=parts[0], series_id=parts[1]))
    frame = pd.concat(forecasts, ignore_index=True)
    frame = frame[["method", "level", "series_id", DATE, "mean", *SCORING_COLUMNS]]
    flags = product_flags(sales, products, fold.cutoff)
    return FoldResult(fold, frame, actuals, seen_history, segments, fits, flags)


def _members(history: pd.DataFrame, keys: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The reconciliations' hierarchy, series named as ``run_fold`` names them: the products whose
    history reaches the cutoff (one that left the catalog before it sums into nothing ahead) and
    the series they sum into at every aggregate level."""
    last = history.groupby(PRODUCT)[DATE].max()
    return named_members(keys.loc[last.index[last == cutoff]], SEP)


def cold_start_sample(segments: pd.Series, share: float, seed: int) -> pd.Index:
    """A seeded sample of established products (regular or intermittent) to forecast from attributes."""
    pool = segments.index[segments.isin(["regular", "intermittent"])].sort_values()
    if share <= 0 or len(pool) == 0:
        return pd.Index([])
    n = max(1, round(share * len(pool)))
    rng = np.random.default_rng(seed)
    return pd.Index(np.sort(rng.choice(pool.to_numpy(), size=n, replace=False)))


def score_folds(results: list[FoldResult], seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics by method, level, segment and fold (fold 0: all folds), and PIT histograms.

    Returns ``(metrics, pit)``. Product segments come from each fold's cutoff; ``cold_start`` compares
    the sampled products forecast from their attributes with the same products forecast with history.
    """
    scored = []
    for r in results:
        joined = r.forecasts.merge(r.actuals, on=["level", "series_id", DATE], how="inner")
        seg = r.segments.reindex(joined["series_id"]).to_numpy()
        joined["segment"] = np.where(joined["level"] == "product", seg, "all")
        cold = r.forecasts.loc[r.forecasts["method"] == FROM_ATTRIBUTES, "series_id"].unique()
        joined["cold_start"] = (joined["level"] == "product") & joined["series_id"].isin(cold)
        for flag in FLAGS:
            has = r.flags[flag] if flag in r.flags.columns else pd.Series(dtype=bool)
            joined[flag] = (joined["level"] == "product") & joined["series_id"].isin(has.index[has])
        joined["fold"] = r.fold.number
        hist = r.history.assign(fold=r.fold.number)
        scored.append((joined, hist))
    cells = pd.concat([s for s, _ in scored], ignore_index=True)
    history = pd.concat([h for _, h in scored], ignore_index=True)

    rows, pits = [], []
    for (method, level), group in cells.groupby(["method", "level"], sort=False):
        for segment, subset in _segment_subsets(group, level, method):
            for fold in [0, *sorted(subset["fold"].unique())]:
                part = subset if fold == 0 else subset[subset["fold"] == fold]
                if part.empty:
                    continue
                hist = history[(history["level"] == level)]
                hist = hist if fold == 0 else hist[hist["fold"] == fold]
                metrics = _score_by_fold(part, hist, seed)
                rows.append(
                    {"method": method, "level": level, "segment": segment, "fold": int(fold)} | metrics
                )
                if fold == 0 and level == "product":
                    u = pit(part["actual"].to_numpy(float), part[SCORING_COLUMNS].to_numpy(float), seed=seed)
                    for b, share in enumerate(pit_histogram(u)):
                        pits.append({"method": method, "segment": segment, "bin": b, "share": float(share)})
    return pd.DataFrame(rows), pd.DataFrame(pits)


def _segment_subsets(group: pd.DataFrame, level: str, method: str):
    if level != "product":
        yield "all", group
        return
    if method == FROM_ATTRIBUTES:
        yield "cold_start", group
        return
    yield "all", group[group["segment"] != "unseen"]
    for segment in ("regular", "intermittent", "new", "unseen"):
        subset = group[group["segment"] == segment]
        if len(subset):
            yield segment, subset
    if group["cold_start"].any() and method == MODEL:
        yield "cold_start", group[group["cold_start"]]
    for flag in FLAGS:
        if flag in group.columns:
            subset = group[group[flag] & (group["segment"] != "unseen")]
            if len(subset):
                yield flag, subset


def _score_by_fold(part: pd.DataFrame, history: pd.DataFrame, seed: int) -> dict:
    """Scores over cells of one or more folds; MASE scales each fold's series by that fold's history."""
    if part["fold"].nunique() == 1:
        return score(part, history[history["fold"] == part["fold"].iloc[0]], seed)
    merged = score(part, None, seed)
    mase = []
    for fold, cells in part.groupby("fold"):
        mase.append(fold_mase(cells, history[history["fold"] == fold]))
    values = pd.concat(mase)
    merged["mase"] = float(values.mean()) if values.notna().any() else float("nan")
    return merged


MIN_TRAIN = {"D": 56, "W": 26, "M": 12, "Q": 8}  # periods of history before the first cutoff, at least


def plan_folds(
    sales: pd.DataFrame, folds: int, horizon: int | None, step: int | None
) -> tuple[Frequency, pd.DatetimeIndex, list[Fold]]:
    """The data's frequency, its period grid and the folds; ``horizon`` defaults to the forecast's,
    ``step`` to the horizon (folds that do not overlap)."""
    frequency = infer_frequency(sales[DATE])
    dates = pd.to_datetime(sales[DATE])
    grid = frequency.grid(dates.min(), dates.max())
    horizon = horizon or DEFAULT_HORIZON[frequency.code]
    step = step or horizon
    return frequency, grid, make_folds(grid, folds, horizon, step, MIN_TRAIN[frequency.code])


def scored_forecasts(results: list[FoldResult]) -> pd.DataFrame:
    """Product-level forecasts of every method with their actuals: rows of ``backtest_forecasts``."""
    keep = {scoring_column(a): name for a, name in zip(BAND_QUANTILES, BACKTEST_QUANTILES, strict=True)}
    frames = []
    for r in results:
        f = r.forecasts[r.forecasts["level"] == "product"]
        a = r.actuals[r.actuals["level"] == "product"]
        f = f.merge(a[["series_id", DATE, "actual"]], on=["series_id", DATE], how="inner")
        f = f.rename(columns={"series_id": PRODUCT, **keep})
        f["segment"] = r.segments.reindex(f[PRODUCT]).to_numpy()
        f["fold"] = r.fold.number
        f["cutoff"] = r.fold.cutoff
        frames.append(
            f[["fold", "cutoff", "method", PRODUCT, "segment", DATE, "actual", "mean", *keep.values()]]
        )
    return pd.concat(frames, ignore_index=True)


def compare(metrics: pd.DataFrame) -> dict:
    """Whether the hierarchical model is ahead of every baseline on CRPS (overall, intermittent, new),
    what pooling adds over the no-pooling model, and whether the model's 80% intervals cover 75-85% of
    outcomes; from the all-folds product-level rows."""
    rows = metrics[(metrics["fold"] == 0) & (metrics["level"] == "product")]
    out: dict = {"segments": {}}
    for segment in ("all", "intermittent", "new"):
        crps = rows[rows["segment"] == segment].set_index("method")["crps"]
        if MODEL not in crps.index:
            continue
        baselines = crps.drop([MODEL, NO_POOLING, FROM_ATTRIBUTES], errors="ignore")
        best = baselines.idxmin() if len(baselines) else None
        out["segments"][segment] = {
            "model_crps": float(crps[MODEL]),
            "best_baseline": best,
            "best_baseline_crps": float(baselines.min()) if best else None,
            "ahead": bool(best is None or crps[MODEL] < baselines.min()),
            "no_pooling_crps": float(crps[NO_POOLING]) if NO_POOLING in crps.index else None,
        }
    # Coverage of counts: the closed interval [q10, q90] holds the mass on its end points too, so a
    # calibrated count forecast covers more than 80% with it; the randomized PIT splits that mass
    # fairly and is the measure held to 75-85%. Both are reported.
    model_all = rows[(rows["method"] == MODEL) & (rows["segment"] == "all")]
    first = model_all.iloc[0] if len(model_all) else {}
    out["coverage_80"] = float(first.get("coverage_80", float("nan")))
    out["pit_coverage_80"] = float(first.get("pit_coverage_80", float("nan")))
    out["coverage_ok"] = bool(0.75 <= out["pit_coverage_80"] <= 0.85)
    out["ahead_everywhere"] = all(s["ahead"] for s in out["segments"].values())
    out["advice"] = _advice(out)
    return out


def _advice(v: dict) -> str:
    """What to try where the model is not ahead or not calibrated, in a planner's words."""
    notes = []
    for segment, s in v["segments"].items():
        if not s["ahead"]:
            hint = {
                "intermittent": "a zero-inflated likelihood (--likelihood zinb) models the extra zeros",
                "new": "stronger pooling (tighter product-level priors) lets new products lean on their groups",
                "all": "more history per fold (fewer folds or a smaller step) and a longer fit help",
            }[segment]
            notes.append(f"On {segment} products {s['best_baseline']} beats the model; {hint}.")
    cov = v["pit_coverage_80"]
    if cov < 0.75:
        notes.append(f"80% intervals cover only {cov:.0%}: the model is overconfident; check dispersion.")
    elif cov > 0.85:
        notes.append(f"80% intervals cover {cov:.0%}: wider than needed.")
    return " ".join(notes)
