import duckdb
import numpy as np
import pandas as pd
import pytest

from forecast import storage
from forecast.contract.paths import SamplePaths
from forecast.contract.run_record import RunRecord
from forecast.storage import IngestError
from forecast.storage import runs as run_store


@pytest.fixture
def con():
    c = storage.connect(":memory:")
    yield c
    c.close()


def _count(con, table, where="true"):
    return con.execute(f"select count(*) from {table} where {where}").fetchone()[0]


def test_schema_is_idempotent(con):
    storage.apply_schema(con)
    storage.apply_schema(con)
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    assert {
        "sales",
        "products",
        "rejected_sales",
        "ingest_log",
        "forecast_runs",
        "forecasts",
        "forecast_draws",
        "latest_forecasts",
    } <= tables


def test_ingest_loads_every_row_and_is_idempotent(con, tiny_files, tiny_data):
    sales, products = tiny_files
    first = storage.ingest(con, sales, products)
    assert not first.already_ingested
    assert first.rows_read == len(tiny_data.sales) == first.rows_loaded + first.rows_rejected
    assert first.rows_rejected == 0
    assert _count(con, "sales") == len(tiny_data.sales)
    assert _count(con, "products") == len(tiny_data.products)
    again = storage.ingest(con, sales, products)
    assert again.already_ingested and again.ingest_id == first.ingest_id
    assert _count(con, "sales") == len(tiny_data.sales)
    assert _count(con, "ingest_log") == 1


def test_bad_rows_are_rejected_with_a_reason(con, tmp_path):
    products = tmp_path / "products.csv"
    products.write_text("product_id,category,brand,color\nA,x,k,red\nB,x,m,blue\n")
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "date,product_id,quantity,price,promo\n"
        "2024-01-01,A,3,10.0,0\n"  # good
        "2024-01-08,A,2,,1\n"  # good, price unknown
        "2024-13-45,A,1,10.0,0\n"  # impossible date
        ",A,1,10.0,0\n"  # missing date
        "2024-01-15,A,-2,10.0,0\n"  # negative
        "2024-01-22,A,1.5,10.0,0\n"  # fractional
        "2024-01-29,A,lots,10.0,0\n"  # non-numeric
        "2024-02-05,A,1,0,0\n"  # non-positive price
        "2024-02-05,Z,1,5.0,0\n"  # unknown product
        "2024-02-12,B,4,5.0,maybe\n"  # bad promo
        "2024-02-19,B,4,5.0,0\n"  # good
        "2024-02-19,B,4,5.0,0\n"  # exact duplicate of the row above
        "2024-02-26,B,4,5.0,0\n"  # same key, different quantities: both rejected
        "2024-02-26,B,5,5.0,0\n"
    )
    s = storage.ingest(con, sales, products)
    assert s.rows_read == 14
    assert s.rows_loaded == 3
    assert s.rows_read == s.rows_loaded + s.rows_rejected
    reasons = dict(con.execute("select source_row, reason from rejected_sales").fetchall())
    assert reasons == {
        3: "unparsable date",
        4: "missing date",
        5: "negative quantity",
        6: "fractional quantity",
        7: "non-numeric quantity",
        8: "non-positive price",
        9: "product not in the products file",
        10: "unparsable promo (expected 0/1/true/false)",
        12: "duplicate row",
        13: "same date and product twice with different quantities",
        14: "same date and product twice with different quantities",
    }
    assert con.execute("select price from sales where date = '2024-01-08'").fetchone()[0] is None


def test_file_level_problems_are_one_line_errors_and_change_nothing(con, tmp_path):
    products = tmp_path / "products.csv"
    products.write_text("product_id,category,brand,color\nA,x,k,red\n")
    bad = tmp_path / "sales.csv"
    bad.write_text("day,sku,units\n2024-01-01,A,3\n")
    with pytest.raises(IngestError, match=r"lacks required column\(s\) \['date', 'product_id', 'quantity'\]"):
        storage.ingest(con, bad, products)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(IngestError, match="file is empty"):
        storage.ingest(con, empty, products)
    with pytest.raises(IngestError, match="file not found"):
        storage.ingest(con, tmp_path / "nope.csv", products)
    conflict = tmp_path / "conflict.csv"
    conflict.write_text("product_id,category,brand,color\nA,x,k,red\nA,y,k,red\n")
    good = tmp_path / "good.csv"
    good.write_text("date,product_id,quantity\n2024-01-01,A,3\n")
    with pytest.raises(IngestError, match=r"conflicting attributes for \['A'\]"):
        storage.ingest(con, good, conflict)
    assert _count(con, "products") == 0 and _count(con, "sales") == 0 and _count(con, "ingest_log") == 0


