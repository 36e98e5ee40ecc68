"""Rates over seeds of the shock catalog: what one seed's 13 weeks of a single total cannot say.

    uv run python benchmarks/shocks_summary.py --name stalled       # results/shocks_200_*_stalled.json

One seed scores the total on 13 points (an 80% coverage of 0.77 or 1.00 is one or three weeks
either side of the mark), so the done-when bars are read over the seeds: per level and method,
the WQL against AutoETS on that level (the ratio of the WQLs summed over the seeds, and the
seeds' smallest and largest ratio), the 80% coverage pooled over every scored cell with its
binomial standard error (randomised PIT coverage: a count's quantile interval holds
more than its nominal share, the oracle's 80% product intervals hold 0.92; the intervals' own
coverage is kept beside it), and the shock scale's recovery; per variant, the share of fits that
passed the convergence checks (published) and their seconds. Writes
``results/shocks_summary_<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from _common import OUT, save

LEVELS = ("product", "category", "total")
# Scored cells per seed and level on the 200-product catalog: the horizon's 13 weeks times the
# series (products on sale differ by seed; this is only for the standard error of the pooled rate).
HORIZON = 13


def load(name: str) -> list[dict]:
    files = sorted(Path(OUT).glob(f"shocks_*_{name}.json"))
    if not files:
        raise SystemExit(
            f"no results/shocks_*_{name}.json: run benchmarks/shocks.py --name shocks_200_S_{name}"
        )
    return [json.loads(f.read_text()) for f in files]


def summarise(runs: list[dict]) -> dict:
    methods = [m for m in runs[0]["methods"] if m != "auto_ets"]
    series = {"product": runs[0]["products"], "category": 6, "total": 1}
    out: dict = {"seeds": [r["seed"] for r in runs], "methods": {}}
    for method in methods:
        entry: dict = {}
        for level in LEVELS:
            ours = [r["methods"][method][level] for r in runs]
            ets = [r["methods"]["auto_ets"][level] for r in runs]
            ratios = [o["wql"] / e["wql"] for o, e in zip(ours, ets, strict=True) if e["wql"] == e["wql"]]
            kept = [(o["wql"], e["wql"]) for o, e in zip(ours, ets, strict=True) if e["wql"] == e["wql"]]
            cov = sum(o["pit_coverage_80"] for o in ours) / len(ours)
            cells = HORIZON * series[level] * len(ours)
            entry[level] = {
                "wql_x_ets": round(sum(k[0] for k in kept) / sum(k[1] for k in kept), 3) if kept else None,
                "wql_x_ets_range": [round(min(ratios), 3), round(max(ratios), 3)] if ratios else None,
                "coverage_80": round(cov, 3),
                "coverage_80_se": round(math.sqrt(cov * (1 - cov) / cells), 3),
                "coverage_80_range": [
                    min(o["pit_coverage_80"] for o in ours),
                    max(o["pit_coverage_80"] for o in ours),
                ],
                "interval_coverage_80": round(sum(o["coverage_80"] for o in ours) / len(ours), 3),
            }
        fits = [r["methods"][method] for r in runs if "verdict" in r["methods"][method]]
        if fits:
            entry["published"] = f"{sum(f['verdict'] == 'converged' for f in fits)}/{len(fits)}"
            entry["seconds"] = [min(f["seconds"] for f in fits), max(f["seconds"] for f in fits)]
        recovered = [
            r["methods"][method]["shock_sigma"][0]
            <= r["shocks"]["shock_sigma"]
            <= r["methods"][method]["shock_sigma"][2]
            for r in runs
            if "shock_sigma" in r["methods"][method]
        ]
        if recovered:
            entry["shock_sigma_in_90"] = f"{sum(recovered)}/{len(recovered)}"
        out["methods"][method] = entry
    return out


def main(args: argparse.Namespace) -> None:
    summary = summarise(load(args.name))
    for method, entry in summary["methods"].items():
        print(method, {lv: (entry[lv]["wql_x_ets"], entry[lv]["coverage_80"]) for lv in LEVELS},
              entry.get("published", ""))  # fmt: skip
    save(f"shocks_summary_{args.name}", summary)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--name", required=True, help="the suffix of the per-seed results (shocks_200_S_NAME)"
    )
    main(parser.parse_args())
