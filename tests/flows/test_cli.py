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
    for option in ("--db", "--horizon", "--nested", "--crossed", "--sampler", "--seed"):
        assert option in result.output
