"""Shared set-up for the benchmarks: a demo-like catalog prepared for the model."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.prep.synthetic import generate_retail_data

OUT = Path(__file__).resolve().parent / "results"


def prepared(n_products: int, seed: int = 42, config: ForecastConfig | None = None):
    data = generate_retail_data(n_products=n_products, seed=seed)
    return runs.prepare(data.sales, data.products, config or ForecastConfig())


def save(name: str, payload: dict) -> None:
    OUT.mkdir(exist_ok=True)
    payload = {"command": " ".join(["uv run python", *sys.argv]), "machine": platform.node(), **payload}
    (OUT / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    print(json.dumps(payload, indent=2, default=str))
