import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from forecast import storage
from forecast.prep.m5 import DEPARTMENTS, SNAP_DAYS, STORES, Truth, allocate_items, generate_m5

ITEMS = 40  # every department, and more than one random block with a small BLOCK below


@pytest.fixture(scope="module")
def daily():
    catalog = generate_m5(n_items=ITEMS, n_periods=2 * 364, seed=5)
    return catalog, catalog.sales()


def test_the_hierarchy_is_m5s(daily):
    catalog, sales = daily
    products = catalog.products
    assert len(products) == ITEMS * 10 == products["product_id"].nunique()
    assert tuple(products["store"].unique()) == STORES
    assert set(products["state"]) == {"CA", "TX", "WI"}
    assert products.groupby("state")["store"].nunique().to_dict() == {"CA": 4, "TX": 3, "WI": 3}
    assert set(products["department"]) == set(DEPARTMENTS)
    departments = products.groupby("category")["department"].unique().map(sorted).to_dict()
    assert departments == {
        "FOODS": ["FOODS_1", "FOODS_2", "FOODS_3"],
        "HOBBIES": ["HOBBIES_1", "HOBBIES_2"],
        "HOUSEHOLD": ["HOUSEHOLD_1", "HOUSEHOLD_2"],
    }
    assert (products.groupby("item")["store"].nunique() == 10).all()  # every item in every store
    first = products.iloc[0]
    assert first["product_id"] == f"{first['item']}_{first['store']}" == "FOODS_1_001_CA_1"
    assert set(sales["product_id"]) <= set(products["product_id"])


def test_the_full_catalog_keeps_m5s_departments():
    assert allocate_items(3049) == DEPARTMENTS
    small = allocate_items(ITEMS)
    assert sum(small.values()) == ITEMS and min(small.values()) >= 1
    assert max(small, key=small.get) == "FOODS_3"
    assert sum(allocate_items(3).values()) == 3


def test_demand_is_intermittent_with_a_tail(daily):
    catalog, sales = daily
    open_days = ~sales["date"].isin(catalog.days[catalog.truth.closed])
    zero = (sales.loc[open_days, "quantity"] == 0).mean()
    assert 0.55 < zero < 0.8  # M5: about 68% of daily cells are zero
    per_product = sales.groupby("product_id")["quantity"].mean()
    assert per_product.median() < 2 < per_product.max()
    assert (sales["quantity"] >= 0).all() and sales["quantity"].max() > 20
    # Christmas: the stores are closed, every row sells 0.
    christmas = sales["date"].dt.strftime("%m-%d") == "12-25"
    assert christmas.any() and (sales.loc[christmas, "quantity"] == 0).all()
    weekend = sales["date"].dt.day_of_week >= 5
    assert sales.loc[weekend, "quantity"].mean() > 1.1 * sales.loc[~weekend, "quantity"].mean()


def test_rows_start_at_the_launch(daily):
    catalog, sales = daily
    first = sales.groupby("product_id")["date"].min()
    launch = pd.to_datetime(catalog.products.set_index("product_id")["launch_date"])
    late = launch.notna()
    assert 0 < late.sum() < len(launch)
    assert (first[launch.index[late]] == launch[late]).all()
    assert (first[launch.index[~late]] == catalog.days[0]).all()
    # one row per day from the launch to the end, zeros included
    rows = sales.groupby("product_id").size()
    span = (catalog.days[-1] - first).dt.days + 1
    assert (rows == span[rows.index]).all()
    assert sales.duplicated(["date", "product_id"]).sum() == 0


