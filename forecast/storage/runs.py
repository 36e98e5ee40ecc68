"""Forecast runs in the database: started, written in one transaction, published or failed, and the
queries a scheduler asks of them."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from forecast.contract.paths import SamplePaths
from forecast.contract.quantiles import QUANTILE_COLUMNS
from forecast.contract.run_record import RunRecord
from forecast.contract.schema import (
    DATE,
    PRODUCT,
)
from forecast.storage.connection import cap_memory_limit, insert_row, quote_ident, update_row, utc_now


def start_run(con: duckdb.DuckDBPyConnection, record: RunRecord) -> None:
    """Record a run as running before any work, so a crash leaves a trace.

    The record names the writing process (pid, host, ``RunRecord.started``); runs whose writer is
    gone are first marked failed (see ``mark_stale_runs_failed``).
    """
    if record.status != "running":
        raise ValueError(f"run {record.run_id} starts as running, not {record.status}")
    mark_stale_runs_failed(con)
    insert_row(con, "forecast_runs", record.as_row())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def mark_stale_runs_failed(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Mark ``running`` runs whose writer process is gone as ``failed`` ('interrupted').

    A run killed mid-write (SIGKILL, power loss) never reached ``fail_run``; its transaction rolled
    back, so it has no forecasts, but its record still says ``running``. Only runs written from this
    host can be checked (by pid); runs without a recorded writer count as gone.

    Returns
    -------
    list[str]
        The run ids marked failed.
    """
    host = socket.gethostname()
    stale = [
        run_id
        for run_id, pid, writer_host in con.execute(
            "select run_id, writer_pid, writer_host from forecast_runs where status = 'running' order by run_id"
        ).fetchall()
        if pid is None or (writer_host == host and not _alive(pid))
    ]
    for run_id in stale:
        fail_run(con, run_id, "interrupted")
    return stale


# DuckDB's memory limit while a run is written: past it, the join of a large run's draws spills to
# DuckDB's temporary directory instead of growing the process (benchmarks/README.md, "large catalogs").
WRITE_MEMORY_LIMIT = "2GiB"
# Draw rows built and inserted at a time (16 bytes a row in pandas): a shard's or a catalog's sample
# paths go in by blocks of whole products, so the process holds the paths plus one block's rows.
DRAW_CHUNK_ROWS = 4_000_000


