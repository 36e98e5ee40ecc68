"""Ingest: products and sales files into DuckDB, every input row loaded or rejected with a reason;
optionally an event calendar, loaded whole or refused whole.

The steps are the SQL files of ``sql/ingest/``, run in their numbered order on DuckDB's readers (no
Python row loops); this module says which run when. The files themselves (finding, delimiters,
encodings, headers, the reader) are ``forecast.storage.input_files``. A file already ingested (by
its content's hash) is skipped, and a corrected row keeps its old value in ``sales_history``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from forecast.contract.schema import AVAILABILITY, END_DATE, LAUNCH_DATE, PRODUCT
from forecast.storage.connection import (
    cap_memory_limit,
    new_id,
    quote_ident,
    size_bytes,
    table_columns,
    utc_now,
)
from forecast.storage.input_files import (
    CONTRACT_COLUMNS,
    FilesSpec,
    IngestError,
    check_events_header,
    check_sales_header,
    choose_delimiter,
    events_column_map,
    file_columns,
    file_fingerprint,
    file_kind,
    file_names,
    missing_attributes,
    no_product_column,
    raw_sales_view,
    read_error,
    read_input,
    resolve_files,
)
from forecast.storage.sql_files import run_sql_file

# DuckDB's memory limit while an ingest runs (``ingest``'s ``memory_limit``): past it the staged sales
# (``checked_sales``, about 130 bytes a row in memory) spill to DuckDB's temporary directory. Under
# DuckDB's own default, 80% of the machine's memory, the 55.7 M row daily M5-shaped catalog's ingest
# peaked at 9.1 GiB resident on a 24 GiB machine; under 4 GiB, at 4.6 GiB in the same 25 s
# (benchmarks/m5_ingest.py, results/m5_ingest.json).
INGEST_MEMORY_LIMIT = "4GiB"


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
    events_read: int = 0  # rows of new events files
    events_added: int = 0  # of those, (date, event, region) rows not in ``events`` before

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
        if self.events_read:
            text += f"; events rows read {self.events_read}, {self.events_added} new"
        if self.files_skipped:
            text += f"; {self.files_skipped} file(s) already ingested, skipped"
        for reason, n in sorted(self.reasons.items(), key=lambda kv: -kv[1]):
            text += f"\n  rejected {n}: {reason}"
        return text


def ingest(
    con: duckdb.DuckDBPyConnection,
    sales_path: FilesSpec,
    products_path: FilesSpec,
    *,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    events: FilesSpec | None = None,
    memory_limit: str | None = INGEST_MEMORY_LIMIT,
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
    events
        Optional event calendar files (columns ``date``, ``event``, optional ``region``, any case;
        ``column_map`` does not apply) into ``events``. A row whose date is not a date or whose
        event is empty fails the whole ingest with the file and row; a (date, event, region)
        already loaded is kept as it is.
    memory_limit
        DuckDB's memory limit while the ingest runs (default ``INGEST_MEMORY_LIMIT``, 4 GiB; never
        above the connection's own, which is restored after): past it the staged rows spill to
        DuckDB's temporary directory (next to a database file) rather than stay in memory. None:
        the connection's limit as it is.

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
    _memory_limit_bytes(memory_limit)
    column_map = dict(column_map or {})
    bad_targets = sorted(set(column_map.values()) - set(CONTRACT_COLUMNS))
    sales_files, product_files = resolve_files(sales_path), resolve_files(products_path)
    event_files = resolve_files(events) if events else []
    fingerprints = {f: file_fingerprint(f) for f in sales_files + product_files + event_files}
    known = dict(con.execute("select kind || ':' || fingerprint, ingest_id from ingest_files").fetchall())
    new_sales = [f for f in sales_files if f"sales:{fingerprints[f]}" not in known]
    new_products = [f for f in product_files if f"products:{fingerprints[f]}" not in known]
    new_sales = list({fingerprints[f]: f for f in reversed(new_sales)}.values())[::-1]
    new_products = list({fingerprints[f]: f for f in reversed(new_products)}.values())[::-1]
    new_events = [f for f in event_files if f"events:{fingerprints[f]}" not in known]
    new_events = list({fingerprints[f]: f for f in reversed(new_events)}.values())[::-1]
    if not new_sales and not new_products and not new_events:
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

    ingest_id = new_id()
    restore_memory_limit = cap_memory_limit(con, memory_limit)
    con.execute("begin transaction")
    try:
        headers: dict[Path, list[str]] = {}
        sales_source = ""
        if new_products:
            headers |= read_input(
                con, new_products, "raw_products", "products", column_map, encoding, delimiter
            )[0]
        if new_sales:
            found, sales_source = read_input(con, new_sales, None, "sales", column_map, encoding, delimiter)
            headers |= found
        seen = {
            c.strip()
            for f in sales_files + product_files
            for c in file_columns(con, f, "input", encoding, delimiter)
        }
        unknown = sorted(set(column_map) - seen)
        if unknown or bad_targets:
            raise IngestError(
                f"column map names column(s) {unknown} that no input file has"
                if unknown
                else f"column map targets {bad_targets} are not contract columns {list(CONTRACT_COLUMNS)}"
            )
        products_read = _load_products(con, new_products) if new_products else 0
        if new_sales:
            csv_files = [f for f in new_sales if file_kind(f) == "csv"]
            decimal_comma = bool(csv_files) and choose_delimiter(csv_files, encoding, delimiter) != ","
            counts = _load_sales(
                con, ingest_id, {f: headers[f] for f in new_sales}, sales_source, encoding, decimal_comma
            )
        else:
            counts = {"read": 0, "loaded": 0, "rejected": 0, "replaced": 0, "per_file": {}}
        event_counts, events_added = {}, 0
        if new_events:
            event_counts, events_added = _load_events(con, ingest_id, new_events, encoding, delimiter)
        for kind, files in (("products", new_products), ("sales", new_sales), ("events", new_events)):
            for f in files:
                rows = {"sales": counts["per_file"], "events": event_counts}.get(kind)
                con.execute(
                    "insert into ingest_files values (?, ?, ?, ?, ?, ?)",
                    [
                        ingest_id,
                        kind,
                        str(f),
                        fingerprints[f],
                        f.stat().st_size,
                        products_read if rows is None else rows.get(str(f), 0),
                    ],
                )
        con.execute(
            "insert into ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ingest_id,
                utc_now(),
                ", ".join(str(f) for f in new_sales) or "(none new)",
                ", ".join(str(f) for f in new_products) or "(none new)",
                hashlib.sha256(
                    "".join(fingerprints[f] for f in new_sales + new_products + new_events).encode()
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
    finally:
        restore_memory_limit()
    reasons = dict(
        con.execute(
            "select reason, count(*) from rejected_sales where ingest_id = ? group by reason",
            [ingest_id],
        ).fetchall()
    )
    warnings = [w for f in new_products if (w := missing_attributes(f, headers[f]))]
    return IngestSummary(
        ingest_id,
        False,
        products_read,
        counts["read"],
        counts["loaded"],
        counts["rejected"],
        reasons,
        rows_replaced=counts["replaced"],
        files_loaded=len(new_sales) + len(new_products) + len(new_events),
        files_skipped=len(sales_files + product_files + event_files)
        - len(new_sales + new_products + new_events),
        warnings=warnings,
        events_read=sum(event_counts.values()),
        events_added=events_added,
    )


def _memory_limit_bytes(limit: str | None) -> float | None:
    """``ingest``'s ``memory_limit`` in bytes (None: none); not a size: a one-line IngestError."""
    if limit is None:
        return None
    wanted = size_bytes(limit)
    if wanted is None:
        raise IngestError(f"memory_limit {limit!r} is not a size such as '4GiB' or '500MB'")
    return wanted


