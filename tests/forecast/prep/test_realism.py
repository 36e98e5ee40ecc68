import numpy as np
import pandas as pd
import pytest

from forecast.evaluation.truth import score_against_truth, truth_draws
from forecast.prep.realism import SEGMENTS, Realism, generate_realistic_catalog

N = 150


@pytest.fixture(scope="module")
def full():
    return generate_realistic_catalog(n_products=N, seed=3)


@pytest.fixture(scope="module")
def plain():
    return generate_realistic_catalog(n_products=N, seed=3, realism=Realism.none())


def weekly_mean(data, frame="history"):
    return getattr(data, frame).groupby("date")["mean"].sum()


def test_generator_is_seeded(full):
    again = generate_realistic_catalog(n_products=N, seed=3)
    assert again.sales.equals(full.sales)
    assert again.truth.equals(full.truth)
    assert again.products.equals(full.products)
    other = generate_realistic_catalog(n_products=N, seed=4)
    assert not other.sales.equals(full.sales)


def test_holdout_is_the_holiday_season(full):
    dates = pd.DatetimeIndex(full.truth["date"].unique())
    assert len(dates) == 13
    assert set(dates.month) == {10, 11, 12}
    assert dates[0] == full.horizon_start
    assert full.sales["date"].max() == dates[0] - pd.Timedelta(weeks=1)
    assert full.sales["date"].nunique() == 156
    # every product has a truth row in every horizon week; the plan covers the products on sale
    assert len(full.truth) == N * 13
    on_sale = full.truth[full.truth["active"]]
    assert len(full.plan) == len(on_sale)
    assert set(full.plan.columns) == {"date", "product_id", "price", "promo"}
    assert set(full.sales.columns) == {"date", "product_id", "quantity", "price", "promo", "availability"}
    assert set(full.products.columns) == {
        "product_id",
        "category",
        "brand",
        "color",
        "launch_date",
        "end_date",
    }
    assert set(full.events.columns) == {"date", "event"}
    assert set(SEGMENTS) <= set(full.truth.columns)


def test_features_leave_each_other_alone(full):
    no_holidays = generate_realistic_catalog(n_products=N, seed=3, realism=Realism(holidays=False))
    assert no_holidays.history["availability"].equals(full.history["availability"])
    assert no_holidays.products.equals(full.products)
    assert no_holidays.params["dispersion"].equals(full.params["dispersion"])


def test_holiday_weeks_sell_more_than_their_neighbours_when_on():
    on = generate_realistic_catalog(n_products=N, seed=3, realism=Realism().only("holidays"))
    off = generate_realistic_catalog(n_products=N, seed=3, realism=Realism.none())
    # Black Friday 2024 (29 November: the week of Monday the 25th) against two weeks well before it
    bf, before = pd.Timestamp("2024-11-25"), [pd.Timestamp("2024-11-04"), pd.Timestamp("2024-11-11")]
    for data, low, high in ((on, 1.4, np.inf), (off, 0.85, 1.15)):
        weekly = weekly_mean(data)
        assert low < weekly[bf] / weekly[before].mean() < high
    assert "black_friday" in set(on.events["event"])
    # on against off: the same demand outside the holiday weeks
    ratio = weekly_mean(on) / weekly_mean(off)
    holiday = on.history.groupby("date")["holiday"].first()
    assert np.allclose(ratio[~holiday], 1.0)
    assert (ratio[holiday] != 1.0).all()
    assert on.truth["holiday"].any() and not on.truth["holiday"].all()


def test_stockouts_thin_the_recorded_sales(full, plain):
    h = full.history
    out = h["availability"] < 1
    assert out.mean() > 0.01
    assert (full.sales["availability"] < 1).any()
    assert (h["quantity"] <= h["demand"]).all()
    assert (h.loc[h["availability"] == 0, "quantity"] == 0).all()
    assert h.loc[out, "quantity"].sum() < h.loc[out, "demand"].sum()
    assert full.truth["stockout"].any()
    # off: every week in stock, sales are the demand
    assert (plain.history["availability"] == 1).all()
    assert plain.history["quantity"].equals(plain.history["demand"])
    assert not plain.truth["stockout"].any()


def test_discontinued_products_sell_nothing_after_their_end_date(full, plain):
    ends = full.products.set_index("product_id")["end_date"].dropna()
    assert len(ends) >= 5
    sales = full.sales.join(ends.rename("end"), on="product_id")
    assert not (sales["date"] > sales["end"]).any()
    truth = full.truth.join(ends.rename("end"), on="product_id")
    after = truth["date"] > truth["end"]
    assert after.any()  # some are discontinued in or before the horizon
    assert (truth.loc[after, "mean"] == 0).all() and (truth.loc[after, "demand"] == 0).all()
    assert (truth.loc[after, "discontinued"]).all() and not truth.loc[~after, "discontinued"].any()
    assert full.truth["declining"].any()
    assert not (full.truth["declining"] & full.truth["discontinued"]).any()
    # the decline: the last week before the end sells less than the week the decline starts
    p = full.params.dropna(subset=["decline_start"])
    mean = full.history.set_index(["product_id", "date"])["mean"]
    ok = [
        mean[(pid, row.end_date)] < mean[(pid, row.decline_start)]
        for pid, row in p.iterrows()
        if (pid, row.end_date) in mean.index and (pid, row.decline_start) in mean.index
    ]
    assert ok and all(ok)
    assert plain.products["end_date"].isna().all()
    assert not plain.truth[["declining", "discontinued"]].any().any()


