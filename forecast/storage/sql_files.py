"""The SQL files of ``sql/ingest/``: read and run, one statement after another.

The files are plain DuckDB SQL, no templating: what varies from one ingest to the next comes in as
named parameters (``$ingest_id``) or through the temp tables and views an earlier step (or the
reader, ``forecast.storage.input_files``) created under fixed names. Each statement gets exactly the
parameters it names, so a file may use any subset of those given.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from forecast.storage.connection import SQL_DIR

INGEST_SQL_DIR = SQL_DIR / "ingest"


def ingest_sql_files() -> list[Path]:
    """The steps in ``sql/ingest/``, in their numbered order."""
    return sorted(INGEST_SQL_DIR.glob("[0-9][0-9]_*.sql"))


@cache
def _statements(path: Path, mtime_ns: int) -> tuple[tuple[str, frozenset[str]], ...]:
    """A file's statements and the parameters each names, parsed once per version of the file."""
    statements = duckdb.extract_statements(path.read_text())
    if not statements:
        raise ValueError(f"no SQL statement in {path}")
    return tuple((s.query, frozenset(s.named_parameters)) for s in statements)


def run_sql_file(
    con: duckdb.DuckDBPyConnection, name: str | Path, params: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Run every statement of ``sql/ingest/<name>`` (or the file ``name``), in order.

    Returns the connection holding the last statement's result (``.fetchone()``); a parameter a
    statement names but ``params`` lacks raises ``KeyError``.
    """
    path = Path(name) if Path(name).is_absolute() else INGEST_SQL_DIR / name
    params = params or {}
    for query, needed in _statements(path, path.stat().st_mtime_ns):
        missing = sorted(needed - params.keys())
        if missing:
            raise KeyError(f"{path.name} needs parameter(s) {missing}")
        result = con.execute(query, {k: params[k] for k in needed} if needed else None)
    return result
