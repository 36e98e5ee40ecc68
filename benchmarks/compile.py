"""nutpie's compile of the model: a first run, a rerun, a rerun on next week's data.

    uv run python benchmarks/compile.py [n_products ...] [--repeats 3]

Each measurement is a fresh process (as a scheduled run is), timing ``nutpie.compile_pymc_model``
alone. The caches (PyTensor's compile directory, where its numba functions are cached, and numba's
own cache of the package's kernels) start empty in a temporary directory, so the first run is what
a fresh machine pays; later runs reuse what the earlier ones wrote.

- ``first run``: empty caches.
- ``rerun, same data``: the same model again.
- ``one week more``: the same catalog with one more week of sales, the weekly scheduled run (the
  model as of the week before is compiled first, then this one).
- ``count constant with SciPy's digamma``: the model's count constant in PyTensor ops, whose
  gradient calls SciPy's digamma through a function pointer: numba cannot cache a compiled function
  holding one, so the whole model compiles again in every process (what the package did before
  ``forecast.model.likelihood.CountConstant``). Compiled once to warm the caches it can use, then
  measured with the reruns, the two alternated (``--repeats`` each; medians reported).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save


def child(n: int, weeks_dropped: int, scipy_digamma: bool) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import nutpie

    from forecast import runs
    from forecast.config.options import ForecastConfig
    from forecast.prep.synthetic import generate_retail_data

    data = generate_retail_data(n_products=n, seed=42)
    sales = data.sales
    if weeks_dropped:
        last = sorted(sales["date"].unique())[-weeks_dropped]
        sales = sales[sales["date"] < last]
    config = ForecastConfig()
    design = runs.prepare(sales, data.products, config).design
    model = runs.model_for(design, config)
    if scipy_digamma:
        model = _scipy_count_constant(model, design.train.y)
    start = time.perf_counter()
    nutpie.compile_pymc_model(model)
    print(json.dumps({"compile_s": time.perf_counter() - start, "periods": len(design.years)}))


def _scipy_count_constant(model, y):
    """The same model with ``CountConstant`` replaced by the PyTensor-ops form of the count constant."""
    from pymc.model.fgraph import fgraph_from_model, model_from_fgraph

    from forecast.model.likelihood import CountConstant, count_constant

    fg, _ = fgraph_from_model(model)
    node = next(n for n in fg.apply_nodes if isinstance(n.op, CountConstant))
    fg.replace(node.outputs[0], count_constant(node.inputs[0], y), import_missing=True)
    return model_from_fgraph(fg, mutate_fgraph=True)


def measure(n: int, caches: Path, weeks_dropped: int = 0, scipy_digamma: bool = False) -> dict:
    env = os.environ | {
        "PYTENSOR_FLAGS": f"base_compiledir={caches / 'pytensor'}",
        "NUMBA_CACHE_DIR": str(caches / "numba"),
    }
    args = [sys.executable, __file__, "--child", str(n), str(weeks_dropped), str(int(scipy_digamma))]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(sizes: list[int], repeats: int) -> None:
    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            caches = Path(tmp)
            first = measure(n, caches, weeks_dropped=1)["compile_s"]
            measure(n, caches, scipy_digamma=True)
            rerun, scipy = [], []
            for _ in range(repeats):  # alternated, so the machine's load falls on both alike
                rerun.append(measure(n, caches, weeks_dropped=1)["compile_s"])
                scipy.append(measure(n, caches, scipy_digamma=True)["compile_s"])
            week = measure(n, caches)["compile_s"]
        row = {
            "products": n,
            "first_run_s": first,
            "rerun_same_data_s": rerun,
            "one_week_more_s": week,
            "count_constant_scipy_digamma_s": scipy,
            "median_rerun_s": statistics.median(rerun),
            "median_scipy_digamma_s": statistics.median(scipy),
        }
        print(row, flush=True)
        results.append(row)
    save("compile", {"repeats": repeats, "results": results})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("sizes", nargs="*", type=int, default=[200, 1000])
        parser.add_argument("--repeats", type=int, default=3)
        args = parser.parse_args()
        main(args.sizes, args.repeats)
