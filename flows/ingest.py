"""The ingest flow: a products file, a sales file and optionally an events file into DuckDB, every
row accounted for."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import storage


def _worth_retrying(task, task_run, state) -> bool:
    """Retry I/O trouble (a locked database), not a bad file: that fails the same way again."""
    return not isinstance(state.result(raise_on_failure=False), ValueError)


@task(
    name="ingest-files",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_worth_retrying,
    cache_policy=NO_CACHE,
)
def ingest_files(
    db: str,
    sales: str,
    products: str,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    events: str | None = None,
) -> storage.IngestSummary:
    with storage.connect(db) as con:
        return storage.ingest(
            con,
            sales,
            products,
            column_map=column_map,
            encoding=encoding,
            delimiter=delimiter,
            events=events,
        )


@flow(name="ingest")
def ingest_flow(
    sales: str,
    products: str,
    db: str | None = None,
    column_map: dict[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    events: str | None = None,
) -> storage.IngestSummary:
    """Load ``products`` then ``sales`` (files, globs or folders; CSV or Parquet) into ``db``, and
    the event calendar ``events`` where given (``date``, ``event``, optional ``region``).

    ``column_map`` maps the files' column names to the contract's; ``delimiter`` None reads each
    CSV file's own (see ``storage.ingest``).
    """
    db = str(db or storage.default_db_path())
    events = str(events) if events else None
    summary = ingest_files(db, str(sales), str(products), column_map, encoding, delimiter, events)
    logger = get_run_logger()
    for warning in summary.warnings:
        logger.warning("%s", warning)
    logger.info("%s", summary)
    return summary
