"""The analysts' example queries on a large run's draws: seconds per query, the database's size and
the run's draw rows (issue: storage that scales to 30,490 products x 13 weeks x the default paths).

Usage: ``uv run python benchmarks/m5_queries.py --db /tmp/m5w.duckdb [--run RUN_ID] [--repeat 3]
[--save NAME]``: the newest published run unless ``--run`` names one. Each query runs ``--repeat``
times on a fresh read-only connection (the first run reads from disk); the median and the first are
reported. ``--save`` adds the figures under ``NAME`` to ``results/m5_queries.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import duckdb
from _common import OUT

# (name, SQL with ? for the run id and, where named, ? for a product id)
QUERIES = {
    # a category's weekly quantiles, summed within each draw from the draws themselves
    "category x week quantiles from the draws": """
        with summed as (
            select p.category, d.date, d.draw, sum(d.quantity) as units
            from forecast_draws as d join products as p using (product_id)
            where d.run_id = ?
            group by all
        )
        select category, date, unnest(path_summary(units)) from summed group by category, date order by 1, 2
    """,
    # the same from the level table the write fills (what the dashboards read)
    "category x week quantiles, stored levels": """
        select * from level_forecasts where run_id = ? and lower(attribute) = 'category' order by level, date
    """,
    # one state's total: any slice of products, from the draws (sql/009 slice_forecast_by)
    "a slice (one state) from the draws": """
        select * from slice_forecast_by(map {'state': 'CA'}, run := ?)
    """,
    # one product's fan chart: its quantiles, and its sample paths
    "one product's fan chart (forecasts)": """
        select date, mean, p05, p10, p25, p50, p75, p90, p95 from forecasts
        where run_id = ? and product_id = ? order by date
    """,
    "one product's sample paths": """
        select date, draw, quantity from forecast_draws where run_id = ? and product_id = ? order by all
    """,
}


def timed(db: str, sql: str, params: list, repeat: int) -> tuple[float, float, int]:
    """First and median seconds of ``repeat`` runs, each on a fresh connection, and the rows returned."""
    seconds, rows = [], 0
    for _ in range(repeat):
        with duckdb.connect(db, read_only=True) as con:
            start = time.perf_counter()
            rows = len(con.execute(sql, params).fetchall())
            seconds.append(time.perf_counter() - start)
    return seconds[0], statistics.median(seconds), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--run", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--save", default=None)
    args = parser.parse_args()
    with duckdb.connect(args.db, read_only=True) as con:
        run = args.run or con.execute("select run_id from latest_run").fetchall()[0][0]
        product = con.execute(
            "select product_id from forecasts where run_id = ? order by product_id limit 1", [run]
        ).fetchall()[0][0]
        draws, products, paths = con.execute(
            "select count(*), count(distinct product_id), max(draw) + 1 from forecast_draws where run_id = ?",
            [run],
        ).fetchall()[0]
        runs_stored = con.execute("select count(distinct run_id) from forecast_draws").fetchall()[0][0]
    figures = {
        "run": run,
        "draw_rows": draws,
        "products": products,
        "paths": paths,
        "runs_with_draws_in_db": runs_stored,
        "db_mb": round(Path(args.db).stat().st_size / 1e6, 1),
        "queries": {},
    }
    for name, sql in QUERIES.items():
        params = [run, product] if sql.count("?") == 2 else [run]
        first, median, rows = timed(args.db, sql, params, args.repeat)
        figures["queries"][name] = {"first_s": round(first, 3), "median_s": round(median, 3), "rows": rows}
        print(f"{name}: first {first:.2f} s, median {median:.2f} s, {rows} rows", flush=True)
    print(json.dumps({k: v for k, v in figures.items() if k != "queries"}))
    if args.save:
        path = OUT / "m5_queries.json"
        saved = json.loads(path.read_text()) if path.exists() else {}
        saved[args.save] = figures
        OUT.mkdir(exist_ok=True)
        path.write_text(json.dumps(saved, indent=2, default=str))


if __name__ == "__main__":
    main()
