"""How a run's forecasts moved against the previous published one (sql/007_forecast_changes.sql)."""

import numpy as np
import pandas as pd
import pytest

from forecast import storage
from forecast.contract.paths import SamplePaths
from forecast.contract.run_record import RunRecord
from forecast.model.predict import summarise


@pytest.fixture
def con():
    c = storage.connect(":memory:")
    yield c
    c.close()


def _write(con, run_id, values: dict[str, int], publish=True, horizon=3):
    draws = SamplePaths(
        values=np.broadcast_to(np.array(list(values.values()))[None, :, None], (4, len(values), horizon)),
        products=np.array(list(values)),
        dates=pd.date_range("2025-01-06", periods=horizon, freq="7D"),
    )
    record = RunRecord.started(run_id)
    storage.start_run(con, record)
    storage.write_run(con, record.finished(publish, "checks"), summarise(draws), draws)


def test_changes_per_product_largest_first_with_products_that_came_and_went(con):
    con.execute(
        "insert into products (product_id, category, brand, color) values ('A', 'c1', 'b1', 'red'), ('B', 'c1', 'b2', 'blue')"
    )
    _write(con, "r1", {"A": 10, "B": 5, "GONE": 1})
    _write(con, "r2", {"A": 12, "B": 1, "NEW": 2})
    assert storage.previous_published_run(con, "r2") == "r1"
    assert storage.previous_published_run(con, "r1") is None
    changes = storage.forecast_changes(con, "r2", "r1").set_index("product_id")
    assert list(changes.index) == ["B", "A", "NEW", "GONE"]  # |change| 12, 6, 6, 3; ties by id
    assert changes.loc["A", ["previous_total", "new_total", "change"]].tolist() == [30, 36, 6]
    assert changes.loc["A", "change_ratio"] == pytest.approx(0.2)
    assert changes.loc["B", "category"] == "c1" and changes.loc["B", "change"] == -12
    assert pd.isna(changes.loc["NEW", "previous_total"]) and changes.loc["NEW", "change"] == 6
    assert pd.isna(changes.loc["GONE", "new_total"]) and changes.loc["GONE", "change"] == -3
    assert len(storage.forecast_changes(con, "r2", "r1", limit=2)) == 2


def test_an_unpublished_run_is_not_the_previous_one(con):
    _write(con, "r1", {"A": 10})
    _write(con, "r2", {"A": 20}, publish=False)  # failed its checks
    _write(con, "r3", {"A": 30})
    assert storage.previous_published_run(con, "r3") == "r1"
    assert storage.forecast_changes(con, "r3", "r1")["change"].tolist() == [60]


def test_new_sales_since_the_latest_published_run(con, tiny_files):
    assert storage.has_new_sales_since_latest_run(con)  # nothing published yet
    storage.ingest(con, *tiny_files)
    _write(con, "r1", {"A": 1})
    assert not storage.has_new_sales_since_latest_run(con)
    storage.ingest(con, *tiny_files)  # the same files: nothing loaded
    assert not storage.has_new_sales_since_latest_run(con)
    more = tiny_files[0].with_name("sales_more.csv")
    pd.read_csv(tiny_files[0]).head(3).assign(quantity=99).to_csv(more, index=False)
    storage.ingest(con, more, tiny_files[1])
    assert storage.has_new_sales_since_latest_run(con)


def test_the_database_keeps_one_identity(tmp_path):
    db = tmp_path / "d.duckdb"
    with storage.connect(db) as c:
        first = storage.database_id(c)
    with storage.connect(db) as c:
        assert storage.database_id(c) == first
        assert c.execute("select count(*) from database_info").fetchone()[0] == 1
    with storage.connect(tmp_path / "other.duckdb") as c:
        assert storage.database_id(c) != first
