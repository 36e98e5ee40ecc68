"""Every .sql file runs against a real database holding a fake run; the numbers match numpy."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import storage
from forecast.contract.paths import SamplePaths
from forecast.contract.run_record import RunRecord
from forecast.model.predict import summarise, zero_discontinued

SQL = Path(storage.SQL_DIR)
QUERIES = sorted((SQL / "queries").glob("*.sql"))
PRODUCTS = pd.DataFrame(
    {
        "product_id": ["A", "B", "C", "D", "E"],
        "category": ["tops", "tops", "tops", "home", "home"],
        "brand": ["k", "k", "m", "n", "n"],
        "color": ["red", "blue", "red", "red", "blue"],
    }
)
DATES = pd.date_range("2025-01-06", periods=4, freq="7D")
N_DRAWS = 400


@pytest.fixture(scope="module")
def world():
    """Products, 10 weeks of history (E is new: 2 weeks; D has none), a run with skewed draws."""
    con = storage.connect(":memory:")
    values = _fill(con)
    yield con, values
    con.close()


def _fill(con) -> np.ndarray:
    """Writes the world into ``con``; returns the run's draws."""
    con.register("p", PRODUCTS)
    con.execute("insert into products by name select * from p")
    history = pd.date_range("2024-10-28", periods=10, freq="7D")
    rows = [(d, pid, 3) for d in history for pid in "ABC"] + [(d, "E", 1) for d in history[-2:]]
    # sales that arrived for the first two forecast weeks: B sold nothing in week 1 (no row)
    rows += [(DATES[0], "A", 9), (DATES[0], "C", 0), (DATES[1], "A", 2), (DATES[1], "B", 40)]
    sales = pd.DataFrame(rows, columns=["date", "product_id", "quantity"])
    con.register("s", sales)
    con.execute(
        "insert into sales (date, product_id, quantity, price, promo, ingest_id) "
        "select date, product_id, quantity, null, false, 'test' from s"
    )
    rng = np.random.default_rng(3)
    values = rng.negative_binomial(2, 0.3, size=(N_DRAWS, len(PRODUCTS), len(DATES)))
    draws = SamplePaths(values=values, products=PRODUCTS["product_id"].to_numpy(), dates=DATES)
    record = RunRecord.started("run1", sampler="fake")
    storage.start_run(con, record)
    storage.write_run(
        con, record.with_(n_products=len(PRODUCTS)).finished(True, "checks"), summarise(draws), draws
    )
    return values


def _mask(**attrs):
    keep = np.ones(len(PRODUCTS), bool)
    for k, v in attrs.items():
        keep &= (PRODUCTS[k] == v).to_numpy()
    return keep


def _coherent(values, mask):
    """numpy: sum the draws across the selected products, then quantiles per date."""
    total = values[:, mask, :].sum(axis=1)  # (draw, date)
    return total.mean(axis=0), np.quantile(total, [0.05, 0.5, 0.95], axis=0)


def test_every_schema_file_applies_twice_on_a_fresh_database():
    con = storage.connect(":memory:")
    for file in storage.schema_files():
        con.execute(file.read_text())
    names = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    assert {
        "ingest_files",
        "sales_history",
        "stock_levels",
        "forecast_vs_actual",
        "category_forecasts",
    } <= names
    numbers = [f.name[:3] for f in storage.schema_files()]
    assert numbers == [f"{i:03d}" for i in range(1, len(numbers) + 1)], (
        "schema files must be numbered 001, 002, ..."
    )


