import numpy as np
import pandas as pd
import pytest

from forecast.contract.schema import Hierarchy
from forecast.model.builder import launch_rows
from forecast.prep.calendar import infer_frequency
from forecast.prep.design import build_design, fourier_terms, panel_rows, parent_groups, subset_design


def _design(sales, products, horizon=4, hierarchy=None):
    freq = infer_frequency(sales["date"])
    return build_design(sales, products, hierarchy or Hierarchy(), freq, horizon)


@pytest.fixture
def small():
    dates = pd.date_range("2024-01-01", periods=6, freq="7D")
    sales = pd.DataFrame(
        {
            "date": [dates[0], dates[2], dates[5], dates[4], dates[5]],
            "product_id": ["A", "A", "A", "B", "B"],
            "quantity": [3, 1, 2, 5, 4],
            "price": [10.0, 8.0, 10.0, 20.0, 22.0],
            "promo": [0, 1, 0, 0, 0],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["A", "B", "C"],
            "category": ["x", "x", "y"],
            "brand": ["k", "m", "k"],
            "color": ["red", "red", "blue"],
        }
    )
    return sales, products


def test_zero_sale_periods_are_observations_from_first_sale_on(small):
    d = _design(*small)
    a = d.train.product_idx == 0
    assert d.train.y[a].tolist() == [3, 0, 1, 0, 0, 2]  # weeks 1, 3, 4 had no row: sold 0
    b = d.train.product_idx == 1
    assert d.train.y[b].tolist() == [5, 4]  # B launched in week 4
    assert d.n_obs.tolist() == [6, 2, 0]  # C has no history: cold start


def test_prices_are_relative_to_the_regular_price_and_carried_over(small):
    d = _design(*small)
    a = d.train.product_idx == 0
    # A's regular price is 10; the promo week sold at 8; the zero-sale weeks after it had the last
    # regular shelf price, not the promotion price carried past the promotion
    assert np.allclose(np.exp(d.train.log_price[a]), [1.0, 1.0, 0.8, 1.0, 1.0, 1.0])
    assert d.train.promo[a].tolist() == [0, 0, 1, 0, 0, 0]


def test_horizon_rows_cover_every_product_product_major(small):
    d = _design(*small, horizon=4)
    assert len(d.future) == 3 * 4
    assert d.future.product_idx.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert d.future_dates[0] == pd.Timestamp("2024-02-12")
    assert d.future.promo.sum() == 0
    # B's last regular price 22 against its reference (median 21)
    b = d.future.product_idx == 1
    assert np.allclose(np.exp(d.future.log_price[b]), 22 / 21)


def test_nested_levels_carry_their_parents(small):
    d = _design(*small)
    assert list(d.levels["brand"]) == ["x/k", "x/m", "y/k"]  # brand k in x and in y differ
    assert d.level_idx["brand"].tolist() == [0, 1, 2]
    assert list(d.levels["color"]) == ["blue", "red"]
    assert d.pool == "category"


def test_any_attribute_lists_work(small):
    sales, products = small
    products = products.rename(columns={"category": "region", "brand": "store"}).assign(size=["s", "m", "s"])
    d = _design(sales, products, hierarchy=Hierarchy(("region", "store"), ("color", "size")))
    assert set(d.levels) == {"region", "store", "color", "size"}
    with pytest.raises(ValueError, match=r"no column\(s\) \['category', 'brand'\]"):
        _design(sales, products)


def test_sales_for_unknown_products_are_refused(small):
    sales, products = small
    with pytest.raises(ValueError, match="not in products"):
        _design(sales, products[products["product_id"] != "B"])


def test_parent_groups_are_read_from_the_products(small):
    sales, products = small
    d = _design(sales, products.assign(color=["red", "blue", "red"]))
    # brands x/k and x/m sit in category x, y/k in y; red is sold in both categories
    assert set(parent_groups(d)) == {"brand"}
    assert parent_groups(d)["brand"].tolist() == [0, 0, 1]
    # a "crossed" attribute whose levels each sit in one category nests there all the same
    d = _design(
        sales, products.assign(color=["red", "blue", "green"]), hierarchy=Hierarchy(("category",), ("color",))
    )
    assert parent_groups(d)["color"].tolist() == [0, 1, 0]  # blue, green, red: x, y, x
    # one level of the parent: nothing to nest in
    d = _design(sales, products.assign(category="x"))
    assert "brand" not in parent_groups(d)