def test_parquet_input(con, tmp_path, tiny_data):
    sales, products = tmp_path / "s.parquet", tmp_path / "p.parquet"
    tiny_data.sales.to_parquet(sales)
    tiny_data.products.to_parquet(products)
    s = storage.ingest(con, sales, products)
    assert s.rows_loaded == len(tiny_data.sales)
    loaded = con.execute("select sum(quantity), count(*) filter (where promo) from sales").fetchone()
    assert loaded == (tiny_data.sales["quantity"].sum(), tiny_data.sales["promo"].sum())


def _draws(n_draw=4, products=("A", "B"), horizon=3, value=1):
    return SamplePaths(
        values=np.full((n_draw, len(products), horizon), value),
        products=np.array(products),
        dates=pd.date_range("2025-01-06", periods=horizon, freq="7D"),
    )


def _forecasts(draws):
    from forecast.model.predict import summarise

    return summarise(draws)


def test_a_run_lands_whole_and_is_published(con):
    record = RunRecord.started("r1", sampler="nutpie")
    storage.start_run(con, record)
    assert _count(con, "forecast_runs", "status = 'running'") == 1
    assert _count(con, "latest_forecasts") == 0
    draws = _draws()
    storage.write_run(con, record.with_(n_products=2).finished(True, "checks"), _forecasts(draws), draws)
    assert _count(con, "forecasts") == 6
    assert _count(con, "forecast_draws") == 4 * 6
    assert _count(con, "latest_forecasts") == 6
    assert con.execute("select status, published from forecast_runs").fetchone() == ("succeeded", True)


def test_a_failed_write_leaves_nothing_half_written(con, monkeypatch):
    draws = _draws()
    good, bad = RunRecord.started("good"), RunRecord.started("bad")
    storage.start_run(con, good)
    storage.write_run(con, good.finished(True, "checks"), _forecasts(draws), draws)
    storage.start_run(con, bad)

    # the run record update is the last statement: forecasts and draws are in by then
    def broken(con, run_id, fields):
        con.execute("select * from no_such_table")

    monkeypatch.setattr(run_store, "update_run", broken)
    with pytest.raises(duckdb.Error, match="no_such_table"):
        storage.write_run(con, bad.finished(True, "checks"), _forecasts(draws), draws)
    monkeypatch.undo()
    storage.fail_run(con, "bad", "boom")
    assert _count(con, "forecasts", "run_id = 'bad'") == 0
    assert _count(con, "forecast_draws", "run_id = 'bad'") == 0
    assert con.execute("select status, message from forecast_runs where run_id = 'bad'").fetchone() == (
        "failed",
        "boom",
    )
    assert con.execute("select distinct run_id from latest_forecasts").fetchall() == [("good",)]


def _random_draws(products, n_draw=7, horizon=3, seed=1):
    rng = np.random.default_rng(seed)
    return SamplePaths(
        values=rng.poisson(4.0, size=(n_draw, len(products), horizon)),
        products=np.array(products),
        dates=pd.date_range("2025-01-06", periods=horizon, freq="7D"),
    )


def _part(paths, block):
    return SamplePaths(paths.values[:, block], paths.products[block], paths.dates)


