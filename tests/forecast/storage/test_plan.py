import numpy as np
import pandas as pd
import pytest

from forecast import storage
from forecast.contract.schema import Hierarchy
from forecast.prep.calendar import infer_frequency
from forecast.prep.design import build_design


@pytest.fixture
def history():
    dates = pd.date_range("2024-01-01", periods=8, freq="7D")
    sales = pd.DataFrame({"date": dates, "product_id": "A", "quantity": 2, "price": 10.0, "promo": 0})
    products = pd.DataFrame({"product_id": ["A", "B"], "category": "x", "brand": "k", "color": "red"})
    return sales, products


def _design(sales, products, plan=None):
    return build_design(sales, products, Hierarchy(), infer_frequency(sales["date"]), 3, plan=plan)


def test_planned_prices_and_promotions_reach_the_horizon(history, tmp_path):
    sales, products = history
    path = tmp_path / "plan.csv"
    path.write_text("date,product_id,price,promo\n2024-02-26,A,7.5,1\n2024-03-04,A,12.0,0\n")
    plan = storage.read_plan(path)
    d = _design(sales, products, plan)
    a = d.future.product_idx == 0
    assert np.allclose(np.exp(d.future.log_price[a]), [0.75, 1.2, 1.0])
    assert d.future.promo[a].tolist() == [1.0, 0.0, 0.0]
    assert "planned prices/promotions for 2 product-periods" in d.future_price_source
    plain = _design(sales, products)
    assert plain.future_price_source == "last regular price, no promotion"


def test_plan_outside_the_horizon_or_for_unknown_products_is_refused(history):
    sales, products = history
    with pytest.raises(ValueError, match="not a forecast period"):
        _design(sales, products, pd.DataFrame({"date": ["2025-01-06"], "product_id": ["A"], "promo": [1]}))
    with pytest.raises(ValueError, match="unknown product 'Z'"):
        _design(sales, products, pd.DataFrame({"date": ["2024-02-26"], "product_id": ["Z"], "promo": [1]}))


def test_plan_file_needs_its_columns(tmp_path):
    path = tmp_path / "plan.csv"
    path.write_text("date,product_id\n2024-02-26,A\n")
    with pytest.raises(storage.IngestError, match="needs columns"):
        storage.read_plan(path)


def test_a_product_without_history_takes_its_planned_regular_price_as_reference(history):
    """A launch price is not a price change: B (no sales yet) is planned at 30, then 25% off."""
    sales, products = history
    plan = pd.DataFrame(
        {
            "date": ["2024-02-26", "2024-03-04"],
            "product_id": ["B", "B"],
            "price": [30.0, 22.5],
            "promo": [0, 1],
        }
    )
    d = _design(sales, products, plan)
    b = d.future.product_idx == 1
    assert d.ref_price[1] == 30.0
    assert np.allclose(np.exp(d.future.log_price[b]), [1.0, 0.75, 1.0])  # the unplanned week: 30 too
    assert d.ref_price[0] == 10.0  # a product with history keeps its own reference
