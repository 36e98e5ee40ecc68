from typer.testing import CliRunner

from flows.cli import app
from forecast import storage

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