def test_prices_are_per_item_and_store_and_change_now_and_then(daily):
    _, sales = daily
    assert (sales["price"] > 0).all()
    weekly = sales.assign(week=(sales["date"] - sales["date"].min()).dt.days // 7)
    assert weekly.groupby(["product_id", "week"])["price"].nunique().max() == 1  # weekly prices
    changes = weekly.groupby("product_id")["price"].nunique()
    assert (changes > 1).mean() > 0.5  # most change in two years
    one_item = sales[sales["product_id"].str.startswith("FOODS_3_001_")]
    assert one_item.groupby("date")["price"].nunique().max() > 1  # states differ


def test_events_are_holidays_and_snap_days_per_state(daily):
    catalog, _ = daily
    events = catalog.events
    assert {"Christmas", "Thanksgiving", "SuperBowl", "Easter"} <= set(events["event"])
    snap = events[events["event"] == "SNAP_CA"]
    assert (snap["region"] == "CA").all() and set(snap["date"].dt.day) == set(SNAP_DAYS["CA"])
    assert set(events.loc[events["event"] == "SNAP_TX", "date"].dt.day) == set(SNAP_DAYS["TX"])
    assert events.loc[~events["event"].str.startswith("SNAP"), "region"].isna().all()
    assert events["date"].between(catalog.days[0], catalog.days[-1]).all()


def test_weekly_is_the_sum_of_the_daily_draw():
    daily = generate_m5(n_items=20, n_periods=70, seed=9).sales()
    weekly = generate_m5(n_items=20, frequency="W", n_periods=10, seed=9).sales()
    start = daily["date"].min()
    week = start + pd.to_timedelta((daily["date"] - start).dt.days // 7 * 7, unit="D").astype(
        "timedelta64[ns]"
    )
    summed = daily.assign(date=week).groupby(["product_id", "date"], sort=False)["quantity"].sum()
    both = weekly.set_index(["product_id", "date"])["quantity"]
    pd.testing.assert_series_equal(both, summed.astype(both.dtype), check_names=False)
    assert (weekly["date"].dt.day_of_week == start.day_of_week).all()


def test_the_chunked_parquet_is_the_frame_and_the_truth_round_trips(daily, tmp_path, monkeypatch):
    catalog, sales = daily
    monkeypatch.setattr("forecast.prep.m5.BLOCK", 8)  # several blocks per store
    small = generate_m5(n_items=ITEMS, n_periods=60, seed=5)
    counts = small.write(tmp_path)
    table = pq.read_table(tmp_path / "sales.parquet")
    assert pq.ParquetFile(tmp_path / "sales.parquet").num_row_groups == 10 * -(-ITEMS // 8)
    frame = table.to_pandas().assign(date=lambda f: pd.to_datetime(f["date"]).astype("datetime64[ns]"))
    pd.testing.assert_frame_equal(frame, small.sales())
    assert counts["sales"] == len(frame) and counts["products"] == ITEMS * 10
    truth = Truth.load(tmp_path / "truth.npz")
    assert np.isfinite(truth.mean).all() and np.array_equal(truth.level, small.truth.level)


def test_the_files_pass_the_projects_ingest(tmp_path):
    catalog = generate_m5(n_items=ITEMS, n_periods=120, seed=5)
    counts = catalog.write(tmp_path)
    con = storage.connect(tmp_path / "m5.duckdb")
    limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
    summary = storage.ingest(
        con, tmp_path / "sales.parquet", tmp_path / "products.csv", events=tmp_path / "events.csv"
    )
    assert summary.rows_read == summary.rows_loaded == counts["sales"]
    assert summary.rows_rejected == 0 and summary.products_read == ITEMS * 10
    assert summary.events_read == summary.events_added == counts["events"]
    loaded = con.execute("select count(*), sum(quantity) from sales").fetchone()
    assert loaded == (counts["sales"], int(catalog.sales()["quantity"].sum()))
    launch = con.execute("select count(*) from products where launch_date is not null").fetchone()[0]
    assert launch == catalog.products["launch_date"].notna().sum()
    # the ingest's memory cap is undone, and its staged copy of the rows is gone
    assert con.execute("select current_setting('memory_limit')").fetchone()[0] == limit
    temp = {r[0] for r in con.execute("select table_name from duckdb_tables() where temporary").fetchall()}
    assert "checked_sales" not in temp
    con.close()


def test_the_ingest_memory_cap_never_raises_a_lower_limit(tmp_path):
    catalog = generate_m5(n_items=8, n_periods=30, seed=5)
    catalog.write(tmp_path, truth=False)
    con = storage.connect(":memory:")
    con.execute("set memory_limit = '1GiB'")
    storage.ingest(con, tmp_path / "sales.parquet", tmp_path / "products.csv", memory_limit="4GiB")
    assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "1.0 GiB"
    with pytest.raises(storage.IngestError, match="not a size"):
        storage.ingest(con, tmp_path / "sales.parquet", tmp_path / "products.csv", memory_limit="lots")
    con.close()


def test_the_catalog_is_seeded():
    one = generate_m5(n_items=12, n_periods=50, seed=3)
    again = generate_m5(n_items=12, n_periods=50, seed=3)
    other = generate_m5(n_items=12, n_periods=50, seed=4)
    pd.testing.assert_frame_equal(one.sales(), again.sales())
    pd.testing.assert_frame_equal(one.products, again.products)
    assert not one.sales()["quantity"].equals(other.sales()["quantity"])
