"""The forecast flow: history from DuckDB -> design -> fit -> sample paths -> one write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.clock import StageClock
from forecast import runs, storage
from forecast.config.options import ForecastConfig
from forecast.contract.run_record import RunRecord


class DiagnosticsError(RuntimeError):
    """The fit failed its convergence checks; the run was written but not published."""


@dataclass
class ForecastSummary:
    run_id: str
    db: str
    n_products: int
    n_observations: int
    frequency: str
    horizon: int
    sampler: str
    diagnostics: dict
    timings: dict[str, float]
    attempts: list[dict] = field(default_factory=list)  # every sampling attempt (forecast.model.remedies)
    censored_rows: int = 0  # history periods out of stock, read as lower bounds on demand


@task(name="load-history", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def load_history(db: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with storage.connect(db) as con:
        return storage.load_training_data(con)


@task(name="load-events", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def load_events(db: str) -> pd.DataFrame:
    """The events table (no rows: none ingested; ``holiday_country`` may then fill it in prepare)."""
    with storage.connect(db) as con:
        return storage.load_events(con)


@task(name="start-run", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def start_run(db: str, record: RunRecord) -> None:
    with storage.connect(db) as con:
        storage.start_run(con, record)


@task(name="prepare", cache_policy=NO_CACHE)
def prepare(
    sales: pd.DataFrame,
    products: pd.DataFrame,
    config: ForecastConfig,
    plan: str | None,
    events: pd.DataFrame | None = None,
) -> runs.Prepared:
    return runs.prepare(sales, products, config, storage.read_plan(plan) if plan else None, events)


@task(name="fit", cache_policy=NO_CACHE)
def fit(prepared: runs.Prepared, config: ForecastConfig, progressbar: bool) -> runs.Fitted:
    return runs.fit_model(prepared, config, progressbar=progressbar)


@task(name="forecast", cache_policy=NO_CACHE)
def forecast(prepared: runs.Prepared, fitted: runs.Fitted, config: ForecastConfig):
    """Sample paths and their summaries, plus the per-run diagnostics and effects tables."""
    forecasts, paths = runs.forecast(prepared, fitted, config)
    return forecasts, paths, runs.run_tables(prepared, fitted)


@task(name="save-posterior", cache_policy=NO_CACHE)
def save_posterior(fitted: runs.Fitted, folder: str, run_id: str, config: ForecastConfig) -> str:
    return str(runs.save_posterior(fitted, Path(folder), run_id, config))


@task(name="write-results", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_results(db: str, record: RunRecord, forecasts, paths, tables: dict) -> None:
    with storage.connect(db) as con:
        storage.write_run(con, record, forecasts, paths, tables=tables)


@task(name="mark-failed", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def mark_failed(db: str, run_id: str, message: str) -> None:
    with storage.connect(db) as con:
        storage.fail_run(con, run_id, message)


def configure(db: str | None, options: dict[str, Any] | None) -> tuple[str, ForecastConfig]:
    """The flow's database path and its run's configuration from the forecast options by name."""
    return str(db or storage.default_db_path()), ForecastConfig.from_options(**(options or {}))


@flow(name="forecast")
def forecast_flow(
    db: str | None = None,
    options: dict[str, Any] | None = None,
    plan: str | None = None,
    publish_unconverged: bool = False,
    progressbar: bool = True,
) -> ForecastSummary:
    """Fit the hierarchical model on every product in the database and write its forecasts.

    ``options`` holds forecast options by name (``forecast.config.options.OPTIONS``: ``horizon``,
    ``sampler``, ``draws``, ...); one left out or ``None`` takes ``ForecastConfig``'s default.
    """
    logger = get_run_logger()
    db, config = configure(db, options)
    run_id = storage.new_id()
    clock = StageClock(logger)
    lap, timings = clock.lap, clock.timings

    record = RunRecord.started(run_id, **runs.configured(config))
    start_run(db, record)
    logger.info("run %s started on %s", run_id, Path(db))
    with failed_on_error(db, run_id):
        sales, products = load_history(db)
        events = load_events(db)
        lap("load")
        prepared = prepare(sales, products, config, plan, events)
        record = record.with_(**runs.describe(prepared, config))
        logger.info(
            "%d products, %d observations, %s data, horizon %d",
            record.n_products,
            record.n_observations,
            record.frequency,
            record.horizon,
        )
        lap("prepare")
        fitted = fit(prepared, config, progressbar)
        lap("fit")
        d = fitted.diagnostics
        logger.info("diagnostics: %s %s", d["verdict"], d["problems"])
        forecasts, paths, tables = forecast(prepared, fitted, config)
        posterior = save_posterior(fitted, str(Path(db).resolve().parent / "posteriors"), run_id, config)
        lap("forecast")
        facts = {"attempts": fitted.attempts, "posterior_path": posterior, "timings": timings}
        record = write_outcome(db, record, d, publish_unconverged, (forecasts, paths, tables), **facts)
        lap("write")
    return finish_run(db, record, config, timings)


@contextmanager
def failed_on_error(db: str, run_id: str) -> Iterator[None]:
    """Mark the run failed, with the error, when the block raises (and raise it on)."""
    try:
        yield
    except Exception as exc:
        mark_failed(db, run_id, f"{type(exc).__name__}: {exc}")
        raise


def finished_record(
    record: RunRecord, diagnostics: dict, publish_unconverged: bool, **facts: Any
) -> RunRecord:
    """The run's record finished by its checks' outcome (``runs.outcome``), with its ``facts``."""
    publish, published_by = runs.outcome(diagnostics, publish_unconverged)
    return record.with_(**diagnostics, **facts).finished(publish, published_by)


def write_outcome(
    db: str, record: RunRecord, diagnostics: dict, publish_unconverged: bool, results: tuple, **facts: Any
) -> RunRecord:
    """The run's record finished by its checks' outcome (``finished_record``), written with its
    ``results`` (forecasts, sample paths, per-run tables) in one transaction."""
    record = finished_record(record, diagnostics, publish_unconverged, **facts)
    write_results(db, record, *results)
    return record


def finish_run(db: str, record: RunRecord, config: ForecastConfig, timings: dict) -> ForecastSummary:
    """Store the run's timings (its write included); raise if it was not published, else summarise it."""
    run_id = record.run_id
    _store_timings(db, run_id, timings)
    if not record.published:
        raise DiagnosticsError(
            f"run {run_id} failed its convergence checks and was not published to latest_forecasts: "
            f"{record.problems}. Its forecasts are kept under that run id; give the run more time "
            f"(--attempt-budget) or more draws (--draws), check the data of sparse groups, or publish "
            f"it as it is: `demand-forecast publish {run_id} --db {db}`"
        )
    return ForecastSummary(
        run_id=run_id,
        db=db,
        n_products=record.n_products,
        n_observations=record.n_observations,
        frequency=record.frequency,
        horizon=record.horizon,
        sampler=config.sampler,
        diagnostics=record.diagnostics(),
        timings=timings,
        attempts=record.attempts,
        censored_rows=record.censored_rows or 0,
    )


def _store_timings(db: str, run_id: str, timings: dict[str, float]) -> None:
    with storage.connect(db) as con:
        storage.update_run(con, run_id, {"timings": timings})
