"""The scheduled pipeline: ingest new files from an inbox folder, forecast, optionally backtest.

Each step is the library's; this flow only orders them and reports. I/O tasks retry (a database
another process holds, a file still being copied); a bad file fails at once (it would fail the same
way again). The ingest is cached on the inbox files' content hashes and the database's identity, so an
unchanged inbox is not read again (and ingest itself skips files it has seen, so a cache miss changes
nothing either). A fit that fails its convergence checks ends the run Failed with the checks that
failed. Every run leaves two artifacts: a markdown summary and a table of the largest forecast
changes against the previous published run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.forecast_flow import DiagnosticsError, ForecastSummary, forecast_flow
from flows.ingest import _worth_retrying
from forecast import storage
from forecast.config.settings import flow_parameters
from forecast.contract.run_record import RunRecord

SUMMARY_KEY = "forecast-summary"  # markdown artifact of every run
CHANGES_KEY = "forecast-changes"  # table artifact: largest changes against the previous published run
TOP_CHANGES = 20  # rows in the changes table
TOP_MOVERS = 5  # of which the summary names this many
INGEST_TIMEOUT_S = 3600


@dataclass
class PipelineSummary:
    """What one pipeline run did."""

    db: str
    ingest: storage.IngestSummary
    ingest_cached: bool
    forecast: ForecastSummary | None  # None when the forecast was skipped
    skipped: str | None = None  # why the forecast was skipped
    changes: list[dict[str, Any]] = field(default_factory=list)  # largest changes, largest first
    backtest: Any = None


@dataclass(frozen=True)
class InboxFiles:
    sales: list[str]
    products: list[str]
    fingerprints: list[tuple[str, str, str]]  # (kind, path, sha256), sorted


@task(
    name="scan-inbox",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_worth_retrying,
    cache_policy=NO_CACHE,
)
def scan_inbox(inbox: str, sales: str, products: str) -> InboxFiles:
    """The inbox's sales and products files and their content hashes."""
    folder = Path(inbox)
    if not folder.is_dir():
        raise storage.IngestError(f"inbox folder not found: {folder}")
    sales_spec, products_spec = str(folder / sales), str(folder / products)
    prints = storage.input_fingerprints(sales_spec, products_spec)
    get_run_logger().info("inbox %s: %d file(s)", folder, len(prints))
    return InboxFiles(
        sales=[p for kind, p, _ in prints if kind == "sales"],
        products=[p for kind, p, _ in prints if kind == "products"],
        fingerprints=prints,
    )