# The products' date columns (``02_product_dates.sql`` types each one the files carry), and what an
# empty value means.
_PRODUCT_DATES = {LAUNCH_DATE: "launched at its first sale", END_DATE: "not discontinued"}


def _load_products(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> int:
    """``raw_products`` (see ``read_input``) into ``products``; an empty, blank or conflicting input, or one
    with an ``end_date`` or ``launch_date`` that is not a date, fails whole."""
    cols = [c for c in table_columns(con, "raw_products") if c not in ("_row", "_source_file")]
    if PRODUCT not in cols:
        raise no_product_column(files, cols)
    rows, blank, conflicts = run_sql_file(con, "01_stage_products.sql").fetchone()
    if rows == 0:
        raise IngestError(f"products file {file_names(files)} has a header but no rows")
    if blank:
        raise IngestError(f"products file {file_names(files)} has {blank} row(s) with an empty {PRODUCT}")
    if conflicts:
        raise IngestError(f"products file {file_names(files)} gives conflicting attributes for {conflicts}")
    for column, empty in _PRODUCT_DATES.items():
        if column not in cols:
            continue
        bad, file, row, product, value = run_sql_file(
            con, "02_product_dates.sql", {"column": column}
        ).fetchone()
        if bad:
            more = f" ({bad} such rows)" if bad > 1 else ""
            raise IngestError(
                f"products file {file} row {row} (product {product!r}): {column} {value!r} is not a "
                f"date (YYYY-MM-DD; empty: {empty}){more}"
            )
    existing = {c.lower() for c in table_columns(con, "products")}  # DuckDB names ignore case
    for attr in cols:
        if attr.lower() not in existing:
            con.execute(f"alter table products add column {quote_ident(attr)} varchar")
    run_sql_file(con, "02_load_products.sql")
    return rows


def _check_availability(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse the whole ingest when an ``availability`` is not an in-stock share from 0 to 1.

    Not a row's rejection reason: a negative stock or a share over 1 says the column is not what the
    contract means (on-hand units, a percentage), and loading the other rows would read them wrong.
    The ingest's transaction rolls back, so nothing of it is loaded.
    """
    bad, file, row, product, day, value = run_sql_file(con, "05_availability.sql").fetchone()
    if bad:
        more = f" ({bad} such rows)" if bad > 1 else ""
        raise IngestError(
            f"sales file {file} row {row} (product {product!r}, date {day}): {AVAILABILITY} {value!r} "
            f"is not an in-stock share from 0 to 1{more}; nothing was loaded: give the share of the "
            f"period in stock (1: all period, 0.5: half; empty: unknown, read as 1)"
        )


def _load_events(
    con: duckdb.DuckDBPyConnection,
    ingest_id: str,
    files: Sequence[Path],
    encoding: str,
    delimiter: str | None,
) -> tuple[dict[str, int], int]:
    """The events files into ``events`` (``08_stage_events.sql``, ``09_load_events.sql``): the rows
    read per file, and how many rows were new to the table. A file without ``date`` and ``event``
    columns, without rows, or with a row whose date is not a date or whose event is empty fails
    whole, naming the file and row."""
    mapping: dict[str, str] = {}
    for f in files:
        header = file_columns(con, f, "events", encoding, delimiter)
        check_events_header(f, header)
        mapping |= events_column_map(header)
    read_input(con, list(files), "raw_events", "events", mapping, encoding, delimiter)
    if "region" not in {c.lower() for c in table_columns(con, "raw_events")}:
        con.execute("alter table raw_events add column region varchar")
    try:
        rows, bad, file, row, problem, value = run_sql_file(con, "08_stage_events.sql").fetchone()
    except duckdb.Error as exc:
        raise read_error(exc, "events", encoding, list(files)) from exc
    if rows == 0:
        raise IngestError(f"events file {file_names(files)} has a header but no rows")
    if bad:
        says = {
            "empty date": "the date is empty",
            "not a date": f"date {value!r} is not a date (YYYY-MM-DD)",
            "empty event": f"the event name is empty (date {value})",
        }[problem]
        more = f"; {bad} bad rows in all" if bad > 1 else ""
        raise IngestError(f"events file {file} row {row}: {says}{more}; nothing was loaded")
    per_file = dict(con.execute("select source_file, count(*) from typed_events group by 1").fetchall())
    added = run_sql_file(con, "09_load_events.sql", {"ingest_id": ingest_id}).fetchone()[0]
    return per_file, added


def _load_sales(
    con: duckdb.DuckDBPyConnection,
    ingest_id: str,
    headers: dict[Path, list[str]],
    source: str,
    encoding: str,
    decimal_comma: bool = False,
) -> dict[str, Any]:
    """Validate the rows of ``source`` (see ``read_input``) and load them into ``sales`` or ``rejected_sales``.

    The files are read once, straight into ``checked_sales`` (``03_stage_sales.sql``,
    ``04_reasons.sql``): typed values and each row's first failed check, the raw text kept only for
    rejected rows. The few rows a repeated (date, product) key rejects get their raw text from a
    second read of the files (``05_duplicate_rows.sql``), only when there are any. Loaded rows are
    looked up for corrections (``06_merge_sales.sql``) only when ``sales`` has rows, else the
    accepted rows are inserted as they are (``06_insert_sales.sql``).
    """
    for file, header in headers.items():
        check_sales_header(file, header)
    try:
        raw_sales_view(con, headers, source)
        run_sql_file(con, "03_stage_sales.sql", {"decimal_comma": decimal_comma})
        run_sql_file(con, "04_reasons.sql")
    except duckdb.Error as exc:
        raise read_error(exc, "sales", encoding, list(headers)) from exc
    if any(AVAILABILITY in h for h in headers.values()):
        _check_availability(con)
    per_file = dict(con.execute("select _source_file, rows_read from sales_file_rows").fetchall())
    read = sum(per_file.values())
    if read == 0:
        raise IngestError(f"sales file {file_names(list(headers))} has a header but no rows")
    if con.execute("select count(*) from duplicate_keys").fetchone()[0]:
        try:
            run_sql_file(con, "05_duplicate_rows.sql")
        except duckdb.Error as exc:
            raise read_error(exc, "sales", encoding, list(headers)) from exc
    if con.execute("select count(*) from (select 1 from sales limit 1)").fetchone()[0]:
        step, params = "06_merge_sales.sql", {"ingest_id": ingest_id, "now": utc_now()}
    else:
        step, params = "06_insert_sales.sql", {"ingest_id": ingest_id}
    replaced = run_sql_file(con, step, params).fetchone()[0]
    rejected = run_sql_file(con, "07_rejected_sales.sql", {"ingest_id": ingest_id}).fetchone()[0]
    # The staged rows (a copy of the input) would hold memory, or temporary disk, until the
    # connection closes: gone now that they are loaded.
    for view in ("accepted_sales", "typed_sales", "sales_text", "raw_sales"):
        con.execute(f"drop view if exists {view}")
    for table in ("checked_sales", "duplicate_keys", "duplicate_rows", "replaced_sales", "product_keys"):
        con.execute(f"drop table if exists {table}")
    return {
        "read": read,
        "loaded": read - rejected,
        "rejected": rejected,
        "replaced": replaced,
        "per_file": per_file,
    }