class RunWriter:
    """One run's results written in one transaction on ``con``, its sample paths as they come::

        with RunWriter(con, run_id) as writer:
            writer.add_draws(paths)  # any number of times: e.g. each shard's paths as it finishes
            writer.finish(record, forecasts, tables)  # the rest and the finished record: commit

    ``add_draws`` inserts into ``forecast_draws`` product by product (``SamplePaths.frame``'s
    order), a block of whole products at a time (``DRAW_CHUNK_ROWS``), so the caller may drop the
    paths once it returns. ``finish`` writes the per-run ``tables`` (``fit_diagnostics``,
    ``product_effects``), the forecasts and the record (``RunRecord.finished``), then commits.
    Leaving the block by an exception, or without ``finish``, rolls the whole run back: nothing of
    it is in ``forecast_draws`` or ``forecasts`` (a killed process's transaction never commits
    either). DuckDB's memory limit is capped at ``WRITE_MEMORY_LIMIT`` meanwhile.

    The connection is held, and the database locked for other processes, until the block ends.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        self.con = con
        self.run_id = run_id
        self.draw_rows = 0  # rows added to forecast_draws so far
        self._open = False
        self._committed = False
        self._restore_memory_limit: Callable[[], None] = lambda: None

    def __enter__(self) -> RunWriter:
        if self._open or self._committed:
            raise RuntimeError(f"the writer of run {self.run_id} was used already")
        self._restore_memory_limit = cap_memory_limit(self.con, WRITE_MEMORY_LIMIT)
        try:
            self.con.execute("begin transaction")
        except BaseException:
            self._restore_memory_limit()
            raise
        self._open = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._open:
                self._open = False
                try:
                    self.con.execute("rollback")
                except duckdb.Error:
                    if exc_type is None:
                        raise
        finally:
            self._restore_memory_limit()
        if exc_type is None and not self._committed:
            raise RuntimeError(f"run {self.run_id}'s write ended without finish(): rolled back")

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError(f"the writer of run {self.run_id} is not open: use it in a with block")

    def add_draws(self, paths: SamplePaths) -> int:
        """Insert ``paths`` into ``forecast_draws`` (in the open transaction); returns the rows."""
        self._check_open()
        n_draw, n_prod, n_time = paths.values.shape
        step = max(1, DRAW_CHUNK_ROWS // max(1, n_draw * n_time))
        self.con.register("draw_dates", pd.DataFrame({"t": np.arange(n_time), DATE: paths.dates}))
        try:
            for start in range(0, n_prod, step):
                block = slice(start, start + step)
                chunk = SamplePaths(paths.values[:, block], paths.products[block], paths.dates)
                self.con.register(
                    "draw_products",
                    pd.DataFrame({"p": np.arange(len(chunk.products)), PRODUCT: chunk.products}),
                )
                self.con.register("new_draws", chunk.frame())
                self.con.execute(
                    f"""
                    insert into forecast_draws
                    select ?, p.{PRODUCT}, t.{DATE}, d.draw, d.quantity
                    from new_draws as d
                    join draw_products as p using (p)
                    join draw_dates as t using (t)
                    """,
                    [self.run_id],
                )
                self.con.unregister("new_draws")
        finally:
            for name in ("new_draws", "draw_products", "draw_dates"):
                self.con.unregister(name)
        rows = n_draw * n_prod * n_time
        self.draw_rows += rows
        return rows

    def finish(
        self,
        record: RunRecord,
        forecasts: pd.DataFrame,
        tables: dict[str, pd.DataFrame] | None = None,
    ) -> None:
        """Write the per-run ``tables``, the ``forecasts`` and the finished ``record``; commit."""
        self._check_open()
        _check_finished(record)
        if record.run_id != self.run_id:
            raise ValueError(f"run {record.run_id}'s record given to the writer of run {self.run_id}")
        con, run_id = self.con, self.run_id
        for table, frame in (tables or {}).items():
            con.register("new_rows", frame)
            try:
                cols = ", ".join(quote_ident(c) for c in frame.columns)
                con.execute(f"insert into {table} (run_id, {cols}) select ?, {cols} from new_rows", [run_id])
            finally:
                con.unregister("new_rows")
        con.register("new_forecasts", forecasts)
        try:
            flag = ["had_stockouts"] if "had_stockouts" in forecasts.columns else []
            cols = ", ".join([PRODUCT, DATE, "mean", *QUANTILE_COLUMNS, *flag])
            con.execute(
                f"insert into forecasts (run_id, {cols}) select ?, {cols} from new_forecasts", [run_id]
            )
        finally:
            con.unregister("new_forecasts")
        update_run(con, run_id, {k: v for k, v in record.as_row().items() if k != "run_id"})
        con.execute("commit")
        self._open = False
        self._committed = True


def _check_finished(record: RunRecord) -> None:
    if record.status not in ("succeeded", "unconverged"):
        raise ValueError(f"run {record.run_id} is {record.status}: RunRecord.finished comes before the write")


def write_run(
    con: duckdb.DuckDBPyConnection,
    record: RunRecord,
    forecasts: pd.DataFrame,
    paths: SamplePaths,
    tables: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Write a finished run's forecasts, its sample paths (into ``forecast_draws``), the per-run
    ``tables`` (``fit_diagnostics``, ``product_effects``) and its record (``RunRecord.finished``), all in
    one transaction (``RunWriter``, which a sharded run feeds shard by shard). The draws go in
    product by product (``SamplePaths.frame``'s order)."""
    _check_finished(record)
    with RunWriter(con, record.run_id) as writer:
        writer.add_draws(paths)
        writer.finish(record, forecasts, tables)