def test_a_discontinued_products_panel_stops_at_its_end_date(small):
    sales, products = small
    plain = _design(sales, products)
    # A ends mid-week 3 (2024-01-17 lies in the week of 2024-01-15); B and C are on sale
    products = products.assign(end_date=pd.to_datetime(["2024-01-17", None, None]))
    d = _design(sales, products)
    a = d.train.product_idx == 0
    assert d.train.time_idx[a].tolist() == [0, 1, 2]  # not the zero weeks after the end date
    assert d.train.y[a].tolist() == [3, 0, 1]  # its sale after the end date is not history either
    assert d.sales_after_end == 1 and plain.sales_after_end == 0  # and the run's message says so
    assert d.n_obs.tolist() == [3, 2, 0]
    b = d.train.product_idx == 1
    assert d.train.y[b].tolist() == plain.train.y[plain.train.product_idx == 1].tolist()
    assert d.end_period.tolist() == [2, len(d.dates) - 1, len(d.dates) - 1]
    assert d.discontinued.tolist() == [[True] * 4, [False] * 4, [False] * 4]
    # the horizon keeps every product's rows (its forecast is zeroed from the sample paths)
    assert len(d.future) == len(plain.future)
    assert subset_design(d, np.array([0])).end_period.tolist() == [2]


def test_an_end_date_inside_the_horizon_stops_only_the_later_periods(small):
    sales, products = small
    d = _design(sales, products.assign(end_date=pd.to_datetime([None, "2024-02-19", None])))
    assert d.discontinued.tolist() == [[False] * 4, [False, False, True, True], [False] * 4]
    assert len(d.train) == len(_design(*small).train)


def test_without_end_dates_the_design_is_unchanged(small):
    sales, products = small
    plain = _design(sales, products)
    for extra in (products.assign(end_date=pd.NaT), products.assign(end_date=pd.to_datetime("2030-01-01"))):
        d = _design(sales, extra)
        assert d.discontinued is None
        assert np.array_equal(d.train.time_idx, plain.train.time_idx)
        assert np.array_equal(d.train.y, plain.train.y)
    assert _design(sales, products.assign(end_date=pd.NaT)).end_period is None


def test_panel_rows_end_at_each_keys_last_period():
    keys, periods = panel_rows(np.array([0, 1, 2]), np.array([1, 0, 3]), 5, np.array([2, 4, 1]))
    assert keys.tolist() == [0, 0, 1, 1, 1, 1, 1]
    assert periods.tolist() == [1, 2, 0, 1, 2, 3, 4]
    same = panel_rows(np.array([0, 1]), np.array([1, 0]), 5)
    assert [a.tolist() for a in same] == [
        a.tolist() for a in panel_rows(np.array([0, 1]), np.array([1, 0]), 5, np.array([4, 9]))
    ]


def test_periods_out_of_stock_are_censored_and_panel_zeros_are_not(small):
    sales, products = small
    # A: in stock, a stock-out (0.5), unknown; B: fully out in its first week
    stocked = sales.assign(availability=[1.0, 0.5, np.nan, 0.0, 1.0])
    d = _design(stocked, products)
    assert d.train.censored is not None and d.train.censored.dtype == bool
    got = {
        (d.products[p], int(t)): bool(c)
        for p, t, c in zip(d.train.product_idx, d.train.time_idx, d.train.censored, strict=True)
    }
    assert [t for (p, t), c in got.items() if c] == [2, 4]  # A's week 2 and B's week 4
    assert not got[("A", 1)] and not got[("A", 3)]  # zero-sale panel rows: sold zero in stock
    assert d.censored_rows == 2
    assert d.had_stockout.tolist() == [True, True, False]
    # the rest of the design is as without the column
    plain = _design(sales, products)
    assert np.array_equal(plain.train.y, d.train.y) and np.array_equal(
        plain.train.log_price, d.train.log_price
    )
    # a subset keeps its rows' flags
    sub = subset_design(d, np.array([1, 2]))
    assert sub.had_stockout.tolist() == [True, False] and sub.censored_rows == 1


@pytest.mark.parametrize("availability", [None, 1.0, np.nan])
def test_without_a_stock_out_nothing_is_censored(small, availability):
    sales, products = small
    if availability is not None:
        sales = sales.assign(availability=availability)
    d = _design(sales, products)
    assert d.train.censored is None and d.censored_rows == 0
    assert not d.had_stockout.any() and len(d.had_stockout) == 3


