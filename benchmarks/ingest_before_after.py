"""Ingest before and after a change, alternating in one process on the same files: the ratio.

Usage: ``uv run python benchmarks/ingest_before_after.py --before 46b24c2 [--rows 1000000]
[--products 2000] [--reps 7]``. "Before" is ``forecast/storage/ingest.py`` at the git revision
``--before`` (it must import from modules that still exist), "after" the working tree's. Each
repetition ingests the generated file (``bench_ingest.generate``) into a fresh database, then a
correction file on top (the last tenth of the rows re-sent, every 7th quantity changed); the two
versions must leave the same tables. Prints each time and the ratio of the medians (after / before).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from bench_ingest import generate

from forecast import storage

ROOT = Path(__file__).resolve().parents[1]


def _before(revision: str, folder: Path):
    text = subprocess.run(
        ["git", "show", f"{revision}:forecast/storage/ingest.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = folder / "ingest_before.py"
    path.write_bytes(text)
    spec = importlib.util.spec_from_file_location("forecast.storage._ingest_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _tables(con: duckdb.DuckDBPyConnection) -> list:
    return [
        con.execute(q).fetchall()
        for q in (
            "select count(*), sum(quantity), sum(price), count(distinct ingest_id) from sales",
            "select count(*), sum(quantity) from sales_history",
            "select reason, count(*), sum(source_row) from rejected_sales group by reason order by reason",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="git revision of the old forecast/storage/ingest.py")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        versions = {
            "before": _before(args.before, folder),
            "after": importlib.import_module("forecast.storage.ingest"),
        }
        sales, products = generate(folder, args.rows, args.products)
        fix = folder / "fix.csv"
        duckdb.execute(
            f"""
            copy (
                select date, product_id,
                    case when row_number() over () % 7 = 0 then (try_cast(quantity as int) + 1)::varchar
                        else quantity end as quantity,
                    price, promo
                from read_csv('{sales}', all_varchar = true)
                offset {args.rows - args.rows // 10}
            ) to '{fix}' (header)
            """
        )
        fresh: dict[str, list[float]] = {name: [] for name in versions}
        fixes: dict[str, list[float]] = {name: [] for name in versions}
        tables = {}
        for rep in range(args.reps):
            order = list(versions) if rep % 2 == 0 else list(versions)[::-1]
            for name in order:
                db = folder / f"{name}{rep}.duckdb"
                con = storage.connect(db)
                t0 = time.perf_counter()
                versions[name].ingest(con, sales, products)
                fresh[name].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                versions[name].ingest(con, fix, products)
                fixes[name].append(time.perf_counter() - t0)
                tables[name] = _tables(con)
                con.close()
                db.unlink()
        assert tables["before"] == tables["after"], tables
        for what, times in (("fresh database", fresh), ("correction file on top", fixes)):
            for name in versions:
                print(f"{what}, {name}: {' '.join(f'{t:.2f}' for t in times[name])} s")
            before, after = statistics.median(times["before"]), statistics.median(times["after"])
            print(
                f"{what}: median before {before:.2f} s, after {after:.2f} s, after/before {after / before:.2f}"
            )


if __name__ == "__main__":
    main()
