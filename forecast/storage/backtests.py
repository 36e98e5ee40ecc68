"""Backtests in the database: started, written in one transaction, failed, read back."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

from forecast.storage.connection import insert_row, quote_ident, update_row, utc_now


def start_backtest(con: duckdb.DuckDBPyConnection, backtest_id: str, record: dict[str, Any]) -> None:
    """Record a backtest as running before any fit, so a crash leaves a trace."""
    insert_row(
        con,
        "backtest_runs",
        {"backtest_id": backtest_id, "created_at": utc_now(), "status": "running"} | record,
    )


def write_backtest(
    con: duckdb.DuckDBPyConnection,
    backtest_id: str,
    metrics: pd.DataFrame,
    pit: pd.DataFrame,
    forecasts: pd.DataFrame,
    record: dict[str, Any],
) -> None:
    """Write a backtest's metrics, PIT histograms and scored forecasts, and mark it succeeded: one
    transaction, so a reader sees all of a backtest or none of it."""
    frames = {"backtest_metrics": metrics, "backtest_pit": pit, "backtest_forecasts": forecasts}
    con.execute("begin transaction")
    try:
        for table, frame in frames.items():
            con.register("new_rows", frame)
            cols = ", ".join(quote_ident(c) for c in frame.columns)
            con.execute(
                f"insert into {table} (backtest_id, {cols}) select ?, {cols} from new_rows", [backtest_id]
            )
            con.unregister("new_rows")
        update_row(
            con,
            "backtest_runs",
            "backtest_id",
            backtest_id,
            {"status": "succeeded", **record, "finished_at": utc_now()},
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def fail_backtest(con: duckdb.DuckDBPyConnection, backtest_id: str, message: str) -> None:
    update_row(
        con,
        "backtest_runs",
        "backtest_id",
        backtest_id,
        {"status": "failed", "message": message, "finished_at": utc_now()},
    )


def read_backtest(con: duckdb.DuckDBPyConnection, backtest_id: str) -> dict[str, Any]:
    """A stored backtest: its record (JSON columns parsed) and its metrics, PIT and forecasts."""
    runs = con.execute("select * from backtest_runs where backtest_id = ?", [backtest_id]).df()
    if runs.empty:
        raise KeyError(f"no backtest '{backtest_id}' in the database")
    record = {
        k: (json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v) for k, v in runs.iloc[0].items()
    }
    out: dict[str, Any] = {"record": record}
    for table in ("metrics", "pit", "forecasts"):
        frame = con.execute(f"select * from backtest_{table} where backtest_id = ?", [backtest_id]).df()
        out[table] = frame.drop(columns="backtest_id")
    return out


def latest_backtest_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The most recent succeeded backtest, or None."""
    row = con.execute(
        "select backtest_id from backtest_runs where status = 'succeeded' order by created_at desc limit 1"
    ).fetchone()
    return row[0] if row else None