def test_products_carry_the_launch_date_of_a_launch_inside_the_data(full):
    """A product launched after the first week has its launch week as its launch_date, whatever
    its first sale; one on sale from the first week has none."""
    listed = full.products.set_index("product_id")["launch_date"]
    launch = full.params["launch"]
    inside = launch.notna() & (launch > full.history["date"].min())
    assert inside.sum() >= 5 and listed[~inside].isna().all()
    assert (listed[inside] == launch[inside]).all()
    first_sale = full.sales.groupby("product_id")["date"].min()
    assert (
        first_sale.reindex(listed[inside].index).dropna() >= listed[inside].reindex(first_sale.index).dropna()
    ).all()


def test_launches_ramp_up():
    on = generate_realistic_catalog(n_products=N, seed=3, realism=Realism().only("ramp_up"))
    off = generate_realistic_catalog(n_products=N, seed=3, realism=Realism.none())
    launch = on.params["launch"]
    launched = launch[(launch > on.history["date"].min()) & (launch < pd.Timestamp("2025-03-01"))]
    assert len(launched) >= 5

    def by_age(data):
        h = data.history[data.history["product_id"].isin(launched.index)]
        age = (h["date"] - h["product_id"].map(launched)).dt.days // 7
        return h.assign(age=age).groupby("age")["mean"].mean()

    ramp, flat = by_age(on), by_age(off)
    assert ramp[[0, 1, 2]].mean() < 0.7 * ramp[range(26, 31)].mean()
    assert (ramp[[0, 1, 2]] / flat[[0, 1, 2]] < 0.6).all()
    assert np.allclose(ramp[range(40, 45)] / flat[range(40, 45)], 1.0, atol=0.05)
    assert on.truth["new"].any()


def test_dispersion_and_elasticity_vary_by_product(full, plain):
    by_cat = full.params.join(full.products.set_index("product_id")["category"])
    assert full.params["dispersion"].nunique() == N
    assert (by_cat.groupby("category")["elasticity"].std() > 0.2).all()
    assert plain.params["dispersion"].nunique() == 1
    plain_cat = plain.params.join(plain.products.set_index("product_id")["category"])
    assert (plain_cat.groupby("category")["elasticity"].nunique() == 1).all()


def test_only_rejects_unknown_features():
    with pytest.raises(ValueError, match="unknown features"):
        Realism().only("weather")


def paths_from(truth, n, seed, scale=1.0):
    """Sample paths (draw, product, period) from the truth, its mean scaled by ``scale``."""
    ordered = truth.sort_values(["product_id", "date"])
    draws = truth_draws(ordered.assign(mean=ordered["mean"] * scale), n, seed)
    products = ordered["product_id"].unique()
    dates = pd.DatetimeIndex(ordered["date"].unique())
    return draws.reshape(n, len(products), len(dates)), products, dates


def test_the_truth_scores_one_and_a_wrong_forecast_more(full):
    truth = full.truth
    paths, products, dates = paths_from(truth, 1000, seed=11)
    right = score_against_truth(paths, products, dates, truth)
    assert right["all"]["ratio"] == pytest.approx(1.0, abs=0.02)
    for level in ("50", "80", "95"):
        c = right["all"]["coverage"][level]
        assert c["model"] == pytest.approx(c["truth"], abs=0.03)
        assert c["truth"] >= int(level) / 100 - 0.02
    assert set(right) == {"all", *SEGMENTS, "plain"}
    assert right["holiday"]["rows"] == truth["holiday"].sum()
    for scale in (0.5, 2.0):
        wrong = score_against_truth(*paths_from(truth, 1000, seed=11, scale=scale), truth)
        assert wrong["all"]["ratio"] > 1.15
        assert wrong["all"]["excess"] > 0
        assert wrong["all"]["crps_truth"] == right["all"]["crps_truth"]  # same seed, same truth draws


def test_scoring_needs_a_truth_row_for_every_path(full):
    paths, products, dates = paths_from(full.truth, 10, seed=1)
    with pytest.raises(ValueError, match="no truth row"):
        score_against_truth(paths, products, dates.shift(1, freq="7D"), full.truth)


def test_shared_shocks_move_a_weeks_products_together_and_leave_the_rest_alone():
    """With the shared shocks on, every product's true mean in a week is its mean without them times
    the week's shock of its category (catalog-wide plus the category's own, kept in ``base.shocks``),
    the same factor for all products of a category; with them off (the default) there are none."""
    plain = generate_realistic_catalog(n_products=N, seed=3, realism=Realism.none())
    shocked = generate_realistic_catalog(n_products=N, seed=3, realism=Realism.none().only("shared_shocks"))
    assert plain.base.shocks is None and Realism().shared_shocks is False
    shocks = shocked.base.shocks
    assert shocks is not None and shocks.shape[1] == shocked.products["category"].nunique()
    assert shocks.std().min() > 0.05
    ratio = np.log(shocked.truth.set_index(["date", "product_id"])["mean"]) - np.log(
        plain.truth.set_index(["date", "product_id"])["mean"]
    )
    category = shocked.products.set_index("product_id")["category"]
    frame = ratio.rename("log_ratio").reset_index().assign(category=lambda f: f["product_id"].map(category))
    frame = frame[np.isfinite(frame["log_ratio"])]
    want = [shocks.loc[d, c] for d, c in zip(frame["date"], frame["category"], strict=True)]
    np.testing.assert_allclose(frame["log_ratio"], want, atol=1e-9)
