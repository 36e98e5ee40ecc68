"""DuckDB storage: the only module that talks to the database.

Schema comes from the numbered files in ``sql/``; ingest validates every input row in SQL (DuckDB's
readers, no Python row loops) and puts it either in ``sales`` or in ``rejected_sales`` with a reason;
a forecast run's outputs land in one transaction.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import random
import re
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from forecast.schema import (
    DATE,
    DEFAULT_CROSSED,
    DEFAULT_NESTED,
    PRICE,
    PRODUCT,
    PROMO,
    QUANTILE_COLUMNS,
    QUANTITY,
    SALES_REQUIRED,
)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
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
    return con.execute(f"copy (\n{body}\n) to {_literal(str(path))} {options}").fetchone()[0]


# --------------------------------------------------------------------------------------- ingest


class IngestError(ValueError):
    """The input cannot be loaded at all (a file-level problem, not a bad row)."""


@dataclass
class IngestSummary:
    """What one ingest did; ``rows_read == rows_loaded + rows_rejected`` always holds.

    ``products_read`` is 0 when every products file was already ingested (nothing to reload);
    ``rows_replaced`` counts loaded rows that corrected a different earlier value (the old value
    went to ``sales_history``); ``files_skipped`` counts input files ingested before.
    """

    ingest_id: str
    already_ingested: bool
    products_read: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    reasons: dict[str, int]
    rows_replaced: int = 0
    files_loaded: int = 0
    files_skipped: int = 0
    warnings: list[str] = field(default_factory=list)  # e.g. a default attribute column is missing

    def __str__(self) -> str:
        if self.already_ingested:
            return f"already ingested as {self.ingest_id}: nothing changed"
        products = f"{self.products_read} products" if self.products_read else "products file already loaded"
        text = (
            f"ingest {self.ingest_id}: {products}; sales rows read "
            f"{self.rows_read} = loaded {self.rows_loaded} + rejected {self.rows_rejected}"
        )
        if self.rows_replaced:
            text += f"; {self.rows_replaced} loaded rows corrected earlier values (kept in sales_history)"
        if self.files_skipped:
            text += f"; {self.files_skipped} file(s) already ingested, skipped"
        for reason, n in sorted(self.reasons.items(), key=lambda kv: -kv[1]):
            text += f"\n  rejected {n}: {reason}"
        return text


FilesSpec = str | Path | Sequence[str | Path]

# Marks a CSV field as NULL; no real file holds it, so an empty field reads as '' and only the
# fields DuckDB pads onto a short (truncated) row read as NULL.
_NO_NULL = "\x01<none>\x01"
_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CONTRACT = (DATE, PRODUCT, QUANTITY, PRICE, PROMO)
_TRUNCATED = "truncated row: fewer fields than the header"


def _file_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    return None


def resolve_files(spec: FilesSpec) -> list[Path]:
    """Input files from one path, a glob (``data/sales_*.csv``), a folder, or a list of those.

    A folder means its CSV and Parquet files (not recursive). Every file must exist, be non-empty
    and be CSV (``.csv``, ``.csv.gz``, ``.txt``) or Parquet; files come back sorted and unique.
    """
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    files: list[Path] = []
    for item in specs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.is_file() and _file_kind(f))
            if not found:
                raise IngestError(f"no CSV or Parquet files in folder {path}")
        elif any(ch in text for ch in "*?["):
            found = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
            if not found:
                raise IngestError(f"no files match {text}")
        else:
            found = [path]
        files.extend(found)
    unique = list(dict.fromkeys(files))
    for f in unique:
        if not f.exists():
            raise IngestError(f"file not found: {f}")
        if f.stat().st_size == 0:
            raise IngestError(f"file is empty: {f}")
        if _file_kind(f) is None:
            raise IngestError(f"unsupported file type '{f.suffix}' for {f}: use .csv or .parquet")
    return unique


def _fingerprint(path: Path) -> str:
    """sha256 of a file's bytes: the same content under another name is the same file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def parse_delimiter(text: str | None) -> str | None:
    """A delimiter as a user types it (``;``, ``tab``, ``\\t``) as the character; None: detect it."""
    if text is None or text == "":
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(text.lower(), text)
    if len(named) != 1 or named in '"\r\n':
        raise IngestError(f"a delimiter is one character, e.g. ';' or tab, got {text!r}")
    return named


