import numpy as np

from forecast.prep.synthetic import generate_retail_data


def test_generator_is_seeded():
    a = generate_retail_data(n_products=40, seed=3)
    b = generate_retail_data(n_products=40, seed=3)
    assert a.sales.equals(b.sales)
    assert not a.sales.equals(generate_retail_data(n_products=40, seed=4).sales)


def test_demo_data_looks_like_a_retail_catalog():
    d = generate_retail_data()  # the demo's default size
    products, sales = d.products, d.sales
    assert len(products) >= 500
    assert sales["date"].nunique() == 104
    assert set(np.diff(np.sort(sales["date"].unique())).astype("timedelta64[D]").astype(int)) == {7}
    # brands nest inside categories, some brand names appear in several categories
    assert products.groupby("brand")["category"].nunique().max() > 1
    # colors cross categories
    assert (products.groupby("color")["category"].nunique() > 1).all()
    totals = sales.groupby("product_id")["quantity"].sum().reindex(products["product_id"]).fillna(0)
    weekly = totals / 104
    assert (weekly < 1).mean() > 0.3  # a long tail of slow sellers
    assert weekly.max() > 10 * weekly.median()
    first_sale = sales.groupby("product_id")["date"].min()
    recent = first_sale > sales["date"].max() - np.timedelta64(12 * 7, "D")
    assert recent.sum() >= 10  # recently launched products with a few weeks of history
    assert (totals == 0).sum() >= 1  # products with no history at all
    assert sales["promo"].mean() > 0.03
    assert sales.groupby("product_id")["price"].nunique().gt(2).mean() > 0.2  # price changes


def test_seasonality_shows_in_category_totals():
    d = generate_retail_data(n_products=300, seed=1)
    by_week = d.mean.groupby(["date"])["mean"].sum()
    assert by_week.max() / by_week.min() > 1.2
