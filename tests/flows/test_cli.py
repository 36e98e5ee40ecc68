import numpy as np
import pandas as pd
from typer.testing import CliRunner

from flows.cli import app
from forecast import storage
from forecast.contract.paths import SamplePaths
from forecast.contract.run_record import RunRecord

runner = CliRunner()


def test_sql_prints_a_table(tmp_path):
    db = tmp_path / "d.duckdb"
    con = storage.connect(db)
    con.execute("insert into products (product_id, category) values ('A', 'tops'), ('B', 'home')")
    con.close()
    result = runner.invoke(
        app, ["sql", "select product_id, category from products order by 1", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert "tops" in result.output and "home" in result.output and "2 row(s)" in result.output


def test_sql_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["sql", "select 1", "--db", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 1
    assert "no database at" in result.output
    db = tmp_path / "d.duckdb"
    storage.connect(db).close()
    result = runner.invoke(app, ["sql", "select * from nowhere", "--db", str(db)])
    assert result.exit_code == 1
    assert "error:" in result.output and "nowhere" in result.output


def test_commands_are_the_documented_ones():
    result = runner.invoke(app, ["--help"])
    for command in ("demo", "ingest", "forecast", "sql"):
        assert command in result.output
    result = runner.invoke(app, ["forecast", "--help"])
    for option in ("--db", "--horizon", "--nested", "--crossed", "--sampler", "--seed", "--target-accept"):
        assert option in result.output


def _db_with_products(tmp_path):
    db = tmp_path / "d.duckdb"
    con = storage.connect(db)
    con.execute("insert into products (product_id, category) values ('A', 'tops'), ('B', 'home')")
    con.close()
    return db


def test_sql_writes_csv_parquet_and_json(tmp_path):
    import json

    import pandas as pd

    db = _db_with_products(tmp_path)
    query = "select product_id, category from products order by 1;"
    for name in ("out.csv", "out.parquet", "out.json"):
        out = tmp_path / name
        result = runner.invoke(app, ["sql", query, "--db", str(db), "--output", str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote 2 row(s) to {out}" in result.output
    assert pd.read_csv(tmp_path / "out.csv").values.tolist() == [["A", "tops"], ["B", "home"]]
    assert pd.read_parquet(tmp_path / "out.parquet")["category"].tolist() == ["tops", "home"]
    assert json.loads((tmp_path / "out.json").read_text())[1] == {"product_id": "B", "category": "home"}
    result = runner.invoke(app, ["sql", query, "--db", str(db), "--output", str(tmp_path / "out.xlsx")])
    assert result.exit_code == 1 and "cannot write '.xlsx'" in result.output


def test_ingest_map_option_renames_columns(tmp_path, prefect_harness):
    sales, products = tmp_path / "s.csv", tmp_path / "p.csv"
    sales.write_text("day,sku,units\n2024-01-01,A,3\n2024-01-08,A,x\n")
    products.write_text("sku,category,brand,color\nA,tops,k,red\n")
    db = tmp_path / "d.duckdb"
    args = ["ingest", "--sales", str(sales), "--products", str(products), "--db", str(db)]
    result = runner.invoke(app, [*args, "--map", "date=day,product_id=sku,quantity=units"])
    assert result.exit_code == 0, result.output
    assert "read 2 = loaded 1 + rejected 1" in result.output
    result = runner.invoke(app, [*args, "--map", "date"])
    assert result.exit_code == 1 and "contract=file" in result.output


def test_parse_map():
    from flows.cli import parse_map

    assert parse_map("date=day, product_id=sku") == {"day": "date", "sku": "product_id"}
    assert parse_map(None) == {}


def _db_with_an_unconverged_run(tmp_path, run_id="r-unconverged"):
    """A database holding a published run and a newer one stored unconverged, as a failed fit leaves it."""
    from forecast.model.predict import summarise

    db = tmp_path / "d.duckdb"
    con = storage.connect(db)
    dates = pd.date_range("2025-01-06", periods=2, freq="7D")
    draws = SamplePaths(values=np.ones((3, 1, 2), dtype=int), products=np.array(["A"]), dates=dates)
    for rid, publish in (("r-old", True), (run_id, False)):
        record = RunRecord.started(rid, sampler="nutpie")
        storage.start_run(con, record)
        record = record.with_(problems="ESS 210 < 400 on sigma_brand").finished(publish, "checks")
        storage.write_run(con, record, summarise(draws), draws)
    con.close()
    return db


def test_publish_puts_a_stored_unconverged_run_live_as_a_manual_override(tmp_path):
    db = _db_with_an_unconverged_run(tmp_path)
    result = runner.invoke(app, ["publish", "r-unconverged", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "latest_forecasts now shows this run" in result.output
    with storage.connect_read_only(db) as con:
        run = con.execute(
            "select status, published, published_by, message from forecast_runs where run_id = 'r-unconverged'"
        ).fetchone()
        latest = con.execute("select run_id from latest_run").fetchone()[0]
    assert run[:3] == ("succeeded", True, "manual") and "published by hand" in run[3] and "ESS 210" in run[3]
    assert latest == "r-unconverged"


def test_publish_refuses_what_it_cannot_publish_in_one_line(tmp_path):
    db = _db_with_an_unconverged_run(tmp_path)
    for run_id, says in (("r-old", "already published"), ("nope", "no run 'nope'")):
        result = runner.invoke(app, ["publish", run_id, "--db", str(db)])
        assert result.exit_code == 1 and says in result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    with storage.connect_read_only(db) as con:
        assert con.execute("select run_id from latest_run").fetchone()[0] == "r-old"  # nothing changed


def test_ingest_rejects_a_sales_file_without_its_quantity_before_any_flow_starts(tmp_path, monkeypatch):
    """A missing column is one error line, found from the header alone: no flow, no database."""
    import flows.ingest

    def no_flow(*args, **kwargs):
        raise AssertionError("the flow started for a file its header already rules out")

    monkeypatch.setattr(flows.ingest, "ingest_flow", no_flow)
    (tmp_path / "sales.csv").write_text("date,product_id,price\n2026-01-05,P1,3.0\n")
    (tmp_path / "products.csv").write_text("product_id,category,brand,color\nP1,tops,a,red\n")
    db = tmp_path / "d.duckdb"
    result = runner.invoke(
        app,
        ["ingest", "--sales", str(tmp_path / "sales.csv"), "--products", str(tmp_path / "products.csv"),
         "--db", str(db)],
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "lacks required column(s) ['quantity']" in lines[0]
    assert not db.exists()


def test_sql_runs_query_files_with_leading_comments_and_stdin(tmp_path):
    db = _db_with_products(tmp_path)
    query = "-- the products\nset variable wanted = 'tops';\nselect product_id from products\nwhere category = getvariable('wanted'); -- end\n"
    (tmp_path / "q.sql").write_text(query)
    for args, stdin in ((["--file", str(tmp_path / "q.sql")], None), (["-"], query), ([query], None)):
        result = runner.invoke(app, ["sql", *args, "--db", str(db)], input=stdin)
        assert result.exit_code == 0, result.output
        assert "A" in result.output and "1 row(s)" in result.output
    result = runner.invoke(
        app, ["sql", "--file", str(tmp_path / "q.sql"), "--db", str(db), "-o", str(tmp_path / "q.csv")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "q.csv").read_text().splitlines() == ["product_id", "A"]


def test_sql_prints_dates_as_dates_and_piped_rows_whole(tmp_path):
    db = _db_with_products(tmp_path)
    long = "x" * 150
    result = runner.invoke(
        app,
        [
            "sql",
            f"select date '2026-11-02' as d, timestamp '2026-11-02 10:30:00' as t, '{long}' as s",
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2026-11-02 " in result.output and "2026-11-02 00:00:00" not in result.output
    assert "2026-11-02 10:30:00" in result.output
    assert any(long in line for line in result.output.splitlines())  # not cut or wrapped at 80 columns


def test_help_shows_every_default_and_whole_option_names():
    result = runner.invoke(app, ["forecast", "--help"], terminal_width=80)
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # help wraps long lines
    for shown in (
        "[default: nutpie]",
        "[default: category,brand]",
        "[default: 1000]",
        "[default: 0.95 under",
        "--publish-unconverged",
        "--stage1-products",
        "--attempt-budget",
    ):
        assert shown in text, shown
