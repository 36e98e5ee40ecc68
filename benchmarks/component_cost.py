"""What each optional model component costs a gradient: logp + gradient of the model with the
component on, against the default model, on the same catalog, measured alternately in one process.

    uv run python benchmarks/component_cost.py 500 [--components shared_shocks level_drift launch_ramp]

The catalog is the demo generator's (``gradient.prepared``); each model is compiled by the numba
backend and its function called directly, as nutpie does (``gradient.time_model``). The ratio to the
default model is the figure to read (the machine is shared); more draws a fit needs, or a worse
geometry, are not in it. Writes ``results/component_cost.json``.
"""

from __future__ import annotations

import argparse

from _common import save
from gradient import prepared, time_model

from forecast.model.builder import build_model
from forecast.model.priors import DEFAULT_PRIORS

COMPONENTS = {
    "shared_shocks": {"shared_shocks": True},
    "level_drift": {"level_drift": True},
    "launch_ramp": {"launch_ramp": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("products", type=int, nargs="+")
    parser.add_argument("--components", nargs="+", default=list(COMPONENTS), choices=list(COMPONENTS))
    parser.add_argument("--rounds", type=int, default=3, help="alternations of default and component")
    args = parser.parse_args()
    results = []
    for n in args.products:
        design = prepared(n).design
        for name in args.components:
            base_model = build_model(design, DEFAULT_PRIORS)
            model = build_model(design, DEFAULT_PRIORS, **COMPONENTS[name])
            base, with_it = [], []
            for _ in range(args.rounds):  # alternate, so a busy moment hits both
                base.append(time_model(base_model))
                with_it.append(time_model(model))
            row = {
                "products": n,
                "component": name,
                "default_ms": round(min(base), 3),
                "with_ms": round(min(with_it), 3),
                "ratio": round(min(with_it) / min(base), 2),
            }
            print(row, flush=True)
            results.append(row)
    save("component_cost", {"results": results})


if __name__ == "__main__":
    main()
