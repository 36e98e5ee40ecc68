"""Is the model the same at two commits? Design arrays, variables, log density at a fixed point,
the backtest's dense panel and the config hash, on a seeded catalog.

For changes that should not touch the model (a layout change, a refactor): when everything here
matches, the convergence corpus and the backtest measured at the earlier commit still hold.

    uv run python benchmarks/model_identity.py --before d165348 [--after HEAD]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import hashlib, importlib, json, sys
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])

def first(*names):
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            pass
    raise ModuleNotFoundError(names)

synthetic = first("forecast.prep.synthetic", "forecast.synthetic")
options = first("forecast.config.options", "forecast.config")
backtest = first("forecast.evaluation.backtest", "forecast.backtest")
from forecast import runs

data = synthetic.generate_retail_data(n_products=int(sys.argv[2]), seed=int(sys.argv[3]))
config = options.ForecastConfig()
design = runs.prepare(data.sales, data.products, config).design
model = runs.model_for(design, config)
start = model.initial_point()
rng = np.random.default_rng(0)
point = {k: v + rng.normal(0, 0.1, size=np.shape(v)) for k, v in start.items()}
t = design.train
grid = pd.date_range(data.sales["date"].min(), data.sales["date"].max(), freq="7D")
panel = backtest.dense_panel(data.sales, grid)
print(json.dumps({
    "log density": float(model.compile_logp()(point)),
    "variables": sorted(start),
    "rows": [int(len(t.y)), int(t.y.sum()), int((t.product_idx * 7 + t.time_idx).sum())],
    "log price": round(float(t.log_price.sum()), 9),
    "panel": hashlib.sha256(pd.util.hash_pandas_object(panel).values.tobytes()).hexdigest()[:16],
    "config hash": config.hash(),
}))
"""


def probe(rev: str, products: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        out = subprocess.run(
            [sys.executable, "-c", PROBE, tmp, str(products), str(seed)],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--products", type=int, default=120)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    before, after = probe(args.before, args.products, args.seed), probe(args.after, args.products, args.seed)
    for key in before:
        print(f"{key:12s} {'same' if before[key] == after[key] else 'DIFFERENT'}")
    sys.exit(0 if before == after else 1)


if __name__ == "__main__":
    main()
