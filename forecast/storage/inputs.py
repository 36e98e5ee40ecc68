"""What a forecast reads from the database: the history, a check that it can be fitted, a plan file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from forecast.contract.schema import (
    AVAILABILITY,
    DATE,
    NOT_ATTRIBUTES,
    PRICE,
    PRODUCT,
    PROMO,
    QUANTITY,
)
from forecast.storage.connection import quote_ident, table_columns
from forecast.storage.input_files import IngestError, csv_or_parquet_reader


def load_training_data(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All sales and all products, as frames of the data contract.

    ``availability`` comes only when some row has one: without it the design reads no period as
    censored, exactly as before the column existed.
    """
    stocked = con.execute(f"select count({AVAILABILITY}) > 0 from sales").fetchone()[0]
    extra = f", {AVAILABILITY}" if stocked else ""
    sales = con.execute(
        f"select {DATE}, {PRODUCT}, {QUANTITY}, {PRICE}, cast({PROMO} as integer) as {PROMO}{extra} "
        f"from sales order by {PRODUCT}, {DATE}"
    ).df()
    products = con.execute(f"select * from products order by {PRODUCT}").df()
    if products.empty:
        raise ValueError("the database has no products: run `demand-forecast ingest` first")
    if sales.empty:
        raise ValueError("the database has no sales: run `demand-forecast ingest` first")
    return sales, products


def load_events(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The event calendar: one row per (date, event), whatever its region (the model has none);
    no rows when no events file was ingested (the run may then use ``holiday_country``'s holidays)."""
    return con.execute("select distinct date, event from events order by date, event").df()


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
    columns = {c.lower(): c for c in table_columns(con, "products")}
    have = [c for c in columns.values() if c.lower() not in NOT_ATTRIBUTES]
    missing = [a for a in attributes if a.lower() not in columns]
    if missing:
        raise ValueError(
            f"products have no column(s) {missing} named in the hierarchy; their attributes: {have} "
            f"(name them with --nested/--crossed)"
        )
    empty = [
        a
        for a in attributes
        if con.execute(f"select count({quote_ident(columns[a.lower()])}) from products").fetchone()[0] == 0
    ]
    if empty:
        filled = [
            c for c in have if con.execute(f"select count({quote_ident(c)}) from products").fetchone()[0]
        ]
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
        frame = con.execute(
            f"select * exclude (_source_file) from {csv_or_parquet_reader([path], 'utf-8')}"
        ).df()
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