def test_draws_added_shard_by_shard_are_the_draws_written_at_once(con, monkeypatch):
    """A sharded run's writer takes the sample paths a shard at a time, in the order the shards
    finish, in one transaction: the same rows as one write of them all, each shard's written
    product by product in blocks of whole products."""
    products = [f"P{i}" for i in range(9)]
    paths = _random_draws(products)
    whole, streamed = RunRecord.started("whole"), RunRecord.started("streamed")
    storage.start_run(con, whole)
    storage.write_run(con, whole.finished(True, "checks"), _forecasts(paths), paths)
    storage.start_run(con, streamed)
    monkeypatch.setattr(run_store, "DRAW_CHUNK_ROWS", 2 * 7 * 3)  # two products a block
    shards = [slice(5, 9), slice(0, 5)]  # the second shard finishes first
    with storage.RunWriter(con, "streamed") as writer:
        for block in shards:
            writer.add_draws(_part(paths, block))
            # inside the transaction only: another connection sees none of it
            assert _count(con.cursor(), "forecast_draws", "run_id = 'streamed'") == 0
        assert writer.draw_rows == 9 * 3 * 7
        writer.finish(streamed.finished(True, "checks"), _forecasts(paths))
    rows = "select product_id, date, draw, quantity from forecast_draws where run_id = ? order by all"
    assert _count(con, "forecast_draws", "run_id = 'streamed'") == 9 * 3 * 7
    assert con.execute(rows, ["streamed"]).fetchall() == con.execute(rows, ["whole"]).fetchall()
    order = con.execute(
        "select product_id from forecast_draws where run_id = 'streamed' order by rowid"
    ).fetchall()
    runs = [p for i, (p,) in enumerate(order) if i == 0 or order[i - 1][0] != p]
    assert runs == products[5:] + products[:5]  # product by product, as the shards came
    assert _count(con, "forecasts", "run_id = 'streamed'") == 9 * 3
    assert con.execute("select status from forecast_runs where run_id = 'streamed'").fetchone() == (
        "succeeded",
    )


def test_a_streamed_write_that_fails_leaves_nothing_of_its_run(con):
    paths = _random_draws([f"P{i}" for i in range(4)])
    limit = con.execute("select current_setting('memory_limit')").fetchall()
    storage.start_run(con, RunRecord.started("bad"))
    with pytest.raises(RuntimeError, match="shard 2 failed"), storage.RunWriter(con, "bad") as writer:
        writer.add_draws(_part(paths, slice(0, 2)))
        writer.add_draws(_part(paths, slice(2, 4)))
        raise RuntimeError("shard 2 failed")
    storage.fail_run(con, "bad", "RuntimeError: shard 2 failed")
    assert _count(con, "forecast_draws") == 0 and _count(con, "forecasts") == 0
    assert con.execute("select status from forecast_runs").fetchall() == [("failed",)]
    assert con.execute("select current_setting('memory_limit')").fetchall() == limit  # restored
    storage.start_run(con, RunRecord.started("unfinished"))
    with pytest.raises(RuntimeError, match="without finish"), storage.RunWriter(con, "unfinished") as w:
        w.add_draws(paths)
    assert _count(con, "forecast_draws") == 0
    with pytest.raises(ValueError, match="running"), storage.RunWriter(con, "unfinished") as w:
        w.finish(RunRecord.started("unfinished"), _forecasts(paths))  # a record not finished: refused
    with pytest.raises(RuntimeError, match="not open"):
        w.add_draws(paths)


def test_the_run_record_is_the_forecast_runs_row(con):
    """Every column of forecast_runs is a field of RunRecord and back: a new column goes in both."""
    columns = [r[0] for r in con.execute("describe forecast_runs").fetchall()]
    assert sorted(columns) == sorted(RunRecord.columns())
    record = RunRecord.started("r1", sampler="nutpie", config={"draws": 10})
    storage.start_run(con, record)
    draws = _draws()
    done = record.with_(n_products=2, timings={"fit": 1.5}, attempts=[{"attempt": 1}]).finished(False)
    storage.write_run(con, done, _forecasts(draws), draws)
    back = storage.run_record(con, "r1")
    assert back.status == "unconverged" and back.published is False and back.published_by is None
    assert back.config == {"draws": 10} and back.timings == {"fit": 1.5} and back.attempts == [{"attempt": 1}]
    assert back.finished_at is not None and back.writer_pid == record.writer_pid


def test_a_run_ends_in_one_state_whatever_order_its_facts_arrive_in():
    record = RunRecord.started("r1")
    with pytest.raises(ValueError, match="change only when the run finishes"):
        record.with_(status="succeeded")
    with pytest.raises(ValueError, match="names who published it"):
        record.finished(True)
    published = record.with_(verdict="converged").finished(True, "checks")
    assert (published.status, published.published, published.published_by) == ("succeeded", True, "checks")
    kept = record.finished(False, "checks")
    assert (kept.status, kept.published, kept.published_by) == ("unconverged", False, None)
    with pytest.raises(ValueError, match="unknown run status"):
        RunRecord("r2", status="done")
