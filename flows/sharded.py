"""The sharded forecast flow: stage 1 on a sample, then one fit task per shard on Dask, one write:
one transaction, each shard's sample paths inserted as it finishes and dropped, committed when the
last one is in (``storage.RunWriter``), so the flow holds one shard's paths at a time.

The flow only orders steps from ``forecast.shards``: how products are split, what the shards share
and how their results combine live there. Tasks run on a Dask cluster through prefect-dask's
``DaskTaskRunner``: the cluster at ``dask_address``, or a ``LocalCluster`` started for the run.
"""

from __future__ import annotations

import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_dask import DaskTaskRunner

from flows.clock import StageClock
from flows.console import progress
from flows.forecast_flow import (
    ForecastSummary,
    configure,
    failed_on_error,
    finish_run,
    finished_record,
    load_events,
    load_history,
    prepare,
    start_run,
)
from forecast import runs, shards, storage
from forecast.config.options import ForecastConfig
from forecast.contract.run_record import RunRecord


@task(name="fit-stage1", cache_policy=NO_CACHE)
def fit_stage1(sample: runs.Prepared, config: ForecastConfig) -> shards.Stage1:
    return shards.fit_sample(sample, config)


# A shard whose task raises is run again (a worker process that dies is rescheduled by Dask itself).
@task(name="fit-shard", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def fit_shard(
    shard: shards.Shard, shared: dict, config: ForecastConfig, folder: str, run_id: str
) -> shards.ShardResult:
    return shards.fit_shard(shard, shared, config, folder, run_id)


@task(name="draw-shard", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def draw_shard(shard: shards.Shard, top, config: ForecastConfig) -> shards.ShardResult:
    return shards.fit_shard_conditional(shard, top, config)


@task(name="save-posterior", cache_policy=NO_CACHE)
def save_posterior(stage1: shards.Stage1, folder: str, run_id: str, config: ForecastConfig) -> str:
    return str(runs.save_posterior(stage1.fitted, Path(folder), run_id, config))


@flow(name="forecast-sharded")
def sharded_forecast_flow(
    db: str | None = None,
    shards_n: int | None = None,
    shard_by: str | None = None,
    sample_products: int = 200,
    stage2: str = "auto",
    stage1_budget: float | None = None,
    options: dict[str, Any] | None = None,
    plan: str | None = None,
    publish_unconverged: bool = False,
) -> ForecastSummary:
    """Stage 1 fits the shared top of the hierarchy on a sample; each shard is fitted under it.

    ``shards_n`` balanced shards, or one per level of ``shard_by``, or both (levels packed into
    ``shards_n`` shards); neither: one shard per level of the pooling attribute (category).
    ``options`` holds forecast options by name, as ``forecast_flow`` takes them; ``stage2``: how the
    shards draw their products (``forecast.shards.ShardConfig``); ``stage1_budget``: the least attempt
    budget of stage 1 (``forecast.shards.stage1_config``).
    """
    logger = get_run_logger()
    db, config = configure(db, options)
    if shards_n is None and shard_by is None:
        shard_by = config.hierarchy.pooling_attribute
    sharding = shards.ShardConfig(
        n_shards=shards_n,
        by=shard_by,
        sample_products=sample_products,
        stage2=stage2,
        stage1_budget=stage1_budget,
    )
    method = shards.stage2_method(config, sharding)
    sharding = replace(sharding, stage2=method)  # the run record says which it was
    run_id = storage.new_id()
    clock = StageClock(logger)
    lap, timings = clock.lap, clock.timings

    record = RunRecord.started(run_id, **shards.configured_sharded(config, sharding))
    start_run(db, record)
    logger.info("run %s started on %s (sharded)", run_id, Path(db))
    folder = str(Path(db).resolve().parent / "posteriors")
    with failed_on_error(db, run_id):
        sales, products = load_history(db)
        events = load_events(db)
        lap("load")
        prepared = prepare(sales, products, config, plan, events)
        parts = shards.split(prepared, sharding)
        sample = shards.stage1_prepared(prepared, config, sharding)  # the worker gets the sample only
        shocks = shards.shocks_line(sample, config, sharding)
        record = record.with_(**runs.describe(prepared, config, shocks=shocks))
        logger.info(
            "%d products in %d shards (%s products)",
            record.n_products,
            len(parts),
            ", ".join(str(len(p.design.products)) for p in parts),
        )
        lap("prepare")
        progress(
            f"{record.n_products} products in {len(parts)} shards; stage 1: the model on "
            f"{len(sample.design.products)} sampled products (minutes)..."
        )
        stage1 = fit_stage1.submit(sample, shards.stage1_config(config, sharding)).result()
        stage1 = shards.with_top(stage1, prepared.design, config, sharding)
        progress(
            f"stage 1: {stage1.fitted.diagnostics['verdict']} in {stage1.seconds:.0f} s; stage 2: "
            f"{len(parts)} shards by {'conditional sampling' if method == 'conditional' else 'NUTS'}..."
        )
        logger.info(
            "stage 1 on %d products: %s; stage 2 by %s",
            len(stage1.sample),
            stage1.fitted.diagnostics["verdict"],
            "conditional sampling" if method == "conditional" else "NUTS per shard",
        )
        posterior = save_posterior(stage1, folder, run_id, config)
        lap("stage1")
        if method == "conditional":  # each shard gets the top's draws as its products read them
            tops = [stage1.top.subset(prepared.design, part.positions) for part in parts]
            futures = draw_shard.map(parts, tops, unmapped(config))
        else:
            futures = fit_shard.map(
                parts, unmapped(stage1.shared), unmapped(config), unmapped(folder), unmapped(run_id)
            )
        # Each shard's sample paths go into the run's one transaction as the shard finishes, then
        # are dropped; the rest is written, and committed, once every shard (and so the verdict) is in.
        with storage.connect(db) as con, storage.RunWriter(con, run_id) as writer:
            results = _gathered(futures, time.perf_counter(), writer.add_draws)
            lap("shards")
            progress(f"writing {record.n_products} products' forecasts...")
            forecasts, tables, d = shards.combine(stage1, results)
            forecasts = runs.flag_stockouts(forecasts, prepared.design)
            logger.info("diagnostics: %s %s", d["verdict"], d["problems"])
            line, shard_seconds = shards.describe(stage1, results)
            timings |= shard_seconds
            facts = {
                "attempts": shards.attempts(stage1, results),
                "posterior_path": posterior,
                "timings": timings,
            }
            record = finished_record(
                record, d, publish_unconverged, **facts, message=f"{record.message}; {line}"
            )
            writer.finish(record, forecasts, tables)
        lap("write")
    return finish_run(db, record, config, timings)


def _gathered(futures, start: float, write) -> list[shards.ShardResult]:
    """The shards' results as they finish, each one's sample paths handed to ``write`` and then
    dropped (``shards.Gathered``), saying each one done, with the time left at the pace so far."""
    gathered = shards.Gathered()
    for future in as_completed(futures):
        result = gathered.add(future.result(), write)
        _let_go(future)
        done, left = len(gathered.results), len(futures) - len(gathered.results)
        pace = (time.perf_counter() - start) / done
        tail = f"; about {pace * left:.0f} s left" if left else ""
        progress(f"stage 2: shard {result.index} done and written ({done} of {len(futures)}){tail}")
    return gathered.results


def _let_go(future) -> None:
    """A Dask worker keeps a task's result while a future of it is held: let it drop a shard's
    result once the flow has it (other task runners keep none)."""
    release = getattr(getattr(future, "wrapped_future", None), "release", None)
    if release is not None:
        release()


def task_runner(dask_address: str | None = None, workers: int | None = None) -> DaskTaskRunner:
    """The Dask cluster at ``dask_address``, or a LocalCluster of single-threaded worker processes
    (``workers``, default: the machine's cores) started for the run and closed after it."""
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    n = workers or os.cpu_count() or 1
    return DaskTaskRunner(cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "processes": True})


@contextmanager
def _api_for_workers():
    """Worker processes reach the Prefect API named in the settings each task carries. With none
    configured, start the temporary server here (the one the flow would start) and name it, so the
    workers report to it instead of each starting a server of its own."""
    if PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield


def run_in_process(**kwargs) -> ForecastSummary:
    """Run ``sharded_forecast_flow`` in this process, one task at a time (the large-catalog path of a
    default run: stage 2 by conditional sampling is vectorised over the cores already)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    return sharded_forecast_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=1))(**kwargs)


def run_sharded(dask_address: str | None = None, workers: int | None = None, **kwargs) -> ForecastSummary:
    """Run ``sharded_forecast_flow`` on Dask (see ``task_runner``)."""
    runner = task_runner(dask_address, workers)
    with _api_for_workers(), warnings.catch_warnings():
        # Stage 1's sample travels to its worker in the task (tens of MiB on a large catalog): by
        # design, so distributed's advice to load the data with Dask is noise to the user.
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return sharded_forecast_flow.with_options(task_runner=runner)(**kwargs)