def test_category_quantiles_come_from_summed_draws(world):
    con, values = world
    got = con.execute("select category, date, mean, p05, p50, p95 from category_forecasts order by 1, 2").df()
    for category, frame in got.groupby("category"):
        mean, (p05, p50, p95) = _coherent(values, _mask(category=category))
        np.testing.assert_allclose(frame["mean"], mean)
        np.testing.assert_allclose(frame[["p05", "p50", "p95"]].T, [p05, p50, p95])
    # not the sum of the products' quantiles
    summed = con.execute(
        "select sum(f.p95) from latest_forecasts f join products using (product_id) "
        "where category = 'tops' and date = '2025-01-06'"
    ).fetchone()[0]
    coherent = got.query("category == 'tops'")["p95"].iloc[0]
    assert coherent < summed - 1


def test_brand_color_cube_and_slices_agree_with_numpy(world):
    con, values = world
    brand = con.execute(
        "select p50 from brand_forecasts where category = 'tops' and brand = 'k' order by date"
    )
    np.testing.assert_allclose([r[0] for r in brand.fetchall()], _coherent(values, _mask(brand="k"))[1][1])
    color = con.execute("select p95 from color_forecasts where color = 'red' order by date").fetchall()
    np.testing.assert_allclose([r[0] for r in color], _coherent(values, _mask(color="red"))[1][2])
    sliced = con.execute(
        "select mean, p05 from slice_forecast(category := 'tops', color := 'red')"
    ).fetchall()
    mean, q = _coherent(values, _mask(category="tops", color="red"))
    np.testing.assert_allclose(np.array(sliced).T, [mean, q[0]])
    everything = con.execute("select p50 from slice_forecast()").fetchall()
    np.testing.assert_allclose([r[0] for r in everything], _coherent(values, _mask())[1][1])
    cube = con.execute(
        "select p50 from attribute_forecasts where all_category and all_brand and all_color order by date"
    ).fetchall()
    assert cube == everything
    pair = con.execute(
        "select p95 from attribute_forecasts where category = 'home' and color = 'blue' "
        "and all_brand and not all_category and not all_color order by date"
    ).fetchall()
    np.testing.assert_allclose(
        [r[0] for r in pair], _coherent(values, _mask(category="home", color="blue"))[1][2]
    )
    groups = con.execute(
        "select count(*) from (select distinct all_category, all_brand, all_color from attribute_forecasts)"
    )
    assert groups.fetchone()[0] == 8


def test_forecast_vs_actual(world):
    con, values = world
    got = con.execute(
        "select product_id, date::varchar as date, step, actual, error, hit_80, hit_90, p10, p90, mean "
        "from forecast_vs_actual order by 2, 1"
    ).df()
    # only the two weeks whose sales arrived; a product without a row that week sold zero
    assert sorted(got["date"].unique()) == ["2025-01-06", "2025-01-13"]
    assert len(got) == 2 * len(PRODUCTS)
    actual = got.set_index(["date", "product_id"])["actual"]
    assert actual[("2025-01-06", "A")] == 9 and actual[("2025-01-06", "B")] == 0
    assert actual[("2025-01-13", "B")] == 40 and got["step"].max() == 2
    np.testing.assert_allclose(got["error"], got["actual"] - got["mean"])
    assert (got["hit_80"] == got["actual"].between(got["p10"], got["p90"])).all()
    assert not got.query("product_id == 'B' and date == '2025-01-13'")["hit_90"].iloc[0]


@pytest.mark.parametrize("query", QUERIES, ids=lambda p: p.name)
def test_every_example_query_runs(world, query):
    con, _ = world
    frame = con.execute(query.read_text()).df()
    assert len(frame.columns) >= 2


def test_stockout_risk(world):
    con, values = world
    con.execute("insert into stock_levels values ('A', 60)")
    con.execute("set variable stockout_periods = 2")
    con.execute("set variable stock_level = 12")
    try:
        got = con.execute((SQL / "queries" / "stockout_risk.sql").read_text()).df().set_index("product_id")
    finally:
        con.execute("delete from stock_levels")
        con.execute("reset variable stockout_periods")
        con.execute("reset variable stock_level")
    demand = values[:, :, :2].sum(axis=2)  # (draw, product) over two weeks
    stock = np.where(PRODUCTS["product_id"] == "A", 60, 12)
    prob = (demand > stock).mean(axis=0)
    expected = {pid: p for pid, p in zip(PRODUCTS["product_id"], prob, strict=True) if p > 0.05}
    assert set(got.index) == set(expected) and len(expected) >= 1 and "A" not in expected
    for pid, p in expected.items():
        assert got.loc[pid, "stockout_probability"] == pytest.approx(p)