def test_launches_inside_the_data_and_the_plans_launch_of_a_new_product(small):
    """B's first sale is in period 4: launched inside the data; A sells from the first period:
    established. C has no history and its plan starts in the horizon's third period: it launches
    there and is off sale before it (zero forecast), as is nothing else."""
    sales, products = small
    dates = pd.date_range("2024-01-01", periods=10, freq="7D")
    plan = pd.DataFrame({"date": dates[8:10], "product_id": ["C", "C"], "price": [5.0, 5.0]})
    freq = infer_frequency(sales["date"])
    d = build_design(sales, products, Hierarchy(), freq, 4, plan=plan)
    assert d.launch_period.tolist() == [-1, 4, 8]
    off = d.off_sale
    assert off[2].tolist() == [True, True, False, False]
    assert not off[:2].any()
    from_start = pd.concat([sales, sales.iloc[[0]].assign(product_id="B")])
    assert _design(from_start, products).launch_period is None
    assert subset_design(d, np.array([2])).launch_period.tolist() == [8]


def test_a_launch_date_sets_the_launch_and_the_history_starts_there(small):
    """B's first sale is in period 4 but it was listed in period 2 (a Wednesday of it): its launch
    is period 2 and its periods 2 and 3 are zeros read as history. A's launch date is before the
    data: established, its history as before. C, listed in the horizon's second period without
    history, launches there; D, listed in period 1 without a sale, has zeros from it."""
    sales, products = small
    products = pd.concat([products, pd.DataFrame({"product_id": ["D"], "category": ["y"]})])
    products["launch_date"] = pd.to_datetime(["2023-11-06", "2024-01-17", "2024-02-19", "2024-01-08"])
    d = _design(sales, products)
    assert d.launch_period.tolist() == [-1, 2, 7, 1]
    b = d.train.product_idx == 1
    assert d.train.time_idx[b].tolist() == [2, 3, 4, 5] and d.train.y[b].tolist() == [0, 0, 5, 4]
    assert d.train.y[d.train.product_idx == 0].tolist() == [3, 0, 1, 0, 0, 2]
    assert d.train.y[d.train.product_idx == 3].tolist() == [0] * 5
    assert d.n_obs.tolist() == [6, 4, 0, 5] and d.sales_before_launch == 0
    assert d.off_sale[2].tolist() == [True, False, False, False] and not d.off_sale[[0, 1, 3]].any()
    sub = subset_design(d, np.array([1, 2]))
    assert sub.launch_period.tolist() == [2, 7]
    assert sub.train.time_idx.tolist() == [2, 3, 4, 5]


def test_a_launch_date_overrides_the_first_sale_and_the_plan(small):
    """A's launch date puts it in period 3: its sales rows before (periods 0 and 2) are not read
    and are counted; B's launch date in the first period makes it established; C's plan starts in
    the horizon's first period but its launch date is after the horizon: off sale throughout. Where
    products carry launch dates, one with history and none is established (B's first sale in period
    4 is not read as its launch); without any, the first-sale rule holds."""
    sales, products = small
    products = products.assign(launch_date=pd.to_datetime(["2024-01-22", "2024-01-01", "2024-06-03"]))
    dates = pd.date_range("2024-01-01", periods=10, freq="7D")
    plan = pd.DataFrame({"date": dates[6:8], "product_id": ["C", "C"], "price": [5.0, 5.0]})
    d = build_design(sales, products, Hierarchy(), infer_frequency(sales["date"]), 4, plan=plan)
    assert d.launch_period.tolist() == [3, -1, 10]
    assert d.train.y[d.train.product_idx == 0].tolist() == [0, 0, 2]  # periods 3, 4, 5
    assert d.sales_before_launch == 2
    assert d.train.y[d.train.product_idx == 1].tolist() == [0, 0, 0, 0, 5, 4]  # listed from the start
    assert d.off_sale[2].all() and not d.off_sale[:2].any()
    at, age = launch_rows(d, d.future)  # the ramp's rows: A's first year; none of C's
    assert set(d.future.product_idx[at]) == {0} and (age > 0).all()
    partly = products.assign(launch_date=pd.to_datetime(["2024-01-22", None, None]))
    assert _design(sales, partly).launch_period.tolist() == [3, -1, -1]
    none = products.assign(launch_date=pd.NaT)
    assert _design(sales, none).launch_period.tolist() == _design(*small).launch_period.tolist()


@pytest.mark.parametrize("order, terms", [(0, 0), (1, 2), (3, 2)])
def test_quarterly_data_takes_the_configured_fourier_order_up_to_one_harmonic(order, terms):
    dates = pd.date_range("2020-01-01", periods=12, freq="QS")
    frequency = infer_frequency(pd.Series(dates))
    fourier, names = fourier_terms(dates, frequency, order)
    assert fourier.shape == (12, terms) and len(names) == terms
