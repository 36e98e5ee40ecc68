"""Folds, segments and coherent aggregates; and no fold sees data after its cutoff."""

import numpy as np
import pandas as pd
import pytest

from forecast.config.options import ForecastConfig
from forecast.contract.paths import SamplePaths
from forecast.contract.quantiles import SCORING_COLUMNS, SCORING_GRID
from forecast.evaluation import backtest
from forecast.prep.calendar import infer_frequency

GRID = pd.date_range("2024-01-07", periods=60, freq="W-SUN")


def test_folds_end_with_the_data_and_step_back():
    folds = backtest.make_folds(GRID, folds=3, horizon=4, step=2, min_train=26)
    assert [f.number for f in folds] == [1, 2, 3]
    assert [f.cutoff for f in folds] == [GRID[51], GRID[53], GRID[55]]
    assert folds[-1].dates.equals(GRID[56:60])
    for f in folds:
        assert len(f.dates) == 4 and (f.dates > f.cutoff).all()


def test_too_many_folds_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot hold 5 folds of 13 periods"):
        backtest.make_folds(GRID, folds=5, horizon=13, step=13, min_train=26)


def test_dense_panel_fills_zeros_from_the_first_sale():
    sales = pd.DataFrame(
        {"product_id": ["a", "a", "b"], "date": [GRID[0], GRID[2], GRID[57]], "quantity": [2, 3, 1]}
    )
    panel = backtest.dense_panel(sales, GRID)
    a = panel[panel["product_id"] == "a"]
    assert len(a) == 60 and a["y"].tolist()[:4] == [2, 0, 3, 0]
    b = panel[panel["product_id"] == "b"]
    assert b["date"].tolist() == list(GRID[57:]) and b["y"].tolist() == [1, 0, 0]


def test_segments_by_hand():
    rows = []
    for pid, ys in {"reg": [3] * 30, "int": [0, 0, 4] * 10, "new": [1, 2, 0, 1]}.items():
        rows += [{"product_id": pid, "date": GRID[i], "y": y} for i, y in enumerate(ys)]
    seg = backtest.segment_products(pd.DataFrame(rows), pd.Index(["reg", "int", "new", "later"]))
    assert seg.to_dict() == {"reg": "regular", "int": "intermittent", "new": "new", "later": "unseen"}


def test_aggregate_quantiles_come_from_summed_paths():
    rng = np.random.default_rng(0)
    values = rng.poisson(3.0, size=(400, 3, 2))
    paths = SamplePaths(values, np.array(["p1", "p2", "p3"]), GRID[:2])
    keys = pd.DataFrame({"category": ["x", "x", "y"], "total": "total"}, index=["p1", "p2", "p3"])
    q = backtest.path_quantiles(paths, keys, seen=pd.Index(["p1", "p2", "p3"]))
    x = q[(q["level"] == "category") & (q["series_id"] == "x")].sort_values("date")
    np.testing.assert_allclose(
        x[SCORING_COLUMNS].to_numpy(), np.quantile(values[:, :2].sum(axis=1), SCORING_GRID, axis=0).T
    )
    total = q[q["level"] == "total"]
    np.testing.assert_allclose(total["mean"], values.sum(axis=1).mean(axis=0))
    # Products not seen at the cutoff are forecast but left out of the aggregates baselines are scored on.
    q2 = backtest.path_quantiles(paths, keys, seen=pd.Index(["p1", "p3"]))
    x2 = q2[(q2["level"] == "category") & (q2["series_id"] == "x")]
    np.testing.assert_allclose(x2["mean"], values[:, 0].mean(axis=0))


class FitSpy:
    """Stands in for the model fits and records what data they are given."""

    def __init__(self):
        self.seen: list[tuple[str, pd.Timestamp, pd.DatetimeIndex]] = []

    def __call__(self, train, products, config, fold, plan, label, progressbar=False, events=None):
        self.seen.append(
            (label, pd.to_datetime(train["date"]).max(), pd.DatetimeIndex(plan["date"].unique()))
        )
        ids = products["product_id"].astype(str).to_numpy()
        values = np.ones((20, len(ids), len(fold.dates)))
        return SamplePaths(values, ids, fold.dates), {"fold": fold.number, "model": label}


def _fold(tiny_data, k=1):
    freq = infer_frequency(tiny_data.sales["date"])
    grid = freq.grid(tiny_data.sales["date"].min(), tiny_data.sales["date"].max())
    return freq, grid, backtest.make_folds(grid, folds=2, horizon=5, step=5, min_train=26)[k - 1]