def test_new_products_by_brand(world):
    con, values = world
    got = con.execute((SQL / "queries" / "new_products_by_brand.sql").read_text()).df()
    # D (no sales) and E (2 weeks) are new; both are brand n
    assert got[["category", "brand", "new_products"]].values.tolist() == [["home", "n", 2]]
    total = values[:, _mask(brand="n"), :].sum(axis=(1, 2))
    assert got["expected_units"].iloc[0] == pytest.approx(total.mean())
    assert got["p90"].iloc[0] == pytest.approx(np.quantile(total, 0.9))


def test_accuracy_last_month(world):
    con, _ = world
    got = con.execute((SQL / "queries" / "accuracy_last_month.sql").read_text()).df()
    checked = con.execute("select actual, mean, hit_80 from forecast_vs_actual").df()
    assert got["run_id"].tolist() == ["run1"]
    assert got["forecasts_checked"].iloc[0] == 10
    assert got["mae"].iloc[0] == pytest.approx((checked["actual"] - checked["mean"]).abs().mean())
    assert got["bias"].iloc[0] == pytest.approx((checked["actual"] - checked["mean"]).mean())
    assert got["coverage_80"].iloc[0] == pytest.approx(checked["hit_80"].mean())
    con.execute("update forecast_runs set created_at = created_at - interval 40 day")
    try:
        assert con.execute((SQL / "queries" / "accuracy_last_month.sql").read_text()).df().empty
    finally:
        con.execute("update forecast_runs set created_at = created_at + interval 40 day")


def test_discontinued_products():
    """A ends inside the horizon, B before it, C is on sale: the latest run forecasts 0 after each
    end date, and the query says so next to the last sale."""
    con = storage.connect(":memory:")
    products = PRODUCTS.iloc[:3].assign(end_date=pd.to_datetime(["2025-01-13", "2024-12-30", None]))
    con.register("p", products)
    con.execute("insert into products by name select * from p")
    history = pd.date_range("2024-10-28", periods=10, freq="7D")
    sales = pd.DataFrame(
        [
            (d, pid, 0 if (pid == "B" and d > pd.Timestamp("2024-12-16")) else 2)
            for d in history
            for pid in "ABC"
        ],
        columns=["date", "product_id", "quantity"],
    )
    con.register("s", sales)
    con.execute(
        "insert into sales (date, product_id, quantity, price, promo, ingest_id) "
        "select date, product_id, quantity, null, false, 'test' from s"
    )
    rng = np.random.default_rng(5)
    values = rng.negative_binomial(2, 0.3, size=(N_DRAWS, 3, len(DATES))) + 1
    off = DATES.values[None, :] > products["end_date"].fillna(pd.Timestamp.max).values[:, None]
    values = zero_discontinued(values, off)
    draws = SamplePaths(values=values, products=products["product_id"].to_numpy(), dates=DATES)
    record = RunRecord.started("run1", sampler="fake")
    storage.start_run(con, record)
    storage.write_run(con, record.with_(n_products=3).finished(True, "checks"), summarise(draws), draws)

    got = con.execute((SQL / "queries" / "discontinued_products.sql").read_text()).df()
    assert got["product_id"].tolist() == ["B", "A"]  # by end date; C is on sale
    assert got["last_sale"].dt.strftime("%Y-%m-%d").tolist() == ["2024-12-16", "2024-12-30"]
    assert got["periods"].tolist() == [4, 4] and got["periods_after_end"].tolist() == [4, 2]
    assert (got["units_after_end"] == 0).all() and (got["p95_after_end"] == 0).all()
    a = got.set_index("product_id").loc["A"]
    assert (
        a["expected_units"] == pytest.approx(values[:, 0, :2].sum(axis=1).mean()) and a["expected_units"] > 0
    )
    # the rows for the periods after the end date exist, with zeros, and the totals are coherent
    zeros = con.execute(
        "select count(*), max(mean), max(p95) from forecasts where product_id = 'B'"
    ).fetchone()
    assert zeros == (4, 0.0, 0.0)
    drawn = con.execute(
        "select count(*), max(quantity) from forecast_draws where product_id = 'A' and date > '2025-01-13'"
    ).fetchone()
    assert drawn == (2 * N_DRAWS, 0)
    con.close()


