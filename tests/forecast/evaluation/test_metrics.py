"""Backtest metrics against values worked out by hand on tiny inputs."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.contract.quantiles import SCORING_COLUMNS, SCORING_GRID
from forecast.evaluation import metrics

ALPHAS = np.array([0.1, 0.5, 0.9])


def test_pinball_loss_by_hand():
    # y = 3 against quantiles 1, 3, 6: 0.1 * (3 - 1), 0, (1 - 0.9) * (6 - 3)
    got = metrics.pinball(np.array([3.0]), np.array([[1.0, 3.0, 6.0]]), ALPHAS)
    np.testing.assert_allclose(got, [[0.2, 0.0, 0.3]])


def test_crps_is_twice_the_mean_pinball_loss():
    got = metrics.crps(np.array([3.0, 1.0]), np.array([[1.0, 3.0, 6.0], [1.0, 1.0, 1.0]]), ALPHAS)
    np.testing.assert_allclose(got, [2 * (0.2 + 0.0 + 0.3) / 3, 0.0])


def test_crps_of_a_point_mass_is_the_absolute_error():
    q = np.full((1, len(SCORING_GRID)), 5.0)
    # 2 * mean over levels of (1 - alpha) * |5 - 2|; the grid's levels average 0.5, so exactly 3.
    np.testing.assert_allclose(metrics.crps(np.array([2.0]), q), [3.0])


def test_weighted_quantile_loss_by_hand():
    y = np.array([3.0, 1.0])
    q = np.array([[1.0, 3.0, 6.0], [1.0, 1.0, 1.0]])
    # Per level: 2 * [0.2, 0, 0.3] / 4 = [0.1, 0, 0.15]; mean over levels 0.25 / 3.
    assert metrics.wql(y, q, ALPHAS) == pytest.approx(0.25 / 3)
    assert np.isnan(metrics.wql(np.zeros(2), q, ALPHAS))


def test_bias_and_coverage_by_hand():
    assert metrics.bias(np.array([3.0, 1.0]), np.array([2.0, 4.0])) == pytest.approx(0.5)
    assert metrics.bias(np.array([4.0]), np.array([3.0])) == pytest.approx(-0.25)
    y = np.array([3.0, 1.0, 5.0])
    assert metrics.coverage(y, np.array([1.0, 1.0, 6.0]), np.array([3.0, 2.0, 7.0])) == pytest.approx(2 / 3)


def test_pit_between_quantiles_is_linear():
    u = metrics.pit(np.array([2.0]), np.array([[1.0, 3.0, 6.0]]), ALPHAS)
    assert u[0] == pytest.approx(0.1 + 0.5 * (0.5 - 0.1))


def test_pit_ties_and_tails_are_randomized_over_their_levels():
    n = 4000
    q = np.tile([[0.0, 0.0, 2.0]], (n, 1))
    # Zero is the 10% and 50% quantile: the CDF jumps at zero from 0 (counts) to between 0.5 and 0.9,
    # estimated at 0.7, so the PIT is U(0, 0.7).
    u = metrics.pit(np.zeros(n), q, ALPHAS, seed=1)
    assert u.min() >= 0 and u.max() <= 0.7 and abs(u.mean() - 0.35) < 0.01
    # One tied quantile, 3 at the 50% level: the jump runs from (0.1 + 0.5) / 2 to (0.5 + 0.9) / 2.
    one = metrics.pit(np.full(n, 3.0), np.tile([[1.0, 3.0, 6.0]], (n, 1)), ALPHAS, seed=1)
    assert one.min() >= 0.3 and one.max() <= 0.7
    below = metrics.pit(np.zeros(n), np.tile([[1.0, 2.0, 3.0]], (n, 1)), ALPHAS, seed=1)
    assert below.min() >= 0 and below.max() <= 0.1
    above = metrics.pit(np.full(n, 10.0), np.tile([[1.0, 2.0, 3.0]], (n, 1)), ALPHAS, seed=1)
    assert above.min() >= 0.9 and above.max() <= 1.0


def test_pit_of_a_calibrated_count_forecast_is_uniform():
    """Outcomes drawn from the forecast distribution itself: every PIT bin holds about 10%."""
    rng = np.random.default_rng(0)
    means = rng.choice([0.3, 2.0, 8.0], size=20000)
    y = rng.poisson(means)
    q = stats.poisson.ppf(SCORING_GRID[None, :], means[:, None])
    hist = metrics.pit_histogram(metrics.pit(y, q, seed=2))
    np.testing.assert_allclose(hist, 0.1, atol=0.015)
    # A forecast that is too narrow piles PIT values into the outer bins.
    narrow = stats.poisson.ppf(SCORING_GRID[None, :], means[:, None] * 0.5)
    assert metrics.pit_histogram(metrics.pit(y, narrow, seed=2))[-1] > 0.2


def test_pit_histogram_by_hand():
    hist = metrics.pit_histogram(np.array([0.05, 0.15, 0.95, 1.0]))
    np.testing.assert_allclose(hist, [0.25, 0.25, 0, 0, 0, 0, 0, 0, 0, 0.5])


def _cells(series, actual, median):
    n = len(actual)
    frame = pd.DataFrame(
        {"series_id": series, "date": pd.date_range("2024-01-01", periods=n, freq="W"), "actual": actual}
    )
    for c in SCORING_COLUMNS:
        frame[c] = median
    frame["mean"] = median
    return frame


def test_mase_by_hand():
    train = pd.DataFrame(
        {
            "series_id": ["a"] * 4 + ["flat"] * 3,
            "date": list(pd.date_range("2023-01-01", periods=4, freq="W"))
            + list(pd.date_range("2023-01-01", periods=3, freq="W")),
            "y": [1.0, 3.0, 2.0, 4.0, 2.0, 2.0, 2.0],
        }
    )
    scored = pd.concat([_cells(["a", "a"], [2.0, 5.0], 3.0), _cells(["flat"], [2.0], 1.0)])
    got = metrics.mase(scored, train)
    # naive MAE of a: (2 + 1 + 2) / 3; forecast MAE (1 + 2) / 2
    assert got["a"] == pytest.approx(1.5 / (5 / 3))
    assert np.isnan(got["flat"])  # a flat history has no scale


def test_score_collects_every_metric():
    cells = _cells(["a", "a", "b"], [2.0, 5.0, 0.0], 3.0)
    out = metrics.score(cells)
    assert out["n_series"] == 2 and out["n_cells"] == 3
    assert out["crps"] == pytest.approx(metrics.crps(cells["actual"], cells[SCORING_COLUMNS]).mean())
    assert out["bias"] == pytest.approx((9 - 7) / 7)
    assert out["coverage_80"] == pytest.approx(0.0)  # a point forecast at 3 never holds 2, 5 or 0