def test_no_fit_and_no_baseline_sees_sales_after_the_cutoff(tiny_data, monkeypatch):
    spy = FitSpy()
    monkeypatch.setattr(backtest, "fit_paths", spy)
    freq, grid, fold = _fold(tiny_data)
    sales, products = tiny_data.sales, tiny_data.products
    cold = pd.Index(sorted(sales["product_id"].unique())[:3])
    result = backtest.run_fold(sales, products, grid, freq, fold, ForecastConfig(), cold_start=cold)

    assert [s[0] for s in spy.seen] == [backtest.MODEL, backtest.NO_POOLING, backtest.FROM_ATTRIBUTES]
    for _, last_seen, plan_dates in spy.seen:
        assert last_seen <= fold.cutoff
        assert set(plan_dates) <= set(fold.dates)  # only prices and promotions are known ahead
    assert result.history["date"].max() <= fold.cutoff
    assert set(result.actuals["date"]) == set(fold.dates)
    assert set(result.forecasts["date"]) == set(fold.dates)

    # Poison every quantity after the cutoff: no baseline forecast may change, only the actuals.
    poisoned = sales.copy()
    after = poisoned["date"] > fold.cutoff
    poisoned.loc[after, "quantity"] = poisoned.loc[after, "quantity"] * 100 + 1000
    again = backtest.run_fold(poisoned, products, grid, freq, fold, ForecastConfig(), cold_start=cold)
    key = ["method", "level", "series_id", "date"]
    before = result.forecasts.sort_values(key).reset_index(drop=True)
    after_ = again.forecasts.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after_)
    pair = result.actuals.merge(again.actuals, on=["level", "series_id", "date"], suffixes=("", "_poisoned"))
    sold = pair[(pair["level"] == "product") & (pair["actual"] > 0)]
    assert len(sold) and (sold["actual_poisoned"] == sold["actual"] * 100 + 1000).all()


def test_run_fold_can_leave_out_the_comparisons(tiny_data, monkeypatch):
    """The likelihood benchmark fits the model alone: no no-pooling fit, no baselines."""
    spy = FitSpy()
    monkeypatch.setattr(backtest, "fit_paths", spy)
    freq, grid, fold = _fold(tiny_data)
    result = backtest.run_fold(
        tiny_data.sales,
        tiny_data.products,
        grid,
        freq,
        fold,
        ForecastConfig(),
        baselines=False,
        no_pooling=False,
    )
    assert [s[0] for s in spy.seen] == [backtest.MODEL]
    assert set(result.forecasts["method"]) == {backtest.MODEL}


def test_every_baseline_forecasts_every_seen_series(tiny_data, monkeypatch):
    monkeypatch.setattr(backtest, "fit_paths", FitSpy())
    freq, grid, fold = _fold(tiny_data, k=2)
    result = backtest.run_fold(tiny_data.sales, tiny_data.products, grid, freq, fold, ForecastConfig())
    f = result.forecasts
    seen = result.segments.index[result.segments != "unseen"]
    for method in ("seasonal_naive", "auto_ets", "croston", "tsb", "adida"):
        products = f[(f["method"] == method) & (f["level"] == "product")]
        assert set(products["series_id"]) == set(seen), method
        assert products.groupby("series_id")["date"].nunique().eq(len(fold.dates)).all()
        q = products[SCORING_COLUMNS].to_numpy()
        assert (q >= 0).all() and (np.diff(q, axis=1) >= 0).all()
        assert set(f.loc[f["method"] == method, "level"]) == {
            "product",
            "category",
            "brand",
            "color",
            "total",
        }


def test_the_comparison_is_with_the_best_baseline_and_says_what_to_try():
    rows = []
    crps = {
        "all": {"hierarchical": 1.0, "no_pooling": 0.9, "auto_ets": 1.1, "croston": 1.2},
        "intermittent": {"hierarchical": 0.5, "no_pooling": 0.6, "auto_ets": 0.4, "croston": 0.45},
        "new": {"hierarchical": 2.0, "no_pooling": 2.5, "auto_ets": 2.2, "croston": 2.1},
    }
    for segment, by_method in crps.items():
        for method, value in by_method.items():
            rows.append(
                {
                    "method": method,
                    "level": "product",
                    "segment": segment,
                    "fold": 0,
                    "crps": value,
                    "coverage_80": 0.8,
                    "pit_coverage_80": 0.7,
                }
            )
    v = backtest.compare(pd.DataFrame(rows))
    # No pooling is not a baseline: the model is ahead of every baseline overall though no pooling wins.
    assert v["segments"]["all"]["ahead"] and v["segments"]["all"]["no_pooling_crps"] == 0.9
    assert not v["segments"]["intermittent"]["ahead"]
    assert v["segments"]["intermittent"]["best_baseline"] == "auto_ets"
    assert v["segments"]["new"]["ahead"] and v["segments"]["new"]["best_baseline"] == "croston"
    assert not v["ahead_everywhere"] and not v["coverage_ok"]
    assert "zinb" in v["advice"] and "overconfident" in v["advice"]


