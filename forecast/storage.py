"""DuckDB storage: the only module that talks to the database.

Schema comes from the numbered files in ``sql/``; ingest validates every input row in SQL (DuckDB's
readers, no Python row loops) and puts it either in ``sales`` or in ``rejected_sales`` with a reason;
a forecast run's outputs land in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from forecast.schema import DATE, PRICE, PRODUCT, PROMO, QUANTILE_COLUMNS, QUANTITY, SALES_REQUIRED

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
DEFAULT_DB = Path("data") / "demand.duckdb"


def default_db_path() -> Path:
    """``$DEMAND_DB`` when set, else ``data/demand.duckdb``."""
    return Path(os.environ.get("DEMAND_DB") or DEFAULT_DB)


def schema_files() -> list[Path]:
    return sorted(SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))


def connect(path: str | Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the database (creating it and its schema when writable); ``":memory:"`` for tests."""
    path = default_db_path() if path is None else path
    if str(path) != ":memory:" and not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        apply_schema(con)
    return con


def apply_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Run every numbered DDL file in order; each is idempotent."""
    for file in schema_files():
        con.execute(file.read_text())


def query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


# --------------------------------------------------------------------------------------- ingest


class IngestError(ValueError):
    """The input cannot be loaded at all (a file-level problem, not a bad row)."""


@dataclass
class IngestSummary:
    ingest_id: str
    already_ingested: bool
    products_read: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    reasons: dict[str, int]

    def __str__(self) -> str:
        if self.already_ingested:
            return f"already ingested as {self.ingest_id}: nothing changed"
        text = (
            f"ingest {self.ingest_id}: {self.products_read} products; sales rows read "
            f"{self.rows_read} = loaded {self.rows_loaded} + rejected {self.rows_rejected}"
        )
        for reason, n in sorted(self.reasons.items(), key=lambda kv: -kv[1]):
            text += f"\n  rejected {n}: {reason}"
        return text


def _fingerprint(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _reader(path: Path) -> str:
    """A DuckDB table function reading ``path`` with every column as text."""
    if not path.exists():
        raise IngestError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise IngestError(f"file is empty: {path}")
    quoted = "'" + str(path).replace("'", "''") + "'"
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return f"read_parquet({quoted})"
    if suffix in (".csv", ".txt", ".gz"):
        return f"read_csv({quoted}, header = true, all_varchar = true)"
    raise IngestError(f"unsupported file type '{path.suffix}' for {path}: use .csv or .parquet")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {table}").fetchall()]


def ingest(
    con: duckdb.DuckDBPyConnection, sales_path: str | Path, products_path: str | Path
) -> IngestSummary:
    """Load a products file and a sales file; each row lands in ``sales`` or ``rejected_sales``.

    Runs as one transaction: it lands whole or not at all. The same pair of files a second time
    changes nothing; a row for a (date, product) already loaded replaces it.
    """
    sales_path, products_path = Path(sales_path), Path(products_path)
    sales_src, products_src = _reader(sales_path), _reader(products_path)
    fingerprint = _fingerprint(sales_path, products_path)
    done = con.execute(
        "select ingest_id, products_read, rows_read, rows_loaded, rows_rejected "
        "from ingest_log where fingerprint = ?",
        [fingerprint],
    ).fetchone()
    if done:
        return IngestSummary(done[0], True, done[1], done[2], done[3], done[4], {})

    ingest_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    con.execute("begin transaction")
    try:
        try:
            con.execute(f"create or replace temp table raw_products as select * from {products_src}")
            con.execute(
                f"create or replace temp table raw_sales as "
                f"select row_number() over () as source_row, * from {sales_src}"
            )
        except duckdb.Error as exc:
            raise IngestError(f"cannot read the input: {str(exc).splitlines()[0]}") from exc
        products_read = _load_products(con)
        summary = _load_sales(con, ingest_id)
        con.execute(
            "insert into ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ingest_id,
                datetime.now(UTC).replace(tzinfo=None),
                str(sales_path),
                str(products_path),
                fingerprint,
                products_read,
                summary["read"],
                summary["loaded"],
                summary["rejected"],
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
    return IngestSummary(
        ingest_id,
        False,
        products_read,
        summary["read"],
        summary["loaded"],
        summary["rejected"],
        reasons,
    )


def _load_products(con: duckdb.DuckDBPyConnection) -> int:
    cols = [c.strip() for c in _columns(con, "raw_products")]
    if PRODUCT not in cols:
        raise IngestError(f"products file has no '{PRODUCT}' column; columns found: {cols}")
    attrs = [c for c in cols if c != PRODUCT]
    n = con.execute("select count(*) from raw_products").fetchone()[0]
    if n == 0:
        raise IngestError("products file has no rows")
    blank = con.execute(
        f"select count(*) from raw_products where coalesce(trim({PRODUCT}), '') = ''"
    ).fetchone()[0]
    if blank:
        raise IngestError(f"products file has {blank} row(s) with an empty {PRODUCT}")
    conflicts = con.execute(
        f"select {PRODUCT} from raw_products group by {PRODUCT} "
        f"having count(distinct ({', '.join(_q(a) for a in attrs) or 'null'})) > 1 limit 3"
    ).fetchall()
    if conflicts:
        raise IngestError(f"products file gives conflicting attributes for {[c[0] for c in conflicts]}")
    existing = set(_columns(con, "products"))
    for attr in attrs:
        if attr not in existing:
            con.execute(f"alter table products add column {_q(attr)} varchar")
    select = ", ".join([f"trim({PRODUCT})"] + [f"cast({_q(a)} as varchar)" for a in attrs])
    target = ", ".join([PRODUCT] + [_q(a) for a in attrs])
    con.execute(
        f"insert or replace into products ({target}) "
        f"select distinct on (trim({PRODUCT})) {select} from raw_products"
    )
    return n


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _load_sales(con: duckdb.DuckDBPyConnection, ingest_id: str) -> dict[str, int]:
    cols = _columns(con, "raw_sales")
    missing = [c for c in SALES_REQUIRED if c not in cols]
    if missing:
        raise IngestError(
            f"sales file lacks required column(s) {missing}; columns found: {cols[1:]} "
            f"(expected {list(SALES_REQUIRED)} plus optional '{PRICE}', '{PROMO}')"
        )
    price = PRICE if PRICE in cols else "null"
    promo = PROMO if PROMO in cols else "null"
    # One reason per row: the first check it fails, in this order.
    con.execute(
        f"""
        create or replace temp table checked_sales as
        with typed as (
            select
                source_row,
                cast({DATE} as varchar) as raw_date,
                cast({PRODUCT} as varchar) as raw_product,
                cast({QUANTITY} as varchar) as raw_quantity,
                cast({price} as varchar) as raw_price,
                cast({promo} as varchar) as raw_promo,
                try_cast(cast({DATE} as varchar) as date) as date,
                trim(cast({PRODUCT} as varchar)) as product_id,
                try_cast(cast({QUANTITY} as varchar) as double) as q,
                try_cast(cast({price} as varchar) as double) as price,
                case lower(trim(cast({promo} as varchar)))
                    when '1' then true when 'true' then true when 'yes' then true
                    when '0' then false when 'false' then false when 'no' then false
                    when '' then null end as promo
            from raw_sales
        ),

        reasoned as (
            select
                *,
                case
                    when raw_date is null or trim(raw_date) = '' then 'missing date'
                    when date is null then 'unparsable date'
                    when product_id is null or product_id = '' then 'missing product_id'
                    when raw_quantity is null or trim(raw_quantity) = '' then 'missing quantity'
                    when q is null then 'non-numeric quantity'
                    when q < 0 then 'negative quantity'
                    when q <> floor(q) then 'fractional quantity'
                    when raw_price is not null and trim(raw_price) <> '' and price is null
                        then 'non-numeric price'
                    when price is not null and price <= 0 then 'non-positive price'
                    when raw_promo is not null and trim(raw_promo) <> '' and promo is null
                        then 'unparsable promo (expected 0/1/true/false)'
                    when product_id not in (select product_id from products)
                        then 'product not in the products file'
                end as reason
            from typed
        ),

        deduped as (
            select
                *,
                count(*) over (partition by date, product_id) as n_same_key,
                count(distinct q) over (partition by date, product_id) as n_quantities,
                row_number() over (partition by date, product_id order by source_row) as nth
            from reasoned
            where reason is null
        ),

        final as (
            select r.* exclude (reason),
                coalesce(
                    r.reason,
                    case
                        when d.n_quantities > 1
                            then 'same date and product twice with different quantities'
                        when d.nth > 1 then 'duplicate row'
                    end
                ) as reason
            from reasoned as r
            left join deduped as d using (source_row)
        )

        select * from final
        """
    )
    con.execute(
        """
        insert or replace into sales
        select date, product_id, cast(q as bigint), price, coalesce(promo, false), ?
        from checked_sales where reason is null
        """,
        [ingest_id],
    )
    con.execute(
        """
        insert into rejected_sales
        select ?, source_row, raw_date, raw_product, raw_quantity, raw_price, raw_promo, reason
        from checked_sales where reason is not null
        """,
        [ingest_id],
    )
    read, loaded = con.execute(
        "select count(*), count(*) filter (where reason is null) from checked_sales"
    ).fetchone()
    if read == 0:
        raise IngestError("sales file has no rows")
    return {"read": read, "loaded": loaded, "rejected": read - loaded}


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


def read_plan(path: str | Path) -> pd.DataFrame:
    """Planned ``(date, product_id, [price], [promo])`` for the horizon, from CSV or Parquet."""
    path = Path(path)
    con = duckdb.connect()
    try:
        frame = con.execute(f"select * from {_reader(path)}").df()
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
    """Record a run as running before any work, so a crash leaves a trace."""
    fields = {"run_id": run_id, "created_at": _now(), "status": "running", **record}
    _insert_row(con, "forecast_runs", fields)


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


def fail_run(con: duckdb.DuckDBPyConnection, run_id: str, message: str) -> None:
    update_run(con, run_id, {"status": "failed", "message": message, "finished_at": _now()})


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
    sets = ", ".join(f"{k} = ?" for k in fields)
    con.execute(
        f"update forecast_runs set {sets} where run_id = ?",
        [_jsonable(v) for v in fields.values()] + [run_id],
    )
