"""The backtest flow: history -> folds -> every method per fold -> scores -> report -> one write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.clock import StageClock
from flows.forecast_flow import configure, load_events, load_history
from forecast import __version__, storage
from forecast.contract.schema import DATE, PRODUCT
from forecast.evaluation import backtest, report
from forecast.evaluation.baselines import BASELINES
from forecast.evaluation.reconciled import METHODS as RECONCILED


@dataclass
class BacktestSummary:
    backtest_id: str
    db: str
    report_path: str
    metrics: pd.DataFrame
    comparison: dict  # against the baselines (forecast.evaluation.backtest.compare)
    timings: dict[str, float]
    artifact_id: str


@task(name="start-backtest", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def start_backtest(db: str, backtest_id: str, record: dict) -> None:
    with storage.connect(db) as con:
        storage.start_backtest(con, backtest_id, record)


@task(name="backtest-fold", cache_policy=NO_CACHE, task_run_name="fold-{fold.number}")
def run_fold(
    sales, products, grid, frequency, fold, config, cold_start, progressbar, events=None
) -> backtest.FoldResult:
    return backtest.run_fold(
        sales,
        products,
        grid,
        frequency,
        fold,
        config,
        cold_start=cold_start,
        progressbar=progressbar,
        events=events,
    )


@task(name="score", cache_policy=NO_CACHE)
def score(results: list[backtest.FoldResult], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return backtest.score_folds(results, seed=seed)


@task(name="report", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_report(path: str, record, metrics, pit, forecasts, history, comparison) -> str:
    text = report.render(record, metrics, pit, forecasts, history, comparison, comparison.get("advice", ""))
    return str(report.write(Path(path), text))


@task(name="write-backtest", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_backtest(db: str, backtest_id: str, metrics, pit, forecasts, record: dict) -> None:
    with storage.connect(db) as con:
        storage.write_backtest(con, backtest_id, metrics, pit, forecasts, record)


@task(name="mark-failed", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def mark_failed(db: str, backtest_id: str, message: str) -> None:
    with storage.connect(db) as con:
        storage.fail_backtest(con, backtest_id, message)


@flow(name="backtest")
def backtest_flow(
    db: str | None = None,
    folds: int = 3,
    horizon: int | None = None,
    step: int | None = None,
    options: dict[str, Any] | None = None,
    cold_start_share: float = 0.1,
    progressbar: bool = True,
) -> BacktestSummary:
    """Rolling-origin backtest of the model against the baselines on the products in the database.

    ``horizon`` defaults to the forecast's and ``step`` to ``horizon``; ``options`` holds forecast
    options by name, as ``forecast_flow`` takes them (each fold's horizon is the backtest's). The
    cold-start check hides the whole history of ``cold_start_share`` of the established products in
    the last fold.
    """
    logger = get_run_logger()
    db, config = configure(db, options)
    seed = config.seed
    backtest_id = "bt-" + storage.new_id()
    clock = StageClock(logger)
    lap, timings = clock.lap, clock.timings

    sales, products = load_history(db)
    events = load_events(db)
    frequency, grid, plan = backtest.plan_folds(sales, folds, horizon, step)
    record = {
        "frequency": frequency.name,
        "folds": len(plan),
        "horizon": len(plan[0].dates),
        "step": step or len(plan[0].dates),
        "cutoffs": [str(f.cutoff.date()) for f in plan],
        "n_products": int(products[PRODUCT].nunique()),
        "methods": [
            backtest.MODEL,
            backtest.NO_POOLING,
            *BASELINES,
            *RECONCILED,
            backtest.FROM_ATTRIBUTES,
        ],
        "config": config.to_dict(),
        "config_hash": config.hash(),
        "package_version": __version__,
    }
    start_backtest(db, backtest_id, record)
    logger.info(
        "backtest %s: %d folds of %d periods, cutoffs %s",
        backtest_id,
        len(plan),
        record["horizon"],
        record["cutoffs"],
    )
    try:
        lap("load")
        results = []
        for fold in plan:
            cold = None
            if fold is plan[-1] and cold_start_share > 0:
                seen = sales[pd.to_datetime(sales[DATE]) <= fold.cutoff]
                history = backtest.dense_panel(seen, grid[grid <= fold.cutoff], products)
                segments = backtest.segment_products(history, pd.Index(products[PRODUCT].astype(str)))
                cold = backtest.cold_start_sample(segments, cold_start_share, seed)
            logger.info("fold %d: fitting on data up to %s", fold.number, fold.cutoff.date())
            result = run_fold(sales, products, grid, frequency, fold, config, cold, progressbar, events)
            for fit in result.fits:
                logger.info(
                    "fold %d %s: %s in %.0f s", fold.number, fit["model"], fit["verdict"], fit["seconds"]
                )
            results.append(result)
            lap(f"fold {fold.number}")
        metrics, pit = score(results, seed)
        forecasts = backtest.scored_forecasts(results)
        comparison = backtest.compare(metrics)
        lap("score")
        record |= {"fits": [f for r in results for f in r.fits], "timings": timings}
        path = Path(db).resolve().parent / "reports" / f"{backtest_id}.html"
        panel = backtest.dense_panel(sales, grid, products)
        report_path = write_report(
            str(path), record | {"backtest_id": backtest_id}, metrics, pit, forecasts, panel, comparison
        )
        lap("report")
        record |= {"report_path": report_path, "message": comparison["advice"] or "ahead of every baseline"}
        write_backtest(db, backtest_id, metrics, pit, forecasts, record)
        lap("write")
    except Exception as exc:
        mark_failed(db, backtest_id, f"{type(exc).__name__}: {exc}")
        raise
    artifact_id = create_markdown_artifact(
        key="backtest-summary",
        markdown=summary_markdown(backtest_id, record, metrics, comparison),
        description=backtest_id,
    )
    return BacktestSummary(backtest_id, db, report_path, metrics, comparison, timings, str(artifact_id))


def summary_markdown(backtest_id: str, record: dict, metrics: pd.DataFrame, comparison: dict) -> str:
    """The run's artifact: the comparison, CRPS by segment, and where the full report is."""
    rows = metrics[(metrics["fold"] == 0) & (metrics["level"] == "product")]
    table = rows.pivot_table(index="method", columns="segment", values="crps").round(3)
    lines = [
        f"# Backtest {backtest_id}",
        f"{record['n_products']} products, {record['folds']} folds of {record['horizon']} periods "
        f"(cutoffs {', '.join(record['cutoffs'])}).",
        "",
        "Hierarchical model ahead of every baseline on CRPS: "
        + ", ".join(f"{k}: {'yes' if v['ahead'] else 'no'}" for k, v in comparison["segments"].items())
        + f"; 80% coverage {comparison['pit_coverage_80']:.1%} by randomized PIT (target 75-85%), "
        f"{comparison['coverage_80']:.1%} inside the closed 10-90% quantile interval.",
        "",
        comparison["advice"],
        "",
        "CRPS by segment (lower is better):",
        "",
        _markdown_table(table.reset_index()),
        "",
        f"Full report: `{record['report_path']}`; tables `backtest_runs`, `backtest_metrics`, `backtest_pit`, "
        f"`backtest_forecasts` where backtest_id = '{backtest_id}'.",
    ]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])
