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
        shown = [
            subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True)
            for path in (f"forecast/model/{name}.py", f"forecast/{name}.py")  # the layout before 'model/'
        ]
        source = next(r.stdout for r in shown if r.returncode == 0)
        source = source.replace("forecast.model.vecmath", "past_vecmath")
        (folder / f"past_{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("past_likelihood", folder / "past_likelihood.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._rows_loglik


def inputs(n: int, past) -> tuple[list, list, np.ndarray, int]:
    """The kernel's arguments now (per-product coefficients, season rows, no offsets or censored
    rows) and in the form of ``past``: per group before per-product coefficients (7 effects), else
    the same; and each product's group."""
    design = prepared(n).design
    rows = design.train
    data = rows_data(
        rows.product_idx, rows.time_idx, rows.log_price, rows.promo, rows.y, design.pool_idx, design.years
    )
    rng = np.random.default_rng(0)
    pool = design.pool_idx
    n_pool = int(pool.max()) + 1
    group = {
        "trend": np.zeros(n_pool),
        "elasticity": -np.ones(n_pool) + rng.normal(0, 0.1, n_pool),
        "promo": np.full(n_pool, 0.3),
        "zero": rng.normal(-1, 0.5, n_pool),
    }
    alpha, season = rng.normal(0, 1, len(design.products)), rng.normal(0, 0.2, n_pool * len(design.years))
    now = [alpha, season, *(group[k][pool] for k in ("trend", "elasticity", "promo"))]
    now += [np.full(len(pool), 0.7), group["zero"][pool], np.zeros(0), *(data[k] for k in ROW_FIELDS)]
    if past.__code__.co_argcount == len(now) + 1:
        return now, now, pool, len(rows.y)
    old_fields = [k for k in ROW_FIELDS if k != "censored"]
    before = [
        alpha,
        season,
        group["trend"],
        group["elasticity"],
        group["promo"],
        np.array(0.7),
        group["zero"],
    ]
    return now, before + [data[k] for k in old_fields], pool, len(rows.y)


def _same(past_out, now_out, pool: np.ndarray) -> None:
    """The value and every gradient agree (a per-product gradient summed over each group's products
    where ``past`` had one per group)."""
    for a, b in zip(past_out, now_out, strict=False):
        b = np.asarray(b)
        if np.ndim(a) != np.ndim(b) or np.size(a) != np.size(b):
            b = np.bincount(pool, weights=b, minlength=np.size(a)) if np.ndim(a) else b.sum()
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-8)


def main(sizes: list[int], rev: str) -> None:
    past = kernel_at(rev)
    results = []
    for n in sizes:
        now_args, past_args, pool, n_rows = inputs(n, past)
        for zinb in (False, True):
            _same(past(*past_args, zinb), _rows_loglik(*now_args, zinb), pool)
            best = {"past": np.inf, "now": np.inf}
            reps = max(20, 30_000 // n)
            for _ in range(7):
                for name, kernel, args in (("past", past, past_args), ("now", _rows_loglik, now_args)):
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
