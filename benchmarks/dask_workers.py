"""The same sharded run on a Dask cluster of 1 and of 2 workers, as production would point it at a
scheduler: a ``distributed.LocalCluster`` of single-threaded worker processes is started here and
``demand-forecast forecast --task-runner dask --dask-address ADDRESS`` runs against it.

Usage: ``uv run python benchmarks/dask_workers.py --db /tmp/m5w.duckdb --workers 1 2 -- --nested
state,store --crossed category,department --shards 4 --stage1-products 200 --horizon 13``: the
arguments after ``--`` go to ``demand-forecast forecast``. Each count runs on its own copy of the
database (the original is not written). Reports the command's wall seconds and the run's stage
timings (``forecast_runs.timings``); ``--save NAME`` writes ``results/NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from _common import save
from distributed import LocalCluster


def one(db: str, workers: int, forecast_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        copy = str(Path(folder) / "run.duckdb")
        shutil.copy(db, copy)
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster:
            command = [
                sys.executable, "-m", "flows.cli", "forecast", "--db", copy, "--task-runner", "dask",
                "--dask-address", cluster.scheduler_address, *forecast_args,
            ]  # fmt: skip
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            seconds = time.perf_counter() - start
        with duckdb.connect(copy, read_only=True) as con:
            run_id, status, timings = con.execute(
                "select run_id, status, timings from forecast_runs order by created_at desc limit 1"
            ).fetchall()[0]
    print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
    return {
        "workers": workers,
        "seconds": round(seconds, 1),
        "exit_code": done.returncode,
        "run_id": run_id,
        "status": status,
        "timings": json.loads(timings) if isinstance(timings, str) else timings,
    }


def main() -> None:
    argv = sys.argv[1:]
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--save", default=None)
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    results = []
    for n in args.workers:
        results.append(one(args.db, n, rest))
        print(json.dumps(results[-1]), flush=True)
    if args.save:
        save(args.save, {"forecast_args": rest, "results": results})


if __name__ == "__main__":
    main()