@task(name="open-database", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def open_database(db: str) -> str:
    """Create the database (and its schema) if needed; its identity."""
    con = storage.connect(db)
    try:
        return storage.database_id(con)
    finally:
        con.close()


def ingest_cache_key(context, parameters: dict[str, Any]) -> str:
    """The same database, the same file contents and the same reading options: the same ingest."""
    key = {
        "database": parameters["database_id"],
        "files": [(kind, sha) for kind, _, sha in parameters["files"].fingerprints],
        "map": sorted((parameters.get("column_map") or {}).items()),
        "encoding": parameters.get("encoding"),
    }
    return "ingest-" + hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@task(
    name="ingest-inbox",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=_worth_retrying,
    timeout_seconds=INGEST_TIMEOUT_S,
    cache_key_fn=ingest_cache_key,
    cache_expiration=timedelta(days=90),
    persist_result=True,
)
def ingest_inbox(
    db: str,
    database_id: str,
    files: InboxFiles,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
) -> storage.IngestSummary:
    con = storage.connect(db)
    try:
        return storage.ingest(con, files.sales, files.products, column_map=column_map, encoding=encoding)
    finally:
        con.close()


@task(name="check-new-data", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def has_new_data(db: str) -> bool:
    with storage.connect_read_only(db) as con:
        return storage.has_new_sales_since_latest_run(con)


@task(name="find-run", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def find_run(db: str, since) -> str | None:
    """The newest run started at or after ``since`` (a run whose flow raised)."""
    with storage.connect_read_only(db) as con:
        found = storage.runs_since(con, since)
    return found[-1] if found else None


@task(name="report", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def report(
    db: str,
    run_id: str | None,
    ingest: storage.IngestSummary,
    ingest_cached: bool,
    seconds: float,
    skipped: str | None = None,
) -> list[dict[str, Any]]:
    """The run's markdown summary and its table of largest forecast changes, as Prefect artifacts."""
    record, previous, changes = None, None, []
    if run_id is not None:
        with storage.connect_read_only(db) as con:
            record = storage.run_record(con, run_id)
            previous = storage.previous_published_run(con, run_id)
            frame = storage.forecast_changes(con, run_id, previous, limit=TOP_CHANGES)
        frame = frame.round(3).astype(object)
        changes = frame.where(frame.notna(), None).to_dict(orient="records")  # JSON has no NaN
        create_table_artifact(
            key=CHANGES_KEY,
            table=changes,
            description=f"Largest changes in expected units over the horizon: run {run_id} against "
            + (f"run {previous}" if previous else "nothing (first published run)"),
        )
    create_markdown_artifact(
        key=SUMMARY_KEY,
        markdown=summary_markdown(
            db, run_id, record, previous, changes, ingest, ingest_cached, seconds, skipped
        ),
        description="Scheduled forecast run",
    )
    return changes


def summary_markdown(
    db: str,
    run_id: str | None,
    record: RunRecord | None,
    previous: str | None,
    changes: list[dict[str, Any]],
    ingest: storage.IngestSummary,
    ingest_cached: bool,
    seconds: float,
    skipped: str | None,
) -> str:
    lines = [f"# Forecast run {run_id or '(none)'}", "", f"- database: `{db}`"]
    lines.append(f"- ingest: {'unchanged inbox (cached)' if ingest_cached else str(ingest).splitlines()[0]}")
    lines.append(f"- pipeline runtime: {seconds:.1f} s")
    if skipped:
        lines += [f"- forecast: skipped ({skipped})"]
        return "\n".join(lines) + "\n"
    if record is None:
        lines += ["- forecast: no run was recorded"]
        return "\n".join(lines) + "\n"
    timings = record.timings or {}
    lines += [
        f"- status: **{record.status}**{' (published)' if record.published else ' (not published)'}",
        f"- products: {record.n_products}, observations: {record.n_observations}, "
        f"{record.frequency} data, horizon {record.horizon}",
        f"- sampler: {record.sampler}; stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()),
        f"- diagnostics: **{record.verdict}** (max R-hat {_num(record.max_rhat, 3)}, "
        f"min hyperparameter ESS {_num(record.min_ess_hyper, 0)}, divergences {record.divergences})",
    ]
    if record.problems:
        lines.append(f"- problems: {record.problems}")
    if record.message:
        lines.append(f"- note: {record.message}")
    if previous is None:
        lines.append("- changes: first published run, nothing to compare with")
    else:
        lines += [
            "",
            f"## Top movers against run {previous}",
            "",
            "| product | category | previous | new | change |",
            "|---|---|---:|---:|---:|",
        ]
        for row in changes[:TOP_MOVERS]:
            lines.append(
                f"| {row['product_id']} | {row['category'] or ''} | {_num(row['previous_total'], 1)} | "
                f"{_num(row['new_total'], 1)} | {row['change']:+.1f} |"
            )
    return "\n".join(lines) + "\n"


def _num(value, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def run_backtest(db: str, options: dict[str, Any]) -> Any:
    """The backtest step: ``flows.backtest.backtest_flow`` on the pipeline's database, with the
    [backtest] table's keys (its ``horizon`` is the backtest's, its forecast options the model's).

    Imported here, when a run asks for it, so a pipeline without backtests does not load it.
    """
    from flows.backtest import backtest_flow

    return backtest_flow(db=db, **flow_parameters(options, own=("horizon",)))


@flow(name="pipeline")
def pipeline_flow(
    inbox: str = "data/inbox",
    db: str | None = None,
    sales: str = "sales*.csv",
    products: str = "products.csv",
    encoding: str = "utf-8",
    column_map: dict[str, str] | None = None,
    only_new_data: bool = False,
    forecast: dict[str, Any] | None = None,
    backtest: bool = False,
    backtest_options: dict[str, Any] | None = None,
    timeout_minutes: float = 360,
) -> PipelineSummary:
    """Ingest the inbox's new files, forecast every product, optionally backtest; report as artifacts.

    ``sales`` and ``products`` are globs (or names) inside ``inbox``. ``forecast`` is the settings'
    [forecast] table: forecast options (``sampler``, ``draws``, ``horizon``, ...) and the forecast
    flow's ``plan`` and ``publish_unconverged``. ``only_new_data`` skips the fit when no
    sales arrived since the latest published run. ``timeout_minutes`` bounds the forecast.
    """
    logger = get_run_logger()
    started_clock = time.perf_counter()
    db = str(db or storage.default_db_path())
    files = scan_inbox(inbox, sales, products)
    database_id = open_database(db)
    state = ingest_inbox(db, database_id, files, column_map or {}, encoding, return_state=True)
    summary = state.result()
    cached = state.name == "Cached"
    logger.info("ingest: %s", "unchanged inbox, cached" if cached else summary)

    if only_new_data and not has_new_data(db):
        reason = "no new sales since the latest published run"
        logger.info("forecast skipped: %s", reason)
        report(db, None, summary, cached, time.perf_counter() - started_clock, skipped=reason)
        return PipelineSummary(db, summary, cached, None, skipped=reason)

    since = datetime.now(UTC).replace(tzinfo=None)
    parameters = {**flow_parameters(forecast or {}), "db": db, "progressbar": False}
    try:
        result = forecast_flow.with_options(timeout_seconds=timeout_minutes * 60)(**parameters)
    except DiagnosticsError:
        report(db, find_run(db, since), summary, cached, time.perf_counter() - started_clock)
        raise
    changes = report(db, result.run_id, summary, cached, time.perf_counter() - started_clock)
    done = PipelineSummary(db, summary, cached, result, changes=changes)
    if backtest:
        done.backtest = run_backtest(db, dict(backtest_options or {}))
    logger.info("pipeline done in %.1f s: run %s", time.perf_counter() - started_clock, result.run_id)
    return done
