"""The convergence corpus: does a forecast run publish at default settings, whatever the catalog?

    uv run python benchmarks/corpus.py                      # every catalog, seeds 1 2 3
    uv run python benchmarks/corpus.py --catalogs w6 q32-crossed --seeds 1
    uv run python benchmarks/corpus.py --table results/convergence_corpus.json   # print the table

Each catalog is generated (no downloads) by ``forecast.prep.synthetic.generate_retail_data`` from a spec
below: sizes from 6 to 5,000 products; daily, weekly, monthly and quarterly data; strong, weak and no
seasonality; no price variation and no promotions; short histories; mostly intermittent demand; one
attribute only; many brands of one to three products; a crossed-only hierarchy of large counts.
Each (catalog, seed) runs in a fresh process, as a scheduled run does: the data seed and the sampler
seed are both ``seed``, every other setting is ``ForecastConfig``'s default. A run *publishes* when
its fit passes the convergence checks (after the automatic remedies, if any were needed); the table
gives the publish rate, the attempts and the time per run (fit and forecast, compile included).
Results: ``results/convergence_corpus.json`` (``--label`` names another file).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _common import OUT, save

SMALL_BRANDS = {
    c: [f"{c[:4]}-{i:02d}" for i in range(15)]
    for c in ("tops", "bottoms", "outerwear", "footwear", "accessories", "home")
}
# 8 regions x 2 x 2 crossed attributes, as in public quarterly count panels of that shape.
REGIONS = {f"region{i}": ["a", "b"] for i in range(8)}


@dataclass(frozen=True)
class Catalog:
    name: str
    what: str
    generate: dict = field(default_factory=dict)  # generate_retail_data keyword arguments
    nested: str | None = None  # the forecast options; None: the default hierarchy
    crossed: str | None = None


CATALOGS = [
    Catalog("w6", "6 products, weekly, 2 years", {"n_products": 6}),
    Catalog(
        "m30-strong",
        "30 products, monthly, 4 years, strong seasonality",
        {"n_products": 30, "n_periods": 48, "frequency": "M", "season_amplitude": (0.6, 1.0)},
    ),
    Catalog(
        "q32-crossed",
        "32 series, quarterly, 10 years, 3 crossed attributes, large counts, weak seasonality, "
        "no promotions, fixed prices",
        {
            "n_products": 32,
            "n_periods": 40,
            "frequency": "Q",
            "catalog": REGIONS,
            "colors": ["x", "y"],
            "season_amplitude": (0.0, 0.08),
            "promo_rate": 0.0,
            "price_changes": False,
            "level_shift": 4.0,
            "new_share": 0.0,
            "unlaunched_share": 0.0,
        },
        nested="",
        crossed="category,brand,color",
    ),
    Catalog(
        "d60",
        "60 products, daily, 1 year, day-of-week cycle",
        {"n_products": 60, "n_periods": 365, "frequency": "D"},
    ),
    Catalog(
        "m60-noseason",
        "60 products, monthly, 3 years, no seasonality, slow sellers",
        {
            "n_products": 60,
            "n_periods": 36,
            "frequency": "M",
            "season_amplitude": (0.0, 0.0),
            "level_shift": -1.0,
        },
    ),
    Catalog("w200", "200 products, weekly, 2 years (demo generator)", {"n_products": 200}),
    Catalog(
        "w200-flat",
        "200 products, weekly, no price variation, no promotions, no seasonality",
        {"n_products": 200, "price_changes": False, "promo_rate": 0.0, "season_amplitude": (0.0, 0.0)},
    ),
    Catalog(
        "w200-short",
        "200 products, weekly, 14 weeks of history",
        {"n_products": 200, "n_periods": 14},
    ),
    Catalog(
        "w200-brands",
        "200 products, weekly, 90 brands of 1 to 3 products",
        {"n_products": 200, "catalog": SMALL_BRANDS},
    ),
    Catalog(
        "w300-intermittent",
        "300 products, weekly, mostly intermittent (about 0.2 units a week)",
        {"n_products": 300, "level_shift": -2.0},
    ),
    Catalog("w100-category", "100 products, weekly, category only", {"n_products": 100}, "category", ""),
    Catalog("w500", "500 products, weekly, 2 years (the demo)", {"n_products": 500}),
    Catalog("w1000", "1,000 products, weekly, 2 years", {"n_products": 1000}),
    Catalog("w5000", "5,000 products, weekly, 2 years", {"n_products": 5000}),
]
BY_NAME = {c.name: c for c in CATALOGS}


def one(name: str, seed: int, options: dict | None = None) -> dict:
    """One forecast run at default settings (but ``options``) on a generated catalog: fit (with its
    remedies) and forecast; what the run record says, and the time."""
    from forecast import runs
    from forecast.config.options import ForecastConfig
    from forecast.prep.synthetic import generate_retail_data

    spec = BY_NAME[name]
    data = generate_retail_data(seed=seed, **spec.generate)
    config = ForecastConfig.from_options(
        nested=spec.nested, crossed=spec.crossed, seed=seed, **(options or {})
    )
    t0 = time.perf_counter()
    prepared = runs.prepare(data.sales, data.products, config)
    fitted = runs.fit_model(prepared, config, progressbar=False)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    runs.forecast(prepared, fitted, config)
    t_forecast = time.perf_counter() - t0
    d = fitted.diagnostics
    attempts = getattr(fitted, "attempts", None) or [{"verdict": d["verdict"], "problems": d["problems"]}]
    y = prepared.design.train.y
    return {
        "catalog": name,
        "seed": seed,
        "products": len(prepared.design.products),
        "rows": len(prepared.design.train),
        "frequency": prepared.frequency.name,
        "zero_share": round(float(np.mean(y == 0)), 3),
        "published": fitted.converged,
        "verdict": d["verdict"],
        "problems": d["problems"],
        "attempts": len(attempts),
        "attempt_log": attempts,
        "max_rhat": d.get("max_rhat"),
        "min_ess_hyper": d.get("min_ess_hyper"),
        "divergences": d.get("divergences"),
        "fit_s": round(t_fit, 1),
        "forecast_s": round(t_forecast, 1),
        "total_s": round(t_fit + t_forecast, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def table(results: list[dict]) -> str:
    """The corpus table: per catalog, the publish rate over seeds, attempts and time per run."""
    lines = [
        "| catalog | what | rows | published | attempts per run | seconds per run | failures |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in CATALOGS:
        rs = [r for r in results if r["catalog"] == spec.name]
        if not rs:
            continue
        ok = sum(r["published"] for r in rs)
        fails = "; ".join(f"seed {r['seed']}: {r['problems']}" for r in rs if not r["published"])
        lines.append(
            f"| {spec.name} | {spec.what} | {rs[0]['rows']:,} | {ok} of {len(rs)} | "
            f"{', '.join(str(r['attempts']) for r in rs)} | "
            f"{', '.join(format(r['total_s'], '.0f') for r in rs)} | {fails} |"
        )
    n = len(results)
    ok = sum(r["published"] for r in results)
    first = sum(r["published"] and r["attempts"] == 1 for r in results)
    per_catalog = [
        np.mean([r["published"] for r in results if r["catalog"] == c.name])
        for c in CATALOGS
        if any(r["catalog"] == c.name for r in results)
    ]
    lines.append("")
    lines.append(
        f"Published: {ok} of {n} runs ({ok / n:.1%}); on the first attempt {first} of {n} ({first / n:.1%}); "
        f"per catalog the rate runs from {min(per_catalog):.0%} to {max(per_catalog):.0%}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--catalogs", nargs="*", default=[c.name for c in CATALOGS], choices=list(BY_NAME))
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument(
        "--label", default="convergence_corpus", help="results file name (results/LABEL.json)"
    )
    parser.add_argument("--table", help="print the table of a results file and stop")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="a forecast option for every run, e.g. shared_shocks=on (default: the defaults)",
    )  # fmt: skip
    parser.add_argument("--one", nargs=2, metavar=("CATALOG", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    options = dict(o.split("=", 1) for o in args.option)
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), options), default=str))
        return
    if args.table:
        print(table(json.loads(Path(args.table).read_text())["results"]))
        return
    partial = OUT.parent / "out" / f"{args.label}.jsonl"  # every run as it finishes
    partial.parent.mkdir(exist_ok=True)
    results = []
    for name in args.catalogs:
        for seed in args.seeds:
            out = subprocess.run(
                [sys.executable, __file__, "--one", name, str(seed), *(f"--option={o}" for o in args.option)],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                tail = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no output"
                result = {"catalog": name, "seed": seed, "published": False, "error": tail, "attempts": 0,
                          "problems": f"crashed: {tail}", "rows": 0, "total_s": float("nan")}  # fmt: skip
            else:
                result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            with partial.open("a") as f:
                f.write(json.dumps(result, default=str) + "\n")
            print(
                f"{name} seed {seed}: {'published' if result['published'] else 'NOT published'} "
                f"after {result['attempts']} attempt(s), {result['total_s']} s; {result['problems']}",
                flush=True,
            )
    save(args.label, {"seeds": args.seeds, "options": options, "results": results})
    print(table(results))


if __name__ == "__main__":
    main()