def test_products_with_stockouts():
    """A ran out twice (one period fully, one half), B and C never did: the query lists A alone,
    with its stock-outs next to the latest run's forecast."""
    con = storage.connect(":memory:")
    con.register("p", PRODUCTS.iloc[:3])
    con.execute("insert into products by name select * from p")
    history = pd.date_range("2024-10-28", periods=10, freq="7D")
    sales = pd.DataFrame(
        [(d, pid, 2, 1.0) for d in history for pid in "ABC"], columns=["date", "product_id", "quantity", "a"]
    )
    sales.loc[(sales["product_id"] == "A") & (sales["date"] == history[3]), ["quantity", "a"]] = (0, 0.0)
    sales.loc[(sales["product_id"] == "A") & (sales["date"] == history[6]), ["quantity", "a"]] = (1, 0.5)
    con.register("s", sales)
    con.execute(
        "insert into sales (date, product_id, quantity, promo, ingest_id, availability) "
        "select date, product_id, quantity, false, 'test', a from s"
    )
    values = np.random.default_rng(2).negative_binomial(2, 0.3, size=(N_DRAWS, 3, len(DATES)))
    draws = SamplePaths(values=values, products=np.array(["A", "B", "C"]), dates=DATES)
    forecasts = summarise(draws)
    forecasts["had_stockouts"] = forecasts["product_id"] == "A"
    record = RunRecord.started("run1", sampler="fake").with_(n_products=3, censored_rows=2)
    storage.start_run(con, record)
    storage.write_run(con, record.finished(True, "checks"), forecasts, draws)
    assert con.execute("select censored_rows from forecast_runs").fetchone() == (2,)

    got = con.execute((SQL / "queries" / "products_with_stockouts.sql").read_text()).df()
    assert got["product_id"].tolist() == ["A"]
    a = got.iloc[0]
    assert (a["periods_out_of_stock"], a["units_sold_then"], a["lowest_availability"]) == (2, 1, 0.0)
    assert a["last_stockout"] == history[6] and a["periods"] == len(DATES)
    assert a["expected_units"] == pytest.approx(values[:, 0].sum(axis=1).mean())
    con.close()


def test_every_example_query_runs_through_the_command_line_as_the_readme_says(tmp_path):
    """``demand-forecast sql --file sql/queries/X.sql`` prints each query's rows (a LIST column such
    as level_totals' ``parents`` included) and exits 0."""
    from typer.testing import CliRunner

    from flows.cli import app

    db = tmp_path / "d.duckdb"
    con = storage.connect(db)
    _fill(con)
    con.close()
    for query in QUERIES:
        result = CliRunner().invoke(app, ["sql", "--file", str(query), "--db", str(db)])
        assert result.exit_code == 0, f"{query.name}: {result.output}"
        assert "row(s)" in result.output and "Traceback" not in result.output, query.name
    result = CliRunner().invoke(
        app, ["sql", "--file", str(SQL / "queries" / "level_totals.sql"), "--db", str(db)]
    )
    assert "[tops]" in result.output  # a brand's parents, printed as a list
