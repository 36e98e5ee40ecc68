"""Coherent category quantiles over the draws, and the size of the draws on disk per layout.

Usage: ``uv run python benchmarks/bench_draws.py [--products 1000] [--weeks 13] [--draws 1000]``.
Draws are generated in DuckDB (Poisson-like counts); the timed query is ``category_forecasts``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from forecast import storage

LAYOUTS = {
    "current (varchar run/product, date, int draw, int quantity; product, date, draw order)": """
        create table d as select * from forecast_draws order by run_id, product_id, date, draw
    """,
    "small ints (usmallint draw, usmallint quantity), same order": """
        create table d (run_id varchar, product_id varchar, date date, draw usmallint, quantity usmallint);
        insert into d select * from forecast_draws order by run_id, product_id, date, draw
    """,
    "dictionary ids (int product key, smallint period, usmallint draw, usmallint quantity)": """
        create table d as
        select dense_rank() over (order by product_id)::integer as p, dense_rank() over (order by date)::smallint as t,
            draw::usmallint as draw, quantity::usmallint as quantity
        from forecast_draws order by p, t, draw
    """,
    "current columns, draw-major order (draw, product, date)": """
        create table d as select * from forecast_draws order by run_id, draw, product_id, date
    """,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    n = args.products * args.weeks * args.draws
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        con = storage.connect(db)
        con.execute(
            f"""
            insert into products (product_id, category, brand, color)
            select 'P' || lpad(i::varchar, 5, '0'), 'cat' || (i % 12), 'brand' || (i % 60), 'color' || (i % 9)
            from range({args.products}) as t(i)
            """
        )
        con.execute(
            "insert into forecast_runs (run_id, created_at, status, published) values ('r', now(), 'succeeded', true)"
        )
        t0 = time.perf_counter()
        con.execute(
            f"""
            insert into forecast_draws
            select 'r', 'P' || lpad(p::varchar, 5, '0'), date '2025-01-06' + (7 * w)::integer, d,
                floor(-ln(random()) * (1 + p % 20))::integer
            from range({args.products}) as a(p), range({args.weeks}) as b(w), range({args.draws}) as c(d)
            order by p, w, d
            """
        )
        print(f"{n / 1e6:.0f}M draws generated in {time.perf_counter() - t0:.1f}s")
        con.execute("checkpoint")
        for _ in range(2):  # second one is warm
            t0 = time.perf_counter()
            rows = con.execute("select * from category_forecasts").fetchall()
            print(f"category_forecasts: {len(rows)} rows in {time.perf_counter() - t0:.2f}s")
        t0 = time.perf_counter()
        con.execute("select * from slice_forecast(category := 'cat3', color := 'color1')").fetchall()
        print(f"slice_forecast(category, color): {time.perf_counter() - t0:.2f}s")
        con.close()
        print(f"\nstorage per million draws ({n / 1e6:.0f}M draws):")
        for name, ddl in LAYOUTS.items():
            path = Path(tmp) / "layout.duckdb"
            out = duckdb.connect(str(path))
            out.execute(f"attach '{db}' as src (read_only)")
            out.execute("use src")
            out.execute("use layout")
            for stmt in ddl.replace("forecast_draws", "src.forecast_draws").split(";"):
                if stmt.strip():
                    out.execute(stmt)
            size = out.execute(
                "select sum(total_blocks * block_size) from pragma_database_size() where database_name = 'layout'"
            ).fetchone()[0]
            out.execute("detach src")
            out.close()
            print(f"  {size / n * 1e6 / 1e6:6.2f} MB  duckdb table: {name}")
            path.unlink()
        con = duckdb.connect(str(db), read_only=True)
        for codec in ("zstd", "snappy"):
            pq = Path(tmp) / f"draws_{codec}.parquet"
            con.execute(
                f"copy (select * from forecast_draws order by product_id, date, draw) to '{pq}' (format parquet, compression {codec})"
            )
            print(f"  {pq.stat().st_size / n * 1e6 / 1e6:6.2f} MB  parquet export, {codec}")
        con.close()


if __name__ == "__main__":
    main()
