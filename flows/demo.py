"""The demo flow: a generated retail catalog through the same ingest and forecast as real data.

The plain catalog (``forecast.prep.synthetic``) is the model's own world. ``realism`` writes the
realism catalog instead (``forecast.prep.realism``): launches that ramp up, products declining to an
end date, stock-outs with their ``availability``, per-product dispersion and price response, and
holidays in the demand, with the held-out weeks' price and promotion plan and the truth to score
the forecast against; it runs through the same ingest and forecast, the plan given.
"""

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
    plan_csv: str | None = None  # realism: the held-out weeks' prices and promotions, given to the forecast
    truth_csv: str | None = None  # realism: the held-out weeks' true distribution and demand


@task(name="generate-demo-data", cache_policy=NO_CACHE)
def write_demo_files(folder: Path, n_products: int, seed: int) -> tuple[Path, Path]:
    data = generate_retail_data(n_products=n_products, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    sales, products = folder / "sales.csv", folder / "products.csv"
    data.sales.assign(date=data.sales["date"].dt.date).to_csv(sales, index=False)
    data.products.to_csv(products, index=False)
    return sales, products


@task(name="generate-realism-data", cache_policy=NO_CACHE)
def write_realism_files(folder: Path, n_products: int, seed: int, n_weeks: int) -> dict[str, Path]:
    """The realism catalog as a retailer's files: sales with ``availability``, products with
    ``launch_date`` (empty: on sale from the start) and ``end_date`` (empty: on sale), the event
    calendar, the horizon's plan, and the truth (not an input: for scoring)."""
    from forecast.prep.realism import generate_realistic_catalog

    data = generate_realistic_catalog(n_products=n_products, n_weeks=n_weeks, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.csv" for name in ("sales", "products", "events", "plan", "truth")}
    data.sales.assign(date=data.sales["date"].dt.date).to_csv(files["sales"], index=False)
    dated = {c: data.products[c].dt.date for c in ("launch_date", "end_date")}
    data.products.assign(**dated).to_csv(files["products"], index=False)
    data.events.assign(date=data.events["date"].dt.date).to_csv(files["events"], index=False)
    data.plan.assign(date=data.plan["date"].dt.date).to_csv(files["plan"], index=False)
    data.truth.assign(date=data.truth["date"].dt.date).to_csv(files["truth"], index=False)
    return files


@flow(name="demo")
def demo_flow(
    db: str | None = None,
    n_products: int = 500,
    seed: int = 42,
    options: dict[str, Any] | None = None,
    publish_unconverged: bool = False,
    progressbar: bool = True,
    realism: bool = False,
    realism_weeks: int = 156,
) -> DemoSummary:
    """Generate ``n_products`` products of weekly sales (``seed``: the data's), ingest them, fit,
    forecast and write; ``options`` (forecast options by name) go to the forecast flow as they are.

    ``realism``: the realism catalog (``realism_weeks`` weeks of history up to October, the next 13
    held out) with its event calendar and plan, instead of the plain two years.
    """
    db = str(db or storage.default_db_path())
    folder = Path(db).resolve().parent / "demo"
    plan = truth = events = None
    if realism:
        files = write_realism_files(folder, n_products, seed, realism_weeks)
        sales, products, plan, truth = (files[k] for k in ("sales", "products", "plan", "truth"))
        events = str(files["events"])
    else:
        sales, products = write_demo_files(folder, n_products, seed)
    get_run_logger().info("demo data written to %s", folder)
    ingested = ingest_flow(str(sales), str(products), db=db, events=events)
    result = forecast_flow(
        db=db,
        options=options,
        plan=str(plan) if plan else None,
        publish_unconverged=publish_unconverged,
        progressbar=progressbar,
    )
    return DemoSummary(
        str(sales),
        str(products),
        ingested,
        result,
        plan_csv=str(plan) if plan else None,
        truth_csv=str(truth) if truth else None,
    )
