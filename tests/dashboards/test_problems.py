"""What the dashboards say when the database cannot show a page, and the command that serves them.

No model fit here: these databases are missing, foreign, empty or locked.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import duckdb
import pytest

from dashboards import data
from dashboards.screenshots import serve
from flows.cli import dashboard_command
from forecast import storage
from forecast.contract.paths import SamplePaths
from forecast.contract.run_record import RunRecord
from tests.dashboards.conftest import PAGES, open_page


@pytest.mark.parametrize("page", PAGES)
def test_missing_database_says_what_to_run(monkeypatch, tmp_path, page):
    at = open_page(monkeypatch, str(tmp_path / "none.duckdb"), page)
    assert "No database at" in at.warning[0].value and "demand-forecast demo" in at.warning[0].value
    assert not (tmp_path / "none.duckdb").exists()  # read-only: nothing created


def test_database_without_tables_says_so(monkeypatch, tmp_path):
    db = str(tmp_path / "other.duckdb")
    with duckdb.connect(db) as con:
        con.execute("create table unrelated (x int)")
    for page in PAGES:
        at = open_page(monkeypatch, db, page)
        assert "lacks a table" in at.warning[0].value, page


def test_database_without_runs_or_backtests(monkeypatch, tmp_path):
    db = str(tmp_path / "empty.duckdb")
    storage.connect(db).close()
    for page in ["explorer", "aggregates", "new_products"]:
        assert "No published forecast run" in open_page(monkeypatch, db, page).warning[0].value
    assert "No forecast run" in open_page(monkeypatch, db, "model_health").warning[0].value
    assert "demand-forecast backtest" in open_page(monkeypatch, db, "accuracy").info[0].value


def test_a_database_with_only_an_unconverged_run_says_how_to_publish_it(monkeypatch, tmp_path):
    import numpy as np
    import pandas as pd

    from forecast.model.predict import summarise

    db = str(tmp_path / "unconverged.duckdb")
    with storage.connect(db) as con:
        dates = pd.date_range("2025-01-06", periods=2, freq="7D")
        draws = SamplePaths(values=np.ones((3, 1, 2), dtype=int), products=np.array(["A"]), dates=dates)
        record = RunRecord.started("r-1", sampler="nutpie")
        storage.start_run(con, record)
        record = record.with_(problems="ESS 210 < 400 on sigma_brand").finished(False)
        storage.write_run(con, record, summarise(draws), draws)
    for page in ["explorer", "aggregates", "new_products"]:
        message = open_page(monkeypatch, db, page).warning[0].value
        assert "No published forecast run" in message and "1 run(s) are stored unconverged" in message
        assert f"demand-forecast publish r-1 --db {db}" in message and "ESS 210" in message


def test_a_writer_holding_the_file_gets_a_clear_message_then_the_page_reads(monkeypatch, tmp_path):
    db = str(tmp_path / "locked.duckdb")
    storage.connect(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({db!r}); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(data, "LOCK_RETRIES", 2)
        at = open_page(monkeypatch, db, "explorer")
        assert "being written by another process" in at.warning[0].value
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.2)
    at.run()
    assert "No published forecast run" in at.warning[0].value  # read once the writer let go


def test_db_path_from_the_command_line_then_the_environment(monkeypatch):
    assert data.db_path(["--db", "a.duckdb"]) == "a.duckdb"
    assert data.db_path(["--db=b.duckdb"]) == "b.duckdb"
    monkeypatch.setenv("DEMAND_DB", "c.duckdb")
    assert data.db_path([]) == "c.duckdb"


def test_the_command_serves_the_app_without_telemetry(tmp_path):
    db = str(tmp_path / "none.duckdb")
    cmd = dashboard_command(db, 8765)
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    assert cmd[-2:] == ["--db", db] and cmd[4].endswith("dashboards/app.py")
    with serve(db) as url, urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200 and b'<div id="root">' in reply.read()
