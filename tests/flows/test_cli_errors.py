"""Every expected error through the real command line, in a process of its own: one ``error:`` line
(and at most one ``hint:``) on stderr, a non-zero exit code, no traceback, no leak report at exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecast import storage

SALES = "date,product_id,quantity\n2026-01-05,P1,3\n2026-01-12,P1,4\n"
PRODUCTS = "product_id,category,brand,color\nP1,tops,a,red\n"


def _cli(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("demand-forecast")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "flows.cli"]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # as a user without a server
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, env=env, input=stdin, timeout=300
    )


def _one_error(result: subprocess.CompletedProcess, says: str, progress_lines: int = 0) -> None:
    """``says`` in the one error line; nothing else on stderr but a hint (and ``progress_lines``)."""
    assert result.returncode != 0, result
    both = result.stdout + result.stderr
    assert "Traceback" not in both and "nanobind" not in both and "leaked" not in both, both
    lines = result.stderr.strip().splitlines()[progress_lines:]
    assert lines and lines[0].startswith("error: ") and says in lines[0], result.stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), result.stderr
    assert result.stdout == ""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "sales.csv").write_text(SALES)
    (tmp_path / "products.csv").write_text(PRODUCTS)
    return tmp_path


def _ingest(folder: Path, sales: str = "sales.csv", products: str = "products.csv", *more: str):
    return _cli(
        "ingest", "--sales", str(folder / sales), "--products", str(folder / products),
        "--db", str(folder / "d.duckdb"), *more,
    )  # fmt: skip


def test_a_missing_column(files):
    (files / "sales.csv").write_text("date,product_id,price\n2026-01-05,P1,3.0\n")
    _one_error(
        _ingest(files), "sales file " + str(files / "sales.csv") + " lacks required column(s) ['quantity']"
    )
    assert not (files / "d.duckdb").exists()


def test_an_empty_file(files):
    (files / "sales.csv").write_text("")
    _one_error(_ingest(files), f"file is empty: {files / 'sales.csv'}")


def test_a_missing_file(files):
    _one_error(_ingest(files, sales="nowhere.csv"), f"file not found: {files / 'nowhere.csv'}")


def test_a_header_only_file(files):
    (files / "products.csv").write_text("product_id,category,brand,color\n")
    _one_error(_ingest(files), f"products file {files / 'products.csv'} has a header but no rows")


def test_a_wrong_delimiter(files):
    _one_error(_ingest(files, "sales.csv", "products.csv", "--delimiter", ";"), "reads as one column")
    _one_error(
        _ingest(files, "sales.csv", "products.csv", "--delimiter", "ab"), "a delimiter is one character"
    )


def test_an_unquoted_delimiter_in_a_value(files):
    (files / "sales.csv").write_text("date,product_id,quantity\n2026-01-05,P1,3,5\n")
    _one_error(_ingest(files), "more fields than its header")


def test_a_missing_and_an_empty_database(tmp_path):
    _one_error(_cli("forecast", "--db", str(tmp_path / "none.duckdb")), "no database at")
    storage.connect(tmp_path / "empty.duckdb").close()
    _one_error(_cli("forecast", "--db", str(tmp_path / "empty.duckdb")), "the database has no products")
    _one_error(_cli("sql", "select 1", "--db", str(tmp_path / "none.duckdb")), "no database at")


@pytest.fixture
def ingested(files):
    with storage.connect(files / "d.duckdb") as con:
        storage.ingest(con, files / "sales.csv", files / "products.csv")
    return files / "d.duckdb"


def test_an_unknown_hierarchy_column_and_sampler(ingested):
    db = str(ingested)
    _one_error(_cli("forecast", "--db", db, "--nested", "category,region"), "no column(s) ['region']")
    _one_error(_cli("forecast", "--db", db, "--sampler", "gibbs"), "unknown sampler 'gibbs'")
    _one_error(_cli("backtest", "--db", db, "--likelihood", "poisson"), "unknown likelihood 'poisson'")
    sharded = _cli(
        "forecast", "--db", db, "--task-runner", "dask", "--shared-shocks", "on", "--stage2", "nuts"
    )
    _one_error(sharded, "shared_shocks=on in a sharded run needs stage 2 by conditional sampling")


def test_an_attribute_column_missing_from_the_products_file(files):
    (files / "products.csv").write_text("product_id,category,color\nP1,tops,red\n")
    result = _ingest(files)
    assert result.returncode == 0, result.stderr
    warning = result.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: ") and "['brand']" in warning[0]
    _one_error(_cli("forecast", "--db", str(files / "d.duckdb")), "no product has a value for ['brand']")


def test_usage_errors_are_the_same_two_lines(ingested):
    result = _cli("forecast", "--db", str(ingested), "--horizon", "soon")
    _one_error(result, "Invalid value for '--horizon'")
    assert result.returncode == 2 and "demand-forecast forecast --help" in result.stderr
    _one_error(_cli("forecast", "--no-such-option"), "No such option")
    _one_error(_cli("sql", "--db", str(ingested)), "give a query, or --file PATH")


def test_an_error_inside_a_flow_is_one_line_without_leaks(files):
    """The pipeline's ingest fails inside its Prefect task, which held a DuckDB connection: once the
    exception's frames outlived the run, DuckDB's bindings printed ~40 'leaked' lines at exit."""
    inbox = files / "inbox"
    inbox.mkdir()
    (inbox / "sales1.csv").write_text("date,product_id,quantity\n")
    (inbox / "products.csv").write_text(PRODUCTS)
    (files / "p.toml").write_text('db = "p.duckdb"\n[inbox]\nfolder = "inbox"\n')
    result = _cli("pipeline", "--config", str(files / "p.toml"))
    _one_error(result, f"sales file {inbox / 'sales1.csv'} has a header but no rows", progress_lines=1)
    assert result.stderr.count("has a header but no rows") == 1
    verbose = _cli("--verbose", "pipeline", "--config", str(files / "p.toml"))  # Prefect's log lines too
    assert verbose.returncode == 1 and "Flow run" in verbose.stderr and "Task run" in verbose.stderr
    assert [line for line in verbose.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: sales file {inbox / 'sales1.csv'} has a header but no rows"
    ]


def test_an_unexpected_error_keeps_its_traceback(files, monkeypatch):
    """A bug is not an expected error: it is not turned into one line, its traceback stays."""
    from typer.testing import CliRunner

    from flows.cli import app

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(storage, "ingest", broken)
    args = ["ingest", "--sales", str(files / "sales.csv"), "--products", str(files / "products.csv")]
    result = CliRunner().invoke(app, [*args, "--db", str(files / "d.duckdb")])
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    assert "error:" not in result.output


def test_an_availability_over_1_names_the_file_and_row_and_loads_nothing(files):
    (files / "sales.csv").write_text(
        SALES.replace("quantity\n", "quantity,availability\n")
        .replace(",3\n", ",3,1\n")
        .replace(",4\n", ",4,1.5\n")
    )
    result = _ingest(files)
    _one_error(
        result, f"sales file {files / 'sales.csv'} row 2 (product 'P1', date 2026-01-12): availability '1.5'"
    )
    with storage.connect_read_only(files / "d.duckdb") as con:
        assert con.execute("select count(*) from sales").fetchone()[0] == 0
        assert con.execute("select count(*) from products").fetchone()[0] == 0
