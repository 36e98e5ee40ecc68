"""The likelihood kernel against an earlier commit's, side by side in one process.

    uv run python benchmarks/kernel_versions.py [n_products ...] [--against REV]

Loads ``forecast/model/likelihood.py`` and ``forecast/model/vecmath.py`` as they were at ``REV`` (``git show``;
needs the repository's history) next to the working tree's, checks that both give the same
log-density and gradients on a demo-like catalog, and times them alternately (best of 7 rounds),
negative binomial and zero-inflated. On a shared machine only the ratio in one run means much.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import prepared, save

from forecast.model.likelihood import ROW_FIELDS, _rows_loglik, rows_data

ROOT = Path(__file__).resolve().parent.parent


def kernel_at(rev: str):
    """``_rows_loglik`` as it was at ``rev``, compiled from that commit's source."""
    folder = Path(tempfile.mkdtemp(prefix="kernel_"))
    for name in ("vecmath", "likelihood"):
        source = subprocess.run(
            ["git", "show", f"{rev}:forecast/{name}.py"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        source = source.replace("forecast.model.vecmath", "past_vecmath")
        (folder / f"past_{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("past_likelihood", folder / "past_likelihood.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._rows_loglik


def inputs(n: int) -> tuple[list, int]:
    design = prepared(n).design
    rows = design.train
    data = rows_data(
        rows.product_idx, rows.time_idx, rows.log_price, rows.promo, rows.y, design.pool_idx, design.years
    )
    rng = np.random.default_rng(0)
    n_pool = int(design.pool_idx.max()) + 1
    effects = [
        rng.normal(0, 1, len(design.products)),
        rng.normal(0, 0.2, n_pool * len(design.years)),
        np.zeros(n_pool),
        -np.ones(n_pool),
        np.full(n_pool, 0.3),
        np.array(0.7),
        rng.normal(-1, 0.5, n_pool),
    ]
    return [*effects, *(data[k] for k in ROW_FIELDS)], len(rows.y)


def main(sizes: list[int], rev: str) -> None:
    past = kernel_at(rev)
    results = []
    for n in sizes:
        args, n_rows = inputs(n)
        for zinb in (False, True):
            for a, b in zip(past(*args, zinb), _rows_loglik(*args, zinb), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-9)
            best = {"past": np.inf, "now": np.inf}
            reps = max(20, 30_000 // n)
            for _ in range(7):
                for name, kernel in (("past", past), ("now", _rows_loglik)):
                    start = time.perf_counter()
                    for _ in range(reps):
                        kernel(*args, zinb)
                    best[name] = min(best[name], (time.perf_counter() - start) / reps * 1e3)
            results.append(
                {
                    "products": n,
                    "rows": n_rows,
                    "family": "zinb" if zinb else "negbin",
                    f"kernel_at_{rev}_ms": round(best["past"], 3),
                    "kernel_now_ms": round(best["now"], 3),
                    "speedup": round(best["past"] / best["now"], 2),
                }
            )
            print(results[-1], flush=True)
    save("kernel_versions", {"against": rev, "sizes": results})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("products", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--against", default="c0c40a4")
    args = parser.parse_args()
    main(args.products, args.against)
