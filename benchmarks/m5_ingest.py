"""Ingest the M5-shaped catalog's files (``benchmarks/m5_catalog.py``) into a fresh DuckDB file
with the project's ingest (``storage.ingest``): rows loaded and rejected, seconds, peak memory of
this process, the database's size, and each SQL step's seconds and memory.

Usage: ``uv run python benchmarks/m5_ingest.py --files /tmp/m5_daily --db /tmp/m5_daily.duckdb
--name daily`` (the database is deleted first). ``--save`` adds the figures under ``--name`` to
``results/m5_ingest.json`` (other names kept). Run one at a time: the peak memory is the process's.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import threading
import time
from pathlib import Path

import duckdb
from _common import OUT, save

from forecast import storage

ingest_module = importlib.import_module(
    "forecast.storage.ingest"
)  # the module (storage.ingest: its function)


def rss_mib() -> float:
    """Resident memory now, MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Sampler:
    """Resident memory sampled every ``every`` seconds on a thread: the peak within each step."""

    def __init__(self, every: float = 0.1) -> None:
        self.every, self.peak, self._stop = every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib())
            time.sleep(self.every)

    def take(self) -> float:
        """The peak since the last take, and start again."""
        peak, self.peak = max(self.peak, rss_mib()), rss_mib()
        return peak

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=Path, required=True, help="folder of m5_catalog.py's files")
    parser.add_argument("--db", type=Path, required=True, help="a fresh DuckDB file (deleted first)")
    parser.add_argument("--name", default="m5")
    parser.add_argument("--save", action="store_true")
    parser.add_argument(
        "--memory-limit",
        default=ingest_module.INGEST_MEMORY_LIMIT,
        help="ingest's memory_limit ('none': DuckDB's own limit) [default: %(default)s]",
    )
    args = parser.parse_args()
    for path in (args.db, args.db.with_suffix(args.db.suffix + ".wal")):
        path.unlink(missing_ok=True)

    steps: list[dict] = []
    run_sql_file = ingest_module.run_sql_file

    with Sampler() as sampler:

        def timed(con, name, params=None):
            t0 = time.perf_counter()
            result = run_sql_file(con, name, params)
            steps.append(
                {
                    "step": str(name),
                    "seconds": round(time.perf_counter() - t0, 2),
                    "peak_rss_mib": round(sampler.take()),
                }
            )
            print(f"  {steps[-1]}", flush=True)
            return result

        ingest_module.run_sql_file = timed
        con = storage.connect(args.db)
        settings = dict(
            con.execute(
                "select name, value from duckdb_settings() where name in ('memory_limit', 'threads')"
            ).fetchall()
        )
        sampler.take()
        t0 = time.perf_counter()
        summary = storage.ingest(
            con,
            args.files / "sales.parquet",
            args.files / "products.csv",
            events=args.files / "events.csv",
            memory_limit=None if args.memory_limit.lower() == "none" else args.memory_limit,
        )
        seconds = time.perf_counter() - t0
        con.execute("checkpoint")
        con.close()
        ingest_module.run_sql_file = run_sql_file

    print(summary)
    db_size = args.db.stat().st_size
    figures = {
        "command": " ".join(["uv run python", *sys.argv]),
        "files": str(args.files),
        "sales_parquet_bytes": (args.files / "sales.parquet").stat().st_size,
        "rows_read": summary.rows_read,
        "rows_loaded": summary.rows_loaded,
        "rows_rejected": summary.rows_rejected,
        "products_read": summary.products_read,
        "events_read": summary.events_read,
        "ingest_seconds": round(seconds, 1),
        "rows_per_second": round(summary.rows_read / seconds),
        "peak_rss_mib": round(peak_rss_mib()),
        "duckdb_bytes": db_size,
        "duckdb_settings": settings,
        "ingest_memory_limit": args.memory_limit,
        "duckdb_version": duckdb.__version__,
        "steps": steps,
    }
    print(json.dumps(figures, indent=2))
    if args.save:
        path = OUT / "m5_ingest.json"
        payload = json.loads(path.read_text()) if path.exists() else {}
        payload = {k: v for k, v in payload.items() if k not in ("command", "machine")}
        payload[args.name] = figures
        save("m5_ingest", payload)


if __name__ == "__main__":
    main()