def csv_delimiter(file: Path, encoding: str = "utf-8") -> str:
    """The delimiter of a CSV file, from its header line: the most frequent of comma, semicolon, tab
    and pipe outside quotes; a comma when the line holds none of them (a one-column file)."""
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    try:
        with opener(file, "rt", encoding=encoding, errors="replace", newline="") as f:
            line = f.readline()
    except (OSError, LookupError, EOFError):  # unreadable or an unknown encoding: DuckDB says which
        return ","
    unquoted = re.sub(r'"[^"]*"', "", line)
    counts = {d: unquoted.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _delimiter(files: list[Path], encoding: str, given: str | None) -> str:
    """``given``, else the one delimiter every CSV file in ``files`` uses (one read reads them all)."""
    if given:
        return given
    found = {f: csv_delimiter(f, encoding) for f in files if _file_kind(f) == "csv"}
    if len(set(found.values())) > 1:
        uses = ", ".join(f"{f.name}: {_DELIMITER_NAMES[d]}" for f, d in found.items())
        raise IngestError(f"CSV files with different delimiters ({uses}): ingest them separately")
    return next(iter(found.values()), ",")


def _names(files: Sequence[Path]) -> str:
    return ", ".join(str(f) for f in files)


def _reader(files: list[Path], encoding: str, delimiter: str | None = None) -> str:
    """A DuckDB table function reading ``files`` (one kind), CSV fields as text, file name kept;
    the CSV delimiter is ``delimiter``, or the files' own (``csv_delimiter``)."""
    kinds = {_file_kind(f) for f in files}
    if len(kinds) > 1:
        raise IngestError(
            f"a mix of CSV and Parquet files ({[f.name for f in files]}): ingest them separately"
        )
    paths = "[" + ", ".join(_literal(str(f)) for f in files) + "]"
    if kinds == {"parquet"}:
        return f"read_parquet({paths}, union_by_name = true, filename = '_source_file')"
    delim = _delimiter(files, encoding, delimiter)
    return (
        f"read_csv({paths}, header = true, all_varchar = true, delim = {_literal(delim)}, quote = '\"', "
        f"escape = '\"', null_padding = true, nullstr = {_literal(_NO_NULL)}, "
        f"encoding = {_literal(encoding)}, union_by_name = true, filename = '_source_file')"
    )


def _read_error(exc: duckdb.Error, what: str, encoding: str, files: Sequence[Path] = ()) -> IngestError:
    """One line saying what is wrong with an unreadable file, and which file it is."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = f" (line {line.group(1)})" if line else ""
    file = re.search(r"file\s*=\s*(\S+)", text)
    name = f" {file.group(1)}" if file else (f" {_names(files)}" if files else "")
    if "Invalid unicode" in text or "encoding" in text.lower() and "unicode" in text.lower():
        return IngestError(
            f"{what} file{name} is not {encoding} encoded{where}: save it as UTF-8, or pass its "
            f"encoding (e.g. encoding='latin-1', --encoding latin-1)"
        )
    if "Expected Number of Columns" in text:
        return IngestError(
            f"{what} file{name} has a row with more fields than its header{where} "
            f"(an unquoted delimiter in a value? the delimiter is the file's most frequent of , ; tab | "
            f"in its header, or --delimiter)"
        )
    if "sniffing" in text or "quote" in text.lower():
        return IngestError(
            f"cannot parse the {what} file{name}: unterminated quote or truncated file? "
            f"({text.splitlines()[0]})"
        )
    return IngestError(f"cannot read the {what} file{name}: {text.splitlines()[0]}")


def _file_columns(
    con: duckdb.DuckDBPyConnection, file: Path, what: str, encoding: str, delimiter: str | None = None
) -> list[str]:
    """A file's column names; a header that reads as one column holding another delimiter fails."""
    try:
        reader = _reader([file], encoding, delimiter)
        columns = [r[0] for r in con.execute(f"describe select * from {reader}").fetchall()][:-1]
    except duckdb.Error as exc:
        raise _read_error(exc, what, encoding, [file]) from exc
    others = [d for d in _DELIMITERS if len(columns) == 1 and d in columns[0]]
    if others:
        used = _DELIMITER_NAMES.get(_delimiter([file], encoding, delimiter), repr(delimiter))
        raise IngestError(
            f"{what} file {file} reads as one column {columns[0]!r} with a {used} delimiter: "
            f"pass the file's own, e.g. --delimiter {'tab' if others[0] == chr(9) else repr(others[0])}"
        )
    return columns


def _check_sales_header(file: Path, header: list[str]) -> None:
    missing = [c for c in SALES_REQUIRED if c not in header]
    if missing:
        raise IngestError(
            f"sales file {file} lacks required column(s) {missing}; columns found: {header} "
            f"(expected {list(SALES_REQUIRED)} plus optional '{PRICE}', '{PROMO}'; "
            f"map names with --map {DATE}=<name>,...)"
        )


def _missing_attributes(file: Path, header: list[str]) -> str | None:
    """A warning when a products file lacks an attribute of the default hierarchy."""
    missing = [a for a in DEFAULT_NESTED + DEFAULT_CROSSED if a not in {c.lower() for c in header}]
    if not missing:
        return None
    return (
        f"products file {file} has no column(s) {missing} of the default hierarchy "
        f"(--nested {','.join(DEFAULT_NESTED)} --crossed {','.join(DEFAULT_CROSSED)}): forecast with "
        f"--nested/--crossed naming the attributes it has"
    )


def _has_rows(con: duckdb.DuckDBPyConnection, file: Path, what: str, encoding: str, delimiter: str | None):
    try:
        row = con.execute(f"select 1 from {_reader([file], encoding, delimiter)} limit 1").fetchone()
    except duckdb.Error as exc:
        raise _read_error(exc, what, encoding, [file]) from exc
    if row is None:
        raise IngestError(f"{what} file {file} has a header but no rows")


def check_headers(
    sales_path: FilesSpec,
    products_path: FilesSpec,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> list[str]:
    """The file-level checks ``ingest`` makes first (files found, readable, required columns present,
    at least one row each), on the headers and first rows alone and without a database: a command
    can answer a bad input in seconds.

    Returns
    -------
    list[str]
        Warnings that do not stop an ingest (a products file without a default attribute column).
    """
    column_map = dict(column_map or {})
    sales_files = resolve_files(sales_path)
    product_files = resolve_files(products_path)
    warnings = []
    with duckdb.connect() as con:
        for f in product_files:
            header = [_rename(c, column_map) for c in _file_columns(con, f, "products", encoding, delimiter)]
            if PRODUCT not in header:
                raise _no_product_column([f], header)
            warnings += [w for w in [_missing_attributes(f, header)] if w]
            _has_rows(con, f, "products", encoding, delimiter)
        for f in sales_files:
            header = [_rename(c, column_map) for c in _file_columns(con, f, "sales", encoding, delimiter)]
            _check_sales_header(f, header)
            _has_rows(con, f, "sales", encoding, delimiter)
    return warnings


def _no_product_column(files: Sequence[Path], columns: list[str]) -> IngestError:
    return IngestError(
        f"products file {_names(files)} has no '{PRODUCT}' column; columns found: {columns} "
        f"(map a name with --map {PRODUCT}=<name>)"
    )


def _rename(column: str, column_map: dict[str, str]) -> str:
    """The contract name of a file's column: mapped, else a contract name matched loosely, else as is."""
    name = column.strip()
    if name in column_map:
        return column_map[name]
    if name.lower() in _CONTRACT:
        return name.lower()
    return name


def _read_input(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    table: str | None,
    what: str,
    column_map: dict[str, str],
    encoding: str,
    delimiter: str | None = None,
) -> tuple[dict[Path, list[str]], str]:
    """Check ``files``' headers and build the query reading them (``_row``, ``_source_file``, renamed columns).

    Returns each file's header after renaming, and the ``select`` reading every row; with a ``table``
    name the rows are also read into that temp table. ``_row`` numbers rows in reading order (files
    in order, each file's rows in file order): the same numbers every time the query runs.
    """
    headers: dict[Path, list[str]] = {}
    for f in files:
        renamed = [_rename(c, column_map) for c in _file_columns(con, f, what, encoding, delimiter)]
        twice = sorted({c for c in renamed if renamed.count(c) > 1})
        if twice:
            raise IngestError(f"{what} file {f} has column(s) {twice} twice (after the column map)")
        if any(re.fullmatch(r"column\d+", c) for c in renamed):
            raise IngestError(
                f"{what} file {f} has a row with more fields than its header (an unquoted delimiter in a value?)"
            )
        headers[f] = renamed
    try:
        reader = _reader(files, encoding, delimiter)
        raw = con.execute(f"describe select * from {reader}").fetchall()
        select = ", ".join(
            f"{_q(r[0])} as {_q(_rename(r[0], column_map))}" for r in raw if r[0] != "_source_file"
        )
        source = f"select row_number() over () as _row, _source_file, {select} from {reader}"
        if table:
            con.execute(f"create or replace temp table {table} as {source}")
    except duckdb.Error as exc:
        raise _read_error(exc, what, encoding, files) from exc
    return headers, source


def ingest(
    con: duckdb.DuckDBPyConnection,
    sales_path: FilesSpec,
    products_path: FilesSpec,
    *,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> IngestSummary:
    """Load products and sales files; each sales row lands in ``sales`` or ``rejected_sales``.

    Parameters
    ----------
    con
        A writable connection.
    sales_path, products_path
        One file, a glob, a folder, or a list of those; CSV (header row, quoted with ``"``) or Parquet.
    column_map
        The files' column names to the contract's (``{"day": "date", "sku": "product_id"}``);
        applies to both inputs. Contract names also match regardless of case and surrounding spaces.
    encoding
        Text encoding of CSV files (``utf-8``, ``latin-1``, ``utf-16``).
    delimiter
        The CSV field delimiter; None: each input's own, the most frequent of comma, semicolon, tab
        and pipe in its header (``csv_delimiter``). Where it is not a comma, numbers may use a
        decimal comma (``1,5``), as spreadsheets that write semicolons do.

    Returns
    -------
    IngestSummary
        Rows read, loaded and rejected (with reasons); ``rows_read == rows_loaded + rows_rejected``.

    Notes
    -----
    One transaction: it lands whole or not at all. Each file is fingerprinted by its bytes in
    ``ingest_files``: a file ingested before is skipped, so the same files twice change nothing and a
    folder that gains a file loads only the new file. A row for a (date, product) already loaded with
    different values replaces it; the replaced row goes to ``sales_history``.
    """
    column_map = dict(column_map or {})
    bad_targets = sorted(set(column_map.values()) - set(_CONTRACT))
    sales_files, product_files = resolve_files(sales_path), resolve_files(products_path)
    fingerprints = {f: _fingerprint(f) for f in sales_files + product_files}
    known = dict(con.execute("select kind || ':' || fingerprint, ingest_id from ingest_files").fetchall())
    new_sales = [f for f in sales_files if f"sales:{fingerprints[f]}" not in known]
    new_products = [f for f in product_files if f"products:{fingerprints[f]}" not in known]
    new_sales = list({fingerprints[f]: f for f in reversed(new_sales)}.values())[::-1]
    new_products = list({fingerprints[f]: f for f in reversed(new_products)}.values())[::-1]
    if not new_sales and not new_products:
        last = max(
            (known[f"sales:{fingerprints[f]}"] for f in sales_files),
            key=lambda i: con.execute(
                "select ingested_at from ingest_log where ingest_id = ?", [i]
            ).fetchone(),
        )
        done = con.execute(
            "select ingest_id, products_read, rows_read, rows_loaded, rows_rejected "
            "from ingest_log where ingest_id = ?",
            [last],
        ).fetchone()
        return IngestSummary(done[0], True, done[1], done[2], done[3], done[4], {})

    ingest_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    con.execute("begin transaction")
    try:
        headers: dict[Path, list[str]] = {}
        sales_source = ""
        if new_products:
            headers |= _read_input(
                con, new_products, "raw_products", "products", column_map, encoding, delimiter
            )[0]
        if new_sales:
            found, sales_source = _read_input(con, new_sales, None, "sales", column_map, encoding, delimiter)
            headers |= found
        seen = {
            c.strip()
            for f in sales_files + product_files
            for c in _file_columns(con, f, "input", encoding, delimiter)
        }
        unknown = sorted(set(column_map) - seen)
        if unknown or bad_targets:
            raise IngestError(
                f"column map names column(s) {unknown} that no input file has"
                if unknown
                else f"column map targets {bad_targets} are not contract columns {list(_CONTRACT)}"
            )
        products_read = _load_products(con, new_products) if new_products else 0
        if new_sales:
            csv_files = [f for f in new_sales if _file_kind(f) == "csv"]
            decimal_comma = bool(csv_files) and _delimiter(csv_files, encoding, delimiter) != ","
            counts = _load_sales(
                con, ingest_id, {f: headers[f] for f in new_sales}, sales_source, encoding, decimal_comma
            )
        else:
            counts = {"read": 0, "loaded": 0, "rejected": 0, "replaced": 0, "per_file": {}}
        for kind, files in (("products", new_products), ("sales", new_sales)):
            for f in files:
                con.execute(
                    "insert into ingest_files values (?, ?, ?, ?, ?, ?)",
                    [
                        ingest_id,
                        kind,
                        str(f),
                        fingerprints[f],
                        f.stat().st_size,
                        counts["per_file"].get(str(f), 0) if kind == "sales" else products_read,
                    ],
                )
        con.execute(
            "insert into ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ingest_id,
                _now(),
                ", ".join(str(f) for f in new_sales) or "(none new)",
                ", ".join(str(f) for f in new_products) or "(none new)",
                hashlib.sha256(
                    "".join(fingerprints[f] for f in new_sales + new_products).encode()
                ).hexdigest(),
                products_read,
                counts["read"],
                counts["loaded"],
                counts["rejected"],
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    reasons = dict(
        con.execute(
            "select reason, count(*) from rejected_sales where ingest_id = ? group by reason",
            [ingest_id],
        ).fetchall()
    )
    warnings = [w for f in new_products if (w := _missing_attributes(f, headers[f]))]
    return IngestSummary(
        ingest_id,
        False,
        products_read,
        counts["read"],
        counts["loaded"],
        counts["rejected"],
        reasons,
        rows_replaced=counts["replaced"],
        files_loaded=len(new_sales) + len(new_products),
        files_skipped=len(sales_files) + len(product_files) - len(new_sales) - len(new_products),
        warnings=warnings,
    )


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {table}").fetchall()]


def _load_products(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> int:
    cols = [c for c in _columns(con, "raw_products") if c not in ("_row", "_source_file")]
    if PRODUCT not in cols:
        raise _no_product_column(files, cols)
    attrs = [c for c in cols if c != PRODUCT]
    n = con.execute("select count(*) from raw_products").fetchone()[0]
    if n == 0:
        raise IngestError(f"products file {_names(files)} has a header but no rows")
    # Empty CSV fields read as '' (see _NO_NULL): an empty attribute is unknown, like a Parquet null.
    clean = ", ".join(
        [f"trim(cast({PRODUCT} as varchar)) as {PRODUCT}"]
        + [f"nullif(trim(cast({_q(a)} as varchar)), '') as {_q(a)}" for a in attrs]
    )
    con.execute(f"create or replace temp table clean_products as select {clean} from raw_products")
    blank = con.execute(f"select count(*) from clean_products where coalesce({PRODUCT}, '') = ''").fetchone()[
        0
    ]
    if blank:
        raise IngestError(f"products file {_names(files)} has {blank} row(s) with an empty {PRODUCT}")
    conflicts = con.execute(
        f"select {PRODUCT} from clean_products group by {PRODUCT} "
        f"having count(distinct ({', '.join(_q(a) for a in attrs) or 'null'})) > 1 "
        f"order by {PRODUCT} limit 3"
    ).fetchall()
    if conflicts:
        raise IngestError(
            f"products file {_names(files)} gives conflicting attributes for {[c[0] for c in conflicts]}"
        )
    existing = {c.lower() for c in _columns(con, "products")}  # DuckDB names ignore case
    for attr in attrs:
        if attr.lower() not in existing:
            con.execute(f"alter table products add column {_q(attr)} varchar")
    target = ", ".join([PRODUCT] + [_q(a) for a in attrs])
    con.execute(
        f"insert or replace into products ({target}) "
        f"select distinct on ({PRODUCT}) {target} from clean_products"
    )
    return n


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _load_sales(
    con: duckdb.DuckDBPyConnection,
    ingest_id: str,
    headers: dict[Path, list[str]],
    source: str,
    encoding: str,
    decimal_comma: bool = False,
) -> dict[str, Any]:
    """Validate the rows of ``source`` (see ``_read_input``) and load them into ``sales`` or ``rejected_sales``.

    The files are read once, straight into ``checked_sales``: typed values and each row's first failed
    check, the raw text kept only for rejected rows. Repeated (date, product) keys among valid rows are
    found by sorting one integer key (product rowid, day), not by a hash of every key; the few rows
    they reject get their raw text from a second read of the files (only when there are any).
    """
    for file, header in headers.items():
        _check_sales_header(file, header)
    cols = {c for h in headers.values() for c in h}
    price = PRICE if PRICE in cols else "null"
    promo = PROMO if PROMO in cols else "null"
    # A CSV row DuckDB padded (too few fields) has NULL in its file's last column: only padding
    # makes NULLs in CSV text (see _NO_NULL). Parquet nulls are plain missing values.
    last = {f: h[-1] for f, h in headers.items() if _file_kind(f) == "csv"}
    if len(last) == 1 and len(headers) == 1:
        truncated = f"{_q(next(iter(last.values())))} is null"
    elif last:
        cases = " ".join(
            f"when _source_file = {_literal(str(f))} then {_q(c)} is null" for f, c in last.items()
        )
        truncated = f"case {cases} else false end"
    else:
        truncated = "false"
    raw = {
        "raw_date": f"cast({DATE} as varchar)",
        "raw_product": f"cast({PRODUCT} as varchar)",
        "raw_quantity": f"cast({QUANTITY} as varchar)",
        "raw_price": f"cast({price} as varchar)",
        "raw_promo": f"cast({promo} as varchar)",
    }
    raw_select = ", ".join(f"{expr} as {name}" for name, expr in raw.items())

    def number(raw_value: str) -> str:  # "1,5" is 1.5 in a file whose delimiter is not a comma
        return f"replace(trim({raw_value}), ',', '.')" if decimal_comma else f"trim({raw_value})"

    kept_raw = ", ".join(f"case when reason is not null then {name} end as {name}" for name in raw)
    # Casts skip ASCII whitespace themselves; trim (which also strips Unicode spaces) runs only when
    # the plain cast fails, so the values are those of try_cast(trim(x)) at a fraction of the cost.
    # One reason per row: the first check it fails, in this order.
    # products numbered for the key (a rowid can exceed 32 bits inside a transaction)
    con.execute(
        "create or replace temp table product_keys as select product_id, row_number() over () as n from products"
    )
    try:
        con.execute(
            f"""
            create or replace temp table checked_sales as
            with source as (
                select _row, _source_file, {truncated} as truncated, {raw_select}
                from ({source})
            ),

            typed as (
                select
                    *,
                    coalesce(try_cast(raw_date as date), try_cast(trim(raw_date) as date)) as date,
                    trim(raw_product) as product_id,
                    coalesce(
                        try_cast(raw_quantity as double), try_cast({number("raw_quantity")} as double)
                    ) as q,
                    coalesce(try_cast(raw_price as double), try_cast({number("raw_price")} as double)) as price,
                    case raw_promo when '1' then true when '0' then false else
                        case lower(trim(raw_promo))
                            when '1' then true when 'true' then true when 'yes' then true
                            when '0' then false when 'false' then false when 'no' then false
                            when '' then null end
                    end as promo
                from source
            ),

            reasoned as (
                select
                    t.*,
                    case
                        when t.truncated then '{_TRUNCATED}'
                        when t.date is null then
                            case when t.raw_date is null or trim(t.raw_date) = '' then 'missing date'
                                else 'unparsable date' end
                        when t.product_id is null or t.product_id = '' then 'missing product_id'
                        when t.q is null or isnan(t.q) or isinf(t.q) then
                            case when t.raw_quantity is null or trim(t.raw_quantity) = '' then 'missing quantity'
                                else 'non-numeric quantity' end
                        when t.q < 0 then 'negative quantity'
                        when t.q <> floor(t.q) then 'fractional quantity'
                        when t.price is null and t.raw_price is not null and trim(t.raw_price) <> ''
                            then 'non-numeric price'
                        when t.price <= 0 or isnan(t.price) or isinf(t.price) then 'non-positive price'
                        when t.promo is null and t.raw_promo is not null and trim(t.raw_promo) <> ''
                            then 'unparsable promo (expected 0/1/true/false)'
                        when p.product_id is null then 'product not in the products file'
                    end as reason,
                    -- one integer per (date, product): the product's number and the day, 32 bits each
                    (p.n << 32) + (t.date - date '1970-01-01' + 2147483648) as _key
                from typed as t
                left join product_keys as p on p.product_id = t.product_id
            )

            select
                _row,
                _source_file,
                _key,
                date,
                product_id,
                case when reason is null then cast(q as bigint) end as quantity,
                price,
                coalesce(promo, false) as promo,
                reason,
                {kept_raw}
            from reasoned
            """
        )
    except duckdb.Error as exc:
        raise _read_error(exc, "sales", encoding, list(headers)) from exc
    con.execute(
        """
        create or replace temp table sales_file_rows as
        select _source_file, count(*) as rows_read, min(_row) - 1 as row_offset
        from checked_sales
        group by _source_file
        """
    )
    per_file = dict(con.execute("select _source_file, rows_read from sales_file_rows").fetchall())
    read = sum(per_file.values())
    if read == 0:
        raise IngestError(f"sales file {_names(list(headers))} has a header but no rows")
    # per repeated (date, product) among valid rows: do the quantities disagree, which row came first
    con.execute(
        """
        create or replace temp table duplicate_keys as
        with valid as (
            select _key, lag(_key) over (order by _key) as previous
            from checked_sales
            where reason is null
        ),

        repeated as (
            select distinct _key from valid where _key = previous
        )

        select _key, min(quantity) <> max(quantity) as conflicting, min(_row) as first_row
        from checked_sales
        where reason is null and _key in (select _key from repeated)
        group by _key
        """
    )
    duplicates = con.execute("select count(*) from duplicate_keys").fetchone()[0] > 0
    accepted = """
        select c.date, c.product_id, c.quantity, c.price, c.promo
        from checked_sales as c
        left join duplicate_keys as k on c._key = k._key
        where c.reason is null and (k._key is null or (not k.conflicting and c._row = k.first_row))
    """
    had_sales = con.execute("select count(*) from (select 1 from sales limit 1)").fetchone()[0] > 0
    replaced = 0
    if had_sales:
        now = _now()
        con.execute(
            f"""
            create or replace temp table replaced_sales as
            select s.*
            from sales as s
            inner join ({accepted}) as n using (date, product_id)
            where s.quantity <> n.quantity or s.price is distinct from n.price or s.promo is distinct from n.promo
            """
        )
        replaced = con.execute("select count(*) from replaced_sales").fetchone()[0]
        if replaced:
            con.execute(
                """
                insert into sales_history
                select date, product_id, quantity, price, promo, ingest_id, ?, ? from replaced_sales
                """,
                [ingest_id, now],
            )
            con.execute(
                f"""
                update sales set quantity = n.quantity, price = n.price, promo = n.promo, ingest_id = ?
                from ({accepted}) as n, replaced_sales as r
                where sales.date = n.date and sales.product_id = n.product_id
                    and r.date = n.date and r.product_id = n.product_id
                """,
                [ingest_id],
            )
    new_only = (
        "where not exists (select 1 from sales as s where s.date = n.date and s.product_id = n.product_id)"
        if had_sales
        else ""
    )
    con.execute(f"insert into sales select n.*, ? from ({accepted}) as n {new_only}", [ingest_id])
    # Rows a repeated key rejects passed every check, so checked_sales kept no raw text for them:
    # read it again for just those rows.
    if duplicates:
        try:
            con.execute(
                f"""
                create or replace temp table duplicate_rows as
                with rejected as (
                    select
                        c._row,
                        case when k.conflicting then 'same date and product twice with different quantities'
                            else 'duplicate row' end as reason
                    from checked_sales as c
                    inner join duplicate_keys as k on c._key = k._key
                    where c.reason is null and (k.conflicting or c._row <> k.first_row)
                )

                select s._row, s._source_file, {", ".join(raw)}, r.reason
                from (select _row, _source_file, {raw_select} from ({source})) as s
                inner join rejected as r using (_row)
                """
            )
        except duckdb.Error as exc:
            raise _read_error(exc, "sales", encoding, list(headers)) from exc
        duplicate_rows = f"union all select _row, _source_file, {', '.join(raw)}, reason from duplicate_rows"
    else:
        duplicate_rows = ""
    rejected = con.execute(
        f"""
        insert into rejected_sales (ingest_id, source_row, date, product_id, quantity, price, promo, reason,
            source_file)
        with rejected as (
            select _row, _source_file, {", ".join(raw)}, reason
            from checked_sales
            where reason is not null
            {duplicate_rows}
        )

        select ?, r._row - f.row_offset, {", ".join(f"r.{name}" for name in raw)}, r.reason, r._source_file
        from rejected as r
        inner join sales_file_rows as f using (_source_file)
        order by r._row
        """,
        [ingest_id],
    ).fetchone()[0]
    return {
        "read": read,
        "loaded": read - rejected,
        "rejected": rejected,
        "replaced": replaced,
        "per_file": per_file,
    }


# ------------------------------------------------------------------------------ model inputs


def load_training_data(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All sales and all products, as frames of the data contract."""
    sales = con.execute(
        f"select {DATE}, {PRODUCT}, {QUANTITY}, {PRICE}, cast({PROMO} as integer) as {PROMO} "
        f"from sales order by {PRODUCT}, {DATE}"
    ).df()
    products = con.execute(f"select * from products order by {PRODUCT}").df()
    if products.empty:
        raise ValueError("the database has no products: run `demand-forecast ingest` first")
    if sales.empty:
        raise ValueError("the database has no sales: run `demand-forecast ingest` first")
    return sales, products


def check_forecast_inputs(con: duckdb.DuckDBPyConnection, attributes: Sequence[str]) -> None:
    """Raise ``ValueError`` unless the database holds products, sales, and a value of every attribute.

    What a forecast needs first, read in milliseconds: a command can refuse before it starts a flow.
    An attribute every product lacks (a products file without a ``brand`` column leaves the column
    empty) would make one group of all products and fit silently; it is an error instead.
    """
    if con.execute("select count(*) from (select 1 from products limit 1)").fetchone()[0] == 0:
        raise ValueError("the database has no products: run `demand-forecast ingest` first")
    if con.execute("select count(*) from (select 1 from sales limit 1)").fetchone()[0] == 0:
        raise ValueError("the database has no sales: run `demand-forecast ingest` first")
    columns = {c.lower(): c for c in _columns(con, "products")}
    have = [c for c in columns.values() if c != PRODUCT]
    missing = [a for a in attributes if a.lower() not in columns]
    if missing:
        raise ValueError(
            f"products have no column(s) {missing} named in the hierarchy; their attributes: {have} "
            f"(name them with --nested/--crossed)"
        )
    empty = [
        a
        for a in attributes
        if con.execute(f"select count({_q(columns[a.lower()])}) from products").fetchone()[0] == 0
    ]
    if empty:
        filled = [c for c in have if con.execute(f"select count({_q(c)}) from products").fetchone()[0]]
        raise ValueError(
            f"no product has a value for {empty} (its products file had no such column); attributes "
            f"with values: {filled}: name those with --nested/--crossed"
        )


def read_plan(path: str | Path) -> pd.DataFrame:
    """Planned ``(date, product_id, [price], [promo])`` for the horizon, from CSV or Parquet."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"plan file not found: {path}")
    con = duckdb.connect()
    try:
        frame = con.execute(f"select * exclude (_source_file) from {_reader([path], 'utf-8')}").df()
    finally:
        con.close()
    missing = [c for c in (DATE, PRODUCT) if c not in frame.columns]
    if missing or not ({PRICE, PROMO} & set(frame.columns)):
        raise IngestError(
            f"plan file {path} needs columns '{DATE}', '{PRODUCT}' and '{PRICE}' and/or '{PROMO}'; "
            f"found {list(frame.columns)}"
        )
    for col in (PRICE, PROMO):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="raise")
    return frame


# ---------------------------------------------------------------------------------- results


def start_run(con: duckdb.DuckDBPyConnection, run_id: str, record: dict[str, Any]) -> None:
    """Record a run as running before any work, so a crash leaves a trace.

    Records the writing process (pid, host) and first marks runs whose writer is gone as failed
    (see ``mark_stale_runs_failed``).
    """
    mark_stale_runs_failed(con)
    fields = {
        "run_id": run_id,
        "created_at": _now(),
        "status": "running",
        "writer_pid": os.getpid(),
        "writer_host": socket.gethostname(),
        **record,
    }
    _insert_row(con, "forecast_runs", fields)


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


def write_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    forecasts: pd.DataFrame,
    draws: DrawsFrame,
    record: dict[str, Any],
    publish: bool = True,
    tables: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Write a run's forecasts, draws and per-run ``tables`` (``fit_diagnostics``,
    ``product_effects``) and mark it succeeded, all in one transaction."""
    con.execute("begin transaction")
    try:
        for table, frame in (tables or {}).items():
            con.register("new_rows", frame)
            cols = ", ".join(_q(c) for c in frame.columns)
            con.execute(f"insert into {table} (run_id, {cols}) select ?, {cols} from new_rows", [run_id])
            con.unregister("new_rows")
        con.register("new_forecasts", forecasts)
        cols = ", ".join([PRODUCT, DATE, "mean", *QUANTILE_COLUMNS])
        con.execute(f"insert into forecasts (run_id, {cols}) select ?, {cols} from new_forecasts", [run_id])
        con.register(
            "draw_products",
            pd.DataFrame({"p": np.arange(len(draws.products)), PRODUCT: draws.products}),
        )
        con.register("draw_dates", pd.DataFrame({"t": np.arange(len(draws.dates)), DATE: draws.dates}))
        con.register("new_draws", draws.frame())
        con.execute(
            f"""
            insert into forecast_draws
            select ?, p.{PRODUCT}, t.{DATE}, d.draw, d.quantity
            from new_draws as d
            join draw_products as p using (p)
            join draw_dates as t using (t)
            order by p.{PRODUCT}, t.{DATE}, d.draw
            """,
            [run_id],
        )
        update_run(
            con,
            run_id,
            {"status": "succeeded", **record, "published": publish, "finished_at": _now()},
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        for name in ("new_forecasts", "draw_products", "draw_dates", "new_draws"):
            con.unregister(name)


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
    if record["status"] != "unconverged":
        state = (
            "already published"
            if record["published"]
            else f"{record['status']}, with no forecasts to publish"
        )
        raise ValueError(
            f"run {run_id} is {state}; only a run stored as unconverged can be published by hand"
        )
    note = (
        f"published by hand on {_now():%Y-%m-%d %H:%M} UTC though it failed its checks ({record['problems']})"
    )
    message = f"{record['message']}; {note}" if record["message"] else note
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
    update_run(con, run_id, {"status": "failed", "message": message, "finished_at": _now()})


# -------------------------------------------------------------------------------- backtests

BACKTEST_QUANTILES = ["p025", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p975"]


def start_backtest(con: duckdb.DuckDBPyConnection, backtest_id: str, record: dict[str, Any]) -> None:
    """Record a backtest as running before any fit, so a crash leaves a trace."""
    _insert_row(
        con, "backtest_runs", {"backtest_id": backtest_id, "created_at": _now(), "status": "running"} | record
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
            cols = ", ".join(_q(c) for c in frame.columns)
            con.execute(
                f"insert into {table} (backtest_id, {cols}) select ?, {cols} from new_rows", [backtest_id]
            )
            con.unregister("new_rows")
        _update(
            con,
            "backtest_runs",
            "backtest_id",
            backtest_id,
            {"status": "succeeded", **record, "finished_at": _now()},
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def fail_backtest(con: duckdb.DuckDBPyConnection, backtest_id: str, message: str) -> None:
    _update(
        con,
        "backtest_runs",
        "backtest_id",
        backtest_id,
        {"status": "failed", "message": message, "finished_at": _now()},
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


@dataclass
class DrawsFrame:
    """Sample paths as an array (draw, product, period) with the labels of its axes."""

    values: np.ndarray
    products: np.ndarray
    dates: pd.DatetimeIndex

    def frame(self) -> pd.DataFrame:
        n_draw, n_prod, n_time = self.values.shape
        d, p, t = np.meshgrid(np.arange(n_draw), np.arange(n_prod), np.arange(n_time), indexing="ij")
        return pd.DataFrame(
            {
                "draw": d.ravel().astype(np.int32),
                "p": p.ravel().astype(np.int32),
                "t": t.ravel().astype(np.int32),
                "quantity": self.values.ravel().astype(np.int32),
            }
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def _insert_row(con: duckdb.DuckDBPyConnection, table: str, fields: dict[str, Any]) -> None:
    names = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    con.execute(f"insert into {table} ({names}) values ({marks})", [_jsonable(v) for v in fields.values()])


def update_run(con: duckdb.DuckDBPyConnection, run_id: str, fields: dict[str, Any]) -> None:
    _update(con, "forecast_runs", "run_id", run_id, fields)


def _update(con: duckdb.DuckDBPyConnection, table: str, key: str, value: str, fields: dict[str, Any]) -> None:
    sets = ", ".join(f"{k} = ?" for k in fields)
    con.execute(
        f"update {table} set {sets} where {key} = ?",
        [_jsonable(v) for v in fields.values()] + [value],
    )


# ---------------------------------------------------------------------------- scheduled runs


def input_fingerprints(sales_path: FilesSpec, products_path: FilesSpec) -> list[tuple[str, str, str]]:
    """``(kind, path, sha256)`` of every input file, sorted: what an ingest of these inputs would read.

    The same content gives the same fingerprints (ingest skips a file it has seen by this hash), so a
    scheduler can tell an unchanged inbox from these alone.
    """
    rows = [("sales", str(f), _fingerprint(f)) for f in resolve_files(sales_path)]
    rows += [("products", str(f), _fingerprint(f)) for f in resolve_files(products_path)]
    return sorted(rows)


def run_record(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any] | None:
    """A run's ``forecast_runs`` row as a dict, or None."""
    cursor = con.execute("select * from forecast_runs where run_id = ?", [run_id])
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


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


def database_id(con: duckdb.DuckDBPyConnection) -> str:
    """The database's identity (``database_info``): fixed for its lifetime, new for a new file."""
    return con.execute("select database_id from database_info").fetchone()[0]
