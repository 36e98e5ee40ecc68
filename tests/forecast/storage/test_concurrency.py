"""Readers and the writer as real processes: DuckDB's single-writer file lock, retries, kills."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from forecast import storage
from forecast.contract.run_record import RunRecord

ROOT = Path(__file__).resolve().parents[3]

# Writes run `run_id` with fake draws for `n_products` products (13 weeks, `n_draws` paths).
WRITER = """
import sys, numpy as np, pandas as pd
from forecast import storage
from forecast.contract.paths import SamplePaths
from forecast.contract.run_record import RunRecord
from forecast.model.predict import summarise

def run(db, run_id, n_products, n_draws, hold=False):
    rng = np.random.default_rng(len(run_id))
    draws = SamplePaths(
        values=rng.poisson(5.0, size=(n_draws, n_products, 13)),
        products=np.array([f"P{i:05d}" for i in range(n_products)]),
        dates=pd.date_range("2025-01-06", periods=13, freq="7D"),
    )
    forecasts = summarise(draws)
    con = storage.connect(db)
    record = RunRecord.started(run_id, sampler="fake")
    storage.start_run(con, record)
    con.close()
    if hold:
        # stop inside write_run's transaction, after forecasts and draws are inserted
        import forecast.storage.runs as run_store
        def stop(con, rid, fields):
            print("inside the transaction", flush=True)
            import time; time.sleep(600)
        run_store.update_run = stop
    con = storage.connect(db)
    storage.write_run(con, record.with_(n_products=n_products).finished(True, "checks"), forecasts, draws)
    con.close()
    print("written", flush=True)

def stream(db, run_id, n_shards, ready):
    # a sharded run's write: shards' draws added to the open transaction, then it waits for the rest
    import time
    con = storage.connect(db)
    record = RunRecord.started(run_id, sampler="fake")
    storage.start_run(con, record)
    rng = np.random.default_rng(1)
    with storage.RunWriter(con, run_id) as writer:
        for k in range(n_shards):
            writer.add_draws(SamplePaths(
                values=rng.poisson(5.0, size=(200, 300, 13)),
                products=np.array([f"S{k}-{i:05d}" for i in range(300)]),
                dates=pd.date_range("2025-01-06", periods=13, freq="7D"),
            ))
        open(ready, "w").close()
        time.sleep(600)
"""


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", WRITER + textwrap.dedent(code)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _first_run(db: Path) -> None:
    subprocess.run(_python(f"run({str(db)!r}, 'r0', 40, 50)"), check=True, env=_env(), cwd=ROOT)


def test_a_reader_never_blocks_the_writer_nor_sees_half_a_run(tmp_path):
    db = tmp_path / "d.duckdb"
    _first_run(db)
    reader_code = f"""
        import json, time, duckdb
        from forecast import storage
        seen, start = [], time.time()
        while time.time() - start < 90:
            with storage.connect_read_only({str(db)!r}) as con:
                rows = con.execute(
                    "select run_id, count(*) from latest_forecasts group by run_id"
                ).fetchall()
            seen.append(rows)
            if rows and rows[0][0] == 'r1' and sum(r == rows for r in seen) >= 3:
                break
            time.sleep(0.005)
        print(json.dumps(seen))
    """
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(reader_code)], stdout=subprocess.PIPE, env=_env(), cwd=ROOT
    )
    writer = subprocess.run(
        _python(f"run({str(db)!r}, 'r1', 400, 200)"), capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    out, _ = reader.communicate(timeout=120)
    assert writer.returncode == 0, writer.stderr
    assert reader.returncode == 0
    seen = json.loads(out)
    complete = {"r0": 40 * 13, "r1": 400 * 13}
    assert len(seen) > 3
    for rows in seen:  # one run at a time, always whole
        assert len(rows) == 1 and rows[0][1] == complete[rows[0][0]], rows
    assert seen[0][0][0] == "r0" and seen[-1][0][0] == "r1"


def test_a_writer_killed_mid_write_leaves_the_previous_run_intact(tmp_path):
    db = tmp_path / "d.duckdb"
    _first_run(db)
    writer = subprocess.Popen(
        _python(f"run({str(db)!r}, 'r1', 500, 300, hold=True)"),
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    try:
        assert writer.stdout.readline().strip() == "inside the transaction"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    with storage.connect_read_only(db) as con:
        assert con.execute("select distinct run_id, count(*) over () from latest_forecasts").fetchall() == [
            ("r0", 40 * 13)
        ]
    _killed_run_left_nothing(db)
    with storage.connect(db) as con:
        assert storage.mark_stale_runs_failed(con) == []


def _killed_run_left_nothing(db) -> None:
    """Run r1's writer was killed: none of its rows, r0 whole, r1 still `running` until the next
    writer marks it failed ('interrupted')."""
    with storage.connect_read_only(db) as con:
        assert (
            con.execute("select count(*) from forecast_draws where run_id = 'r0'").fetchone()[0]
            == 40 * 13 * 50
        )
        for table in ("forecasts", "forecast_draws"):
            assert con.execute(f"select count(*) from {table} where run_id = 'r1'").fetchone()[0] == 0
        assert con.execute("select status from forecast_runs where run_id = 'r1'").fetchone()[0] == "running"
    con = storage.connect(db)
    assert storage.mark_stale_runs_failed(con) == ["r1"]
    assert con.execute("select status, message from forecast_runs where run_id = 'r1'").fetchone() == (
        "failed",
        "interrupted",
    )
    con.close()


def test_a_live_running_run_is_not_marked_failed(tmp_path):
    con = storage.connect(tmp_path / "d.duckdb")
    storage.start_run(con, RunRecord.started("mine"))
    assert storage.mark_stale_runs_failed(con) == []
    con.execute("update forecast_runs set writer_pid = 2147483000 where run_id = 'mine'")
    storage.start_run(con, RunRecord.started("next"))  # a new run sweeps the dead one
    assert con.execute("select status from forecast_runs where run_id = 'mine'").fetchone()[0] == "failed"
    con.close()


def test_a_sharded_writer_killed_between_shards_leaves_no_partial_run(tmp_path):
    """kill -9 while a sharded run's transaction holds some shards' draws (``RunWriter``): none of
    them is in the database afterwards, the previous run is whole, and the next writer marks the
    killed run failed."""
    db, ready = tmp_path / "d.duckdb", tmp_path / "ready"
    _first_run(db)
    writer = subprocess.Popen(_python(f"stream({str(db)!r}, 'r1', 3, {str(ready)!r})"), env=_env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the writer never added its shards' draws"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    _killed_run_left_nothing(db)
