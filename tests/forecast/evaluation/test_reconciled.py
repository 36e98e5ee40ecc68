"""AutoETS reconciled across the hierarchy: coherent at every level, scored and reported as its peers."""

import logging

import numpy as np
import pandas as pd
import pytest

from forecast.config.options import ForecastConfig
from forecast.contract.quantiles import SCORING_COLUMNS
from forecast.contract.schema import Hierarchy
from forecast.evaluation import backtest, report
from forecast.evaluation.reconciled import METHODS, reconciled_forecasts, summing_matrix
from forecast.prep.calendar import infer_frequency
from tests.forecast.evaluation.test_backtest import FitSpy

LEVELS = {"product", "category", "brand", "color", "total"}


@pytest.fixture(scope="module")
def fold_result(tiny_data):
    """One fold of ``tiny_data`` with every baseline; the model's fits stand in (``FitSpy``)."""
    freq = infer_frequency(tiny_data.sales["date"])
    grid = freq.grid(tiny_data.sales["date"].min(), tiny_data.sales["date"].max())
    fold = backtest.make_folds(grid, folds=2, horizon=5, step=5, min_train=26)[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backtest, "fit_paths", FitSpy())
        return backtest.run_fold(
            tiny_data.sales, tiny_data.products, grid, freq, fold, ForecastConfig(), no_pooling=False
        )


def test_summing_matrix_puts_the_bottom_identity_last():
    members = pd.DataFrame({"total": ["t", "t", "t"], "category": ["x", "x", "y"]}, index=["a", "b", "c"])
    s, tags = summing_matrix(members)
    assert s["unique_id"].tolist() == ["t", "x", "y", "a", "b", "c"]
    np.testing.assert_array_equal(
        s[["a", "b", "c"]].to_numpy(), [[1, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    )
    assert list(tags["category"]) == ["x", "y"] and list(tags["bottom"]) == ["a", "b", "c"]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_level_is_the_sum_of_its_products(fold_result, tiny_data, method):
    f = fold_result.forecasts[fold_result.forecasts["method"] == method]
    assert set(f["level"]) == LEVELS
    products = f[f["level"] == "product"]
    assert (products["mean"] > 0).all()  # nothing clipped at zero, so the means must add up exactly
    keys = backtest.group_keys(tiny_data.products, Hierarchy())
    for level in LEVELS - {"product"}:
        summed = (
            products.assign(group=keys[level].reindex(products["series_id"]).to_numpy())
            .groupby(["group", "date"])["mean"]
            .sum()
        )
        own = f[f["level"] == level].set_index(["series_id", "date"])["mean"]
        own.index.names = ["group", "date"]
        pd.testing.assert_series_equal(own.sort_index(), summed.sort_index(), check_names=False, rtol=1e-9)
    q = f[SCORING_COLUMNS].to_numpy()
    assert np.isfinite(q).all() and (q >= 0).all() and (np.diff(q, axis=1) >= 0).all()


def test_bottom_up_keeps_autoets_products_and_min_trace_moves_them(fold_result):
    f = fold_result.forecasts.set_index(["method", "level", "series_id", "date"]).sort_index()
    ets = f.loc[("auto_ets", "product")]
    bottom_up = f.loc[("auto_ets_bottom_up", "product")]
    pd.testing.assert_frame_equal(bottom_up, ets.loc[bottom_up.index], rtol=1e-6, atol=1e-6)
    min_trace = f.loc[("auto_ets_min_trace", "product")]
    assert not np.allclose(min_trace["mean"], bottom_up["mean"])
    # the total: BottomUp sums the products, AutoETS of the total forecasts it itself
    assert not np.allclose(
        f.loc[("auto_ets_bottom_up", "total")]["mean"], f.loc[("auto_ets", "total")]["mean"]
    )


def test_the_backtest_scores_both_reconciliations_at_every_level(fold_result):
    metrics, _ = backtest.score_folds([fold_result])
    rows = metrics[(metrics["fold"] == 0) & (metrics["segment"] == "all")]
    for method in METHODS:
        mine = rows[rows["method"] == method].set_index("level")
        assert set(mine.index) == LEVELS, method
        cols = ["crps", "wql", "mase", "coverage_50", "coverage_80", "coverage_95", "pit_coverage_80"]
        assert mine[cols].notna().all().all(), method
        assert mine.loc["total", "n_series"] == 1


def test_a_history_too_short_leaves_min_trace_out_with_a_reason(tiny_data, monkeypatch, caplog):
    freq = infer_frequency(tiny_data.sales["date"])
    grid = freq.grid(tiny_data.sales["date"].min(), tiny_data.sales["date"].max())
    monkeypatch.setattr(backtest, "fit_paths", FitSpy())
    fold = backtest.Fold(1, grid[2], grid[3:6])  # three periods of history
    with caplog.at_level(logging.WARNING, logger="forecast.evaluation.backtest"):
        result = backtest.run_fold(
            tiny_data.sales, tiny_data.products, grid, freq, fold, ForecastConfig(), no_pooling=False
        )
    methods = set(result.forecasts["method"])
    assert "auto_ets_bottom_up" in methods and "auto_ets_min_trace" not in methods
    assert "auto_ets_min_trace left out: 2 in-sample periods" in caplog.text


def test_errors_without_spread_leave_min_trace_out():
    dates = pd.date_range("2024-01-07", periods=20, freq="W-SUN")
    flat = [("a", 1.0), ("b", 2.0), ("t", 3.0)]
    history = pd.concat([pd.DataFrame({"series_id": s, "date": dates, "y": y}) for s, y in flat])
    members = pd.DataFrame({"total": ["t", "t"]}, index=["a", "b"])
    future = pd.date_range(dates[-1] + pd.Timedelta(weeks=1), periods=3, freq="W-SUN")
    rows, skipped = reconciled_forecasts(history, members, future, season=52)
    assert set(rows["method"]) == {"auto_ets_bottom_up"} and "residuals" in skipped["auto_ets_min_trace"]


def test_the_report_shows_coverage_by_level(fold_result):
    metrics, pit = backtest.score_folds([fold_result])
    img = report.level_coverage_plot(metrics)
    assert img.startswith('<img src="data:image/png;base64,') and img.endswith('alt="coverage by level">')
    assert (
        report.level_coverage_plot(metrics.drop(columns=["coverage_50", "coverage_80", "coverage_95"])) == ""
    )
    forecasts = backtest.scored_forecasts([fold_result])
    record = {"backtest_id": "bt-test", "cutoffs": [str(fold_result.fold.cutoff.date())], "fits": []}
    history = fold_result.history.query("level == 'product'").rename(columns={"series_id": "product_id"})
    text = report.render(record, metrics, pit, forecasts, history, backtest.compare(metrics))
    assert "<h3>Coverage by level</h3>" in text and 'alt="coverage by level"' in text
    assert "auto_ets_min_trace" in text and "auto_ets_bottom_up" in text