def test_dense_panel_stops_at_a_products_end_date():
    sales = pd.DataFrame(
        {
            "product_id": ["a", "a", "b", "b"],
            "date": [GRID[0], GRID[8], GRID[0], GRID[2]],
            "quantity": [2, 5, 1, 1],
        }
    )
    products = pd.DataFrame({"product_id": ["a", "b"], "end_date": [GRID[3] + pd.Timedelta(days=2), pd.NaT]})
    panel = backtest.dense_panel(sales, GRID, products)
    a = panel[panel["product_id"] == "a"]
    # a's periods end with the one holding its end date; its row after it (5 units) is not demand
    assert a["date"].tolist() == list(GRID[:4]) and a["y"].tolist() == [2, 0, 0, 0]
    assert len(panel[panel["product_id"] == "b"]) == 60
    assert backtest.dense_panel(sales, GRID).groupby("product_id").size().tolist() == [60, 60]


def test_dense_panel_starts_at_a_products_launch_date():
    sales = pd.DataFrame(
        {
            "product_id": ["a", "a", "b", "c"],
            "date": [GRID[0], GRID[8], GRID[5], GRID[0]],
            "quantity": [2, 5, 1, 1],
        }
    )
    launch = [GRID[4] + pd.Timedelta(days=2), GRID[2], pd.NaT, GRID[10], GRID[0] - pd.Timedelta(weeks=9)]
    products = pd.DataFrame({"product_id": ["a", "b", "c", "d", "e"], "launch_date": launch})
    panel = backtest.dense_panel(sales, GRID, products)
    starts = panel.groupby("product_id")["date"].min()
    # a from its launch (its row before it is not read), b's zeros before its first sale, c from
    # its first sale, d listed without a sale: zeros; e's launch is before the grid
    assert starts.to_dict() == {"a": GRID[4], "b": GRID[2], "c": GRID[0], "d": GRID[10], "e": GRID[0]}
    b = panel[panel["product_id"] == "b"]
    assert b["y"].tolist()[:4] == [0, 0, 0, 1]
    assert (
        panel.loc[panel["product_id"] == "a", "y"].sum() == 5
        and panel.loc[panel["product_id"] == "e", "y"].sum() == 0
    )


def test_stock_outs_and_declining_products_are_segments_of_their_own(tiny_data, monkeypatch):
    monkeypatch.setattr(backtest, "fit_paths", FitSpy())
    freq, grid, fold = _fold(tiny_data, k=2)
    sales, products = tiny_data.sales.copy(), tiny_data.products.copy()
    ids = sorted(sales["product_id"].unique())
    out, leaving, gone = ids[0], ids[1], ids[2]
    sales["availability"] = 1.0
    sales.loc[(sales["product_id"] == out) & (sales["date"] <= fold.cutoff), "availability"] = 0.5
    # a stock-out after the cutoff is not known at the cutoff
    sales.loc[(sales["product_id"] == ids[3]) & (sales["date"] > fold.cutoff), "availability"] = 0.0
    end = fold.dates[1]
    products["end_date"] = pd.NaT
    products.loc[products["product_id"] == leaving, "end_date"] = end
    products.loc[products["product_id"] == gone, "end_date"] = fold.cutoff - pd.Timedelta(weeks=3)
    result = backtest.run_fold(sales, products, grid, freq, fold, ForecastConfig(), baselines=True)

    assert result.flags.loc[out, "stockout"] and result.flags["stockout"].sum() == 1
    assert result.flags.loc[leaving, "declining"] and result.flags["declining"].sum() == 1
    product_actuals = result.actuals[result.actuals["level"] == "product"]
    # periods after an end date are not scored: the leaving product's stop, the gone one has none
    assert set(product_actuals.loc[product_actuals["series_id"] == leaving, "date"]) == set(fold.dates[:2])
    assert gone not in set(product_actuals["series_id"])

    metrics, pit = backtest.score_folds([result])
    rows = metrics[(metrics["fold"] == 0) & (metrics["level"] == "product")]
    for segment in ("stockout", "declining"):
        seg = rows[rows["segment"] == segment]
        assert set(seg["method"]) >= {backtest.MODEL, "auto_ets"}, segment
        assert (seg["n_series"] == 1).all()
        assert len(pit[(pit["segment"] == segment) & (pit["method"] == backtest.MODEL)]) == 10
    assert rows[rows["segment"] == "declining"]["n_cells"].iloc[0] == 2
    assert rows["coverage_50"].between(0, 1).all()


def test_the_report_states_calibration_by_segment():
    from forecast.evaluation import report

    metrics = pd.DataFrame(
        [
            {"method": m, "level": "product", "segment": s, "fold": 0, "n_series": 3, "n_cells": 9}
            | {"coverage_50": 0.5, "coverage_80": 0.8, "coverage_95": 0.9, "pit_coverage_80": 0.78}
            for m in (backtest.MODEL, "auto_ets")
            for s in ("declining", "all", "stockout")
        ]
    )
    table = report.calibration_table(metrics)
    assert table["segment"].tolist() == ["all", "stockout", "declining"]
    assert {"coverage_50", "coverage_80", "coverage_95", "pit_coverage_80"} <= set(table.columns)
    pit = pd.DataFrame(
        [
            {"method": backtest.MODEL, "segment": s, "bin": b, "share": 0.1}
            for s in ("all", "stockout")
            for b in range(10)
        ]
    )
    assert report.pit_segment_plot(pit).startswith("<img")
