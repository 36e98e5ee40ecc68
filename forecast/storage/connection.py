"""The database: connections (a lock-aware writer, read-only readers), the schema from the numbered
files in ``sql/``, ad-hoc queries and exports, and the row helpers the other storage modules share."""

from __future__ import annotations

import json
import os
import random
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


DEFAULT_DB = Path("data") / "demand.duckdb"


def default_db_path() -> Path:
    """``$DEMAND_DB`` when set, else ``data/demand.duckdb``."""
    return Path(os.environ.get("DEMAND_DB") or DEFAULT_DB)


def schema_files() -> list[Path]:
    return sorted(SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))


def connect(
    path: str | Path | None = None,
    read_only: bool = False,
    *,
    retries: int = 60,
    wait: float = 0.05,
) -> duckdb.DuckDBPyConnection:
    """Open the database (creating it and its schema when writable); ``":memory:"`` for tests.

    DuckDB lets one process at a time hold a database file open read-write, and no other process
    read it meanwhile (readers hold a shared lock, the writer an exclusive one). Opening therefore
    retries on a lock conflict, ``retries`` times with a jittered exponential backoff starting at
    ``wait`` seconds and capped at one second (the defaults wait up to about a minute), so a
    dashboard's short read does not fail a scheduled run, nor the run a dashboard. Other errors raise
    at once.
    """
    path = default_db_path() if path is None else path
    if str(path) != ":memory:" and not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or attempt == retries:
                raise
            time.sleep(min(wait * 2**attempt, 1.0) * random.uniform(0.5, 1.5))
    if not read_only:
        apply_schema(con)
    return con


def connect_read_only(
    path: str | Path | None = None, retries: int = 40, wait: float = 0.02
) -> duckdb.DuckDBPyConnection:
    """A read-only connection for a short query, retried while a writer holds the file.

    Close it as soon as the query is done (``with storage.connect_read_only(db) as con: ...``): an
    open reader keeps the writer out. A reader sees only committed runs: a run is one transaction.
    """
    return connect(path, read_only=True, retries=retries, wait=wait)


def apply_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Run every numbered DDL file in order; each is idempotent."""
    for file in schema_files():
        con.execute(file.read_text())


def query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """The result of ``sql``'s last statement (earlier ones, e.g. ``set variable``, run first)."""
    if not duckdb.extract_statements(sql):
        raise ValueError("no SQL statement to run (only comments or nothing)")
    return con.execute(sql).df()


EXPORT_FORMATS = {
    ".csv": "(format csv, header)",
    ".parquet": "(format parquet, compression zstd)",
    ".json": "(format json, array true)",
}


def export_query(con: duckdb.DuckDBPyConnection, sql: str, path: str | Path) -> int:
    """Write a query's result with DuckDB's ``copy`` to ``.csv``, ``.parquet`` or ``.json`` (an array).

    Returns
    -------
    int
        Rows written.
    """
    path = Path(path)
    options = EXPORT_FORMATS.get(path.suffix.lower())
    if options is None:
        raise ValueError(f"cannot write '{path.suffix}': use {', '.join(EXPORT_FORMATS)}")
    *before, last = duckdb.extract_statements(sql) or [None]
    if last is None:
        raise ValueError("no SQL statement to run (only comments or nothing)")
    for statement in before:  # e.g. `set variable n = 4;` ahead of the query
        con.execute(statement.query)
    body = last.query.strip()
    head, semicolon, tail = body.rpartition(";")  # the statement's end, then only comments
    if semicolon and all(not t.strip() or t.strip().startswith("--") for t in tail.splitlines()):
        body = head
    # On lines of their own: a trailing -- comment must not swallow the closing parenthesis.
    return con.execute(f"copy (\n{body}\n) to {sql_literal(str(path))} {options}").fetchone()[0]


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {table}").fetchall()]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def insert_row(con: duckdb.DuckDBPyConnection, table: str, fields: dict[str, Any]) -> None:
    names = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    con.execute(f"insert into {table} ({names}) values ({marks})", [jsonable(v) for v in fields.values()])


def update_row(
    con: duckdb.DuckDBPyConnection, table: str, key: str, value: str, fields: dict[str, Any]
) -> None:
    sets = ", ".join(f"{k} = ?" for k in fields)
    con.execute(
        f"update {table} set {sets} where {key} = ?",
        [jsonable(v) for v in fields.values()] + [value],
    )


def database_id(con: duckdb.DuckDBPyConnection) -> str:
    """The database's identity (``database_info``): fixed for its lifetime, new for a new file."""
    return con.execute("select database_id from database_info").fetchone()[0]


def new_id() -> str:
    """An id for a run, a backtest or an ingest: sortable and unique (UTC time, then a random suffix)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def size_bytes(text: str | None) -> float | None:
    """``4GiB``, ``18.8 GiB``, ``500MB`` as bytes; None for anything else (no limit)."""
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*", text or "")
    if not found or found.group(2).lower() not in _UNITS:
        return None
    return float(found.group(1)) * _UNITS[found.group(2).lower()]


def cap_memory_limit(con: duckdb.DuckDBPyConnection, limit: str | None) -> Callable[[], None]:
    """Lower DuckDB's ``memory_limit`` to ``limit`` when it is higher; returns what restores it."""
    wanted = size_bytes(limit) if limit is not None else None
    if wanted is None:
        return lambda: None
    before = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    current = size_bytes(before)
    if current is not None and current <= wanted:
        return lambda: None
    con.execute(f"set memory_limit = '{int(wanted)}B'")

    def restore() -> None:
        # DuckDB shows the limit rounded (18.8 GiB): DuckDB's default comes back exact by a reset
        con.execute("reset memory_limit")
        if con.execute("select current_setting('memory_limit')").fetchall()[0][0] != before:
            con.execute(f"set memory_limit = '{before}'")

    return restore
