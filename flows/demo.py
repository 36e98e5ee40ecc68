"""The demo flow: a generated retail catalog through the same ingest and forecast as real data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.forecast_flow import ForecastSummary, forecast_flow
from flows.ingest import ingest_flow
from forecast import storage
from forecast.prep.synthetic import generate_retail_data


@dataclass
class DemoSummary:
    sales_csv: str
    products_csv: str
    ingest: storage.IngestSummary
    forecast: ForecastSummary


@task(name="generate-demo-data", cache_policy=NO_CACHE)
def write_demo_files(folder: Path, n_products: int, seed: int) -> tuple[Path, Path]:
    data = generate_retail_data(n_products=n_products, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    sales, products = folder / "sales.csv", folder / "products.csv"
    data.sales.assign(date=data.sales["date"].dt.date).to_csv(sales, index=False)
    data.products.to_csv(products, index=False)
    return sales, products


@flow(name="demo")
def demo_flow(
    db: str | None = None,
    n_products: int = 500,
    seed: int = 42,
    options: dict[str, Any] | None = None,
    publish_unconverged: bool = False,
    progressbar: bool = True,
) -> DemoSummary:
    """Generate ``n_products`` products of weekly sales (``seed``: the data's), ingest them, fit,
    forecast and write; ``options`` (forecast options by name) go to the forecast flow as they are."""
    db = str(db or storage.default_db_path())
    folder = Path(db).resolve().parent / "demo"
    sales, products = write_demo_files(folder, n_products, seed)
    get_run_logger().info("demo data written to %s", folder)
    ingested = ingest_flow(str(sales), str(products), db=db)
    result = forecast_flow(
        db=db, options=options, publish_unconverged=publish_unconverged, progressbar=progressbar
    )
    return DemoSummary(str(sales), str(products), ingested, result)