def publish_run(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """Publish a stored run that failed its convergence checks (status ``unconverged``), as it is:
    a manual override, recorded in ``published_by`` and the run's message. Returns the run
    ``latest_run`` now names."""
    record = run_record(con, run_id)
    if record is None:
        raise ValueError(
            f"no run '{run_id}' in the database: `demand-forecast sql \"select run_id, status from "
            'forecast_runs order by created_at desc"` lists the runs'
        )
    if record.status != "unconverged":
        state = "already published" if record.published else f"{record.status}, with no forecasts to publish"
        raise ValueError(
            f"run {run_id} is {state}; only a run stored as unconverged can be published by hand"
        )
    note = (
        f"published by hand on {utc_now():%Y-%m-%d %H:%M} UTC though it failed its checks ({record.problems})"
    )
    message = f"{record.message}; {note}" if record.message else note
    con.execute("begin transaction")
    try:
        changed = con.execute(
            "update forecast_runs set status = 'succeeded', published = true, published_by = 'manual', "
            "message = ? where run_id = ? and status = 'unconverged' returning run_id",
            [message, run_id],
        ).fetchall()
        if not changed:  # another process published it since it was read
            raise ValueError(f"run {run_id} is no longer stored as unconverged; nothing was changed")
        latest = con.execute("select run_id from latest_run").fetchone()[0]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return latest


def fail_run(con: duckdb.DuckDBPyConnection, run_id: str, message: str) -> None:
    update_run(con, run_id, {"status": "failed", "message": message, "finished_at": utc_now()})


def update_run(con: duckdb.DuckDBPyConnection, run_id: str, fields: dict[str, Any]) -> None:
    """Set some of a run's ``forecast_runs`` columns (``RunRecord``'s fields)."""
    unknown = set(fields) - set(RunRecord.columns())
    if unknown:
        raise ValueError(f"forecast_runs has no column(s) {sorted(unknown)}")
    update_row(con, "forecast_runs", "run_id", run_id, fields)


def run_record(con: duckdb.DuckDBPyConnection, run_id: str) -> RunRecord | None:
    """A run's ``forecast_runs`` row, or None."""
    cursor = con.execute("select * from forecast_runs where run_id = ?", [run_id])
    row = cursor.fetchone()
    if row is None:
        return None
    return RunRecord.from_row(dict(zip([d[0] for d in cursor.description], row, strict=True)))


def runs_since(con: duckdb.DuckDBPyConnection, since: datetime) -> list[str]:
    """Ids of the runs started at or after ``since`` (UTC, naive), oldest first."""
    rows = con.execute(
        "select run_id from forecast_runs where created_at >= ? order by created_at, run_id", [since]
    ).fetchall()
    return [r[0] for r in rows]


def previous_published_run(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The newest published run created before ``run_id``, or None for the first one."""
    row = con.execute(
        """
        select p.run_id
        from forecast_runs as p, forecast_runs as r
        where r.run_id = ? and p.status = 'succeeded' and p.published and p.run_id <> r.run_id
            and (p.created_at < r.created_at or (p.created_at = r.created_at and p.run_id < r.run_id))
        order by p.created_at desc, p.run_id desc
        limit 1
        """,
        [run_id],
    ).fetchone()
    return row[0] if row else None


def forecast_changes(
    con: duckdb.DuckDBPyConnection, run_id: str, previous: str | None, limit: int | None = None
) -> pd.DataFrame:
    """Per product, ``run_id``'s horizon total against ``previous``'s, largest absolute change first.

    The SQL is the ``forecast_changes`` table macro (``sql/007_forecast_changes.sql``).
    """
    sql = "select * from forecast_changes(?, ?)" + (f" limit {int(limit)}" if limit is not None else "")
    return con.execute(sql, [run_id, previous]).df()


def has_new_sales_since_latest_run(con: duckdb.DuckDBPyConnection) -> bool:
    """Did an ingest load or correct sales (or products) after the newest published run started?

    True when there is no published run yet.
    """
    row = con.execute(
        """
        select
            (select max(created_at) from forecast_runs where status = 'succeeded' and published),
            (select max(ingested_at) from ingest_log where rows_loaded > 0 or products_read > 0)
        """
    ).fetchone()
    latest_run, latest_ingest = row
    if latest_run is None:
        return True
    return latest_ingest is not None and latest_ingest > latest_run
