"""Fit, forecast and write time, diagnostics and peak memory by catalog size.

    uv run python benchmarks/scaling.py 200 1000 5000

Each size runs in its own process (peak memory is per size): a demo-like catalog of two years of
weekly sales, the default configuration (nutpie, 2 chains, `ForecastConfig`'s tuning and draws), forecasts
written to a temporary DuckDB file.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import prepared, save


def one(n: int) -> dict:
    from forecast import runs, storage
    from forecast.config.options import ForecastConfig
    from forecast.contract.run_record import RunRecord

    config = ForecastConfig()
    t0 = time.perf_counter()
    p = prepared(n, config=config)
    t_prepare = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitted = runs.fit_model(p, config, progressbar=False)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    forecasts, paths = runs.forecast(p, fitted, config)
    tables = runs.run_tables(p, fitted)
    t_forecast = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        con = storage.connect(Path(tmp) / "bench.duckdb")
        record = RunRecord.started("bench")
        storage.start_run(con, record)
        record = record.with_(**runs.describe(p, config)).finished(True, "checks")
        storage.write_run(con, record, forecasts, paths, tables=tables)
        con.close()
    t_write = time.perf_counter() - t0
    stats = fitted.idata.sample_stats
    d = fitted.diagnostics
    return {
        "products": n,
        "rows": len(p.design.train),
        "prepare_s": round(t_prepare, 1),
        "fit_s": round(t_fit, 1),
        "forecast_s": round(t_forecast, 1),
        "write_s": round(t_write, 1),
        "total_s": round(t_prepare + t_fit + t_forecast + t_write, 1),
        "mean_leapfrog_steps": round(float(stats["n_steps"].mean()), 1),
        "verdict": d["verdict"],
        "max_rhat": round(d["max_rhat"], 4),
        "min_ess_hyper": round(d["min_ess_hyper"], 0),
        "divergences": d["divergences"],
        "problems": d.get("problems"),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]))))
        sys.exit(0)
    results = []
    for n in [int(a) for a in sys.argv[1:]]:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(results[-1], flush=True)
    save("scaling", {"results": results})
