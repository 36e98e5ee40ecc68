"""What sharding costs in accuracy, and what it buys in wall time, on the demo catalog.

    uv run python benchmarks/sharding.py            # 1, 2 and 4 shards
    uv run python benchmarks/sharding.py 1 2 4 --workers 2

The demo's catalog (500 products, 104 weeks, seed 42) plus 13 held-out weeks, forecast under the
generator's own prices and promotions for those weeks. One unsharded fit (the default single model,
in this process) against the two-stage sharded fit: stage 1 (the full model on a stratified sample
of 200 products) is fitted once and its time is added to every shard count, since it does not
depend on the count; stage 2 runs the shards on a fresh ``distributed.LocalCluster`` of single-
threaded worker processes (one per shard unless ``--workers``) and its wall time runs from the
first submit to the last result, worker start-up and model compilation included. Every fit uses
the default sampler settings (nutpie, 2 chains, `ForecastConfig`'s tuning and draws). Scores: mean CRPS and
80% randomized-PIT coverage over every (product, week) of the held-out weeks.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from _common import save

N_PRODUCTS, N_TRAIN, HORIZON, SAMPLE = 500, 104, 13, 200


def _shard_with_memory(shard, shared, config):
    """A shard's fit in a worker, with the worker process's peak memory (GiB)."""
    from forecast import shards

    result = shards.fit_shard(shard, shared, config)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def score(paths, future) -> dict:
    from forecast.evaluation.scores import crps_samples, randomized_pit

    index = {(p, d): (i, j) for i, p in enumerate(paths.products) for j, d in enumerate(paths.dates)}
    i, j = np.array([index[(p, d)] for p, d in zip(future["product_id"], future["date"], strict=True)]).T
    samples = paths.values[:, i, j]
    y = future["quantity"].to_numpy()
    u = randomized_pit(y, samples)
    return {
        "crps": float(crps_samples(y, samples).mean()),
        "coverage80": float(((u >= 0.1) & (u <= 0.9)).mean()),
    }


def main(counts: list[int], workers: int | None, n_products: int, quick: bool) -> None:
    from distributed import Client, LocalCluster

    from forecast import runs, shards
    from forecast.config.options import ForecastConfig
    from forecast.contract.paths import SamplePaths
    from forecast.prep.synthetic import generate_retail_data

    data = generate_retail_data(n_products=n_products, n_periods=N_TRAIN, horizon=HORIZON, seed=42)
    end = np.sort(data.mean["date"].unique())[N_TRAIN - 1]
    train = data.sales[data.sales["date"] <= end]
    future = data.mean[data.mean["date"] > end]
    plan = future[["date", "product_id", "price", "promo"]]
    config = ForecastConfig(horizon=HORIZON)
    if quick:  # a smoke run of the script, not a measurement
        config = config.with_(draws=100, tune=100, sample_paths=50)
    prepared = runs.prepare(train, data.products, config, plan)
    sample = min(SAMPLE, n_products // 2)
    rows = len(prepared.design.train)
    print(f"{n_products} products, {rows} rows", flush=True)

    t0 = time.perf_counter()
    fitted = runs.fit_model(prepared, config, progressbar=False)
    _, paths = runs.forecast(prepared, fitted, config)
    unsharded = {
        "wall_s": round(time.perf_counter() - t0, 1),
        "verdict": fitted.diagnostics["verdict"],
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        **score(paths, future),
    }
    print("unsharded", unsharded, flush=True)

    t0 = time.perf_counter()
    stage1 = shards.fit_stage1(prepared, config, shards.ShardConfig(n_shards=1, sample_products=sample))
    stage1_s = round(time.perf_counter() - t0, 1)
    print(f"stage 1: {len(stage1.sample)} products, {stage1_s} s, {stage1.fitted.diagnostics['verdict']}")

    sharded = []
    for k in counts:
        parts = shards.split(prepared, shards.ShardConfig(n_shards=k))
        n_workers = workers or k
        t0 = time.perf_counter()
        with (
            LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as c,
            Client(c) as client,
        ):
            futures = [client.submit(_shard_with_memory, p, stage1.shared, config, pure=False) for p in parts]
            done = client.gather(futures)
        stage2_s = round(time.perf_counter() - t0, 1)
        results = [r for r, _ in done]
        _, _, diagnostics = shards.combine(stage1, results)
        in_order = sorted(results, key=lambda r: r.index)  # held whole here: the benchmark scores them
        paths = SamplePaths(
            values=np.concatenate([r.paths.values for r in in_order], axis=1),
            products=np.concatenate([r.paths.products for r in in_order]),
            dates=in_order[0].paths.dates,
        )
        entry = {
            "shards": k,
            "workers": n_workers,
            "shard_products": [len(p.design.products) for p in parts],
            "shard_rows": [len(p.design.train) for p in parts],
            "shard_fit_s": [round(r.seconds, 1) for r in results],
            "worker_peak_rss_gib": [round(m, 2) for _, m in done],
            "stage1_s": stage1_s,
            "stage2_s": stage2_s,
            "wall_s": round(stage1_s + stage2_s, 1),
            "verdict": diagnostics["verdict"],
            "problems": diagnostics["problems"],
            **score(paths, future),
        }
        entry["crps_vs_unsharded"] = round(entry["crps"] / unsharded["crps"], 4)
        entry["wall_vs_unsharded"] = round(entry["wall_s"] / unsharded["wall_s"], 3)
        sharded.append(entry)
        print(entry, flush=True)
    save(
        "sharding" if not quick else "sharding_smoke",
        {
            "products": n_products,
            "rows": rows,
            "held_out_weeks": HORIZON,
            "stage1_products": len(stage1.sample),
            "stage1_verdict": stage1.fitted.diagnostics["verdict"],
            "unsharded": unsharded,
            "sharded": sharded,
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("counts", nargs="*", type=int, default=[1, 2, 4])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--products", type=int, default=N_PRODUCTS)
    parser.add_argument("--quick", action="store_true", help="few draws: check the script runs")
    args = parser.parse_args()
    main(args.counts, args.workers, args.products, args.quick)
