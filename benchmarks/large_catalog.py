"""The large-catalog path against the joint fit: accuracy, coverage and time, side by side.

    uv run python benchmarks/large_catalog.py --products 1000 --seeds 1 2
    uv run python benchmarks/large_catalog.py --products 1000 --seeds 1 --stage1-products 200 400 1000

The demo's catalog (``generate_retail_data``: ``--products`` products, 104 weeks, each seed its own
catalog) plus 13 held-out weeks forecast under the generator's own prices and promotions. In one
process, one after the other:

- **joint**: the default single model (``runs.fit_model`` + ``runs.forecast``), the reference;
- **conditional**, for each of ``--stage1-products``: stage 1 (the full model on a stratified sample of that size,
  ``forecast.shards.fit_stage1``) then stage 2 by conditional sampling on the whole catalog as one
  shard (``forecast.shards.fit_shard_conditional``: every product's level drawn exactly given each
  of 50 draws of stage 1's top, no chains, nothing compiled).

Scores over every held-out (product, week): mean CRPS and the 80% randomized-PIT coverage
(``forecast.evaluation.scores``); and the total (every product summed within each path) per week:
CRPS and whether the truth falls in the 80% interval. Times: the joint fit and forecast; stage 1;
stage 2. The issue's bar: the conditional path within 2% of the joint fit's CRPS, its 80% coverage
within 0.02. Writes ``results/large_catalog_<products>.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import save

N_TRAIN, HORIZON = 104, 13


def score(paths, future) -> dict:
    """``sharding.score`` (per product: CRPS, 80% randomized-PIT coverage) and the total's: every
    product summed within each path, per week, CRPS and 80% interval coverage."""
    from sharding import score as product_score

    from forecast.evaluation.scores import crps_samples

    total_y = future.groupby("date")["quantity"].sum().reindex(paths.dates).to_numpy()
    total = paths.values.sum(axis=1)  # (paths, weeks)
    lo, hi = np.quantile(total, [0.1, 0.9], axis=0)
    per_product = product_score(paths, future)
    return {
        "crps": round(per_product["crps"], 4),
        "coverage80": round(per_product["coverage80"], 4),
        "total_crps": round(float(crps_samples(total_y, total).mean()), 2),
        "total_coverage80": round(float(((total_y >= lo) & (total_y <= hi)).mean()), 3),
    }


def one(n_products: int, seed: int, stage1_products: list[int]) -> dict:
    from forecast import runs, shards
    from forecast.config.options import ForecastConfig
    from forecast.prep.synthetic import generate_retail_data

    data = generate_retail_data(n_products=n_products, n_periods=N_TRAIN, horizon=HORIZON, seed=seed)
    end = np.sort(data.mean["date"].unique())[N_TRAIN - 1]
    train = data.sales[data.sales["date"] <= end]
    future = data.mean[data.mean["date"] > end]
    plan = future[["date", "product_id", "price", "promo"]]
    config = ForecastConfig(horizon=HORIZON, seed=seed)
    prepared = runs.prepare(train, data.products, config, plan)
    out = {"seed": seed, "rows": len(prepared.design.train)}

    t0 = time.perf_counter()
    fitted = runs.fit_model(prepared, config, progressbar=False)
    _, paths = runs.forecast(prepared, fitted, config)
    out["joint"] = {
        "seconds": round(time.perf_counter() - t0, 1),
        "verdict": fitted.diagnostics["verdict"],
        **score(paths, future),
    }
    print(seed, "joint", out["joint"], flush=True)

    out["conditional"] = []
    for size in stage1_products:
        sharding = shards.ShardConfig(n_shards=1, sample_products=size)
        t0 = time.perf_counter()
        stage1 = shards.fit_stage1(prepared, config, sharding)
        stage1_s = time.perf_counter() - t0
        (shard,) = shards.split(prepared, sharding)
        t0 = time.perf_counter()
        result = shards.fit_shard_conditional(shard, stage1.top, config)
        stage2_s = time.perf_counter() - t0
        c, j = (
            {
                "stage1_products": len(stage1.sample),
                "stage1_seconds": round(stage1_s, 1),
                "stage1_verdict": stage1.fitted.diagnostics["verdict"],
                "stage2_seconds": round(stage2_s, 1),
                "grids_widened": result.diagnostics["grids_widened"],
                "seconds": round(stage1_s + stage2_s, 1),
                **score(result.paths, future),
            },
            out["joint"],
        )
        c["crps_vs_joint"] = round(c["crps"] / j["crps"], 4)
        c["coverage80_minus_joint"] = round(c["coverage80"] - j["coverage80"], 4)
        c["total_crps_vs_joint"] = round(c["total_crps"] / j["total_crps"], 4)
        c["seconds_vs_joint"] = round(c["seconds"] / j["seconds"], 3)
        out["conditional"].append(c)
        print(seed, "conditional", c, flush=True)
    return out


def main(args: argparse.Namespace) -> None:
    runs = [one(args.products, seed, args.stage1_products) for seed in args.seeds]
    save(
        args.name or f"large_catalog_{args.products}",
        {"products": args.products, "held_out_weeks": HORIZON, "runs": runs},
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--stage1-products", type=int, nargs="+", default=[200])
    parser.add_argument("--name", help="results file name [default: large_catalog_<products>]")
    main(parser.parse_args())
