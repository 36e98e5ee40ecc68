"""DuckDB storage: the only package that talks to the database.

- ``connection``: connections, the schema from the numbered files in ``sql/``, queries and exports
- ``ingest``: products, sales and events files in, every row loaded or rejected with a reason, by the SQL
  steps in ``sql/ingest/`` (run by ``sql_files``); the files themselves: ``input_files``
- ``inputs``: what a forecast reads back (history, the event calendar, the check that it can be
  fitted, a plan file)
- ``runs``: forecast runs, written in one transaction (``RunWriter``: a sharded run's sample paths
  shard by shard), published or failed
- ``backtests``: backtest runs, likewise

Callers use ``from forecast import storage`` and the names below.
"""

from forecast.storage.backtests import (
    fail_backtest,
    latest_backtest_id,
    read_backtest,
    start_backtest,
    write_backtest,
)
from forecast.storage.connection import (
    DEFAULT_DB,
    EXPORT_FORMATS,
    SQL_DIR,
    apply_schema,
    connect,
    connect_read_only,
    database_id,
    default_db_path,
    export_query,
    new_id,
    query,
    schema_files,
)
from forecast.storage.ingest import IngestSummary, ingest
from forecast.storage.input_files import (
    FilesSpec,
    IngestError,
    check_headers,
    csv_delimiter,
    input_fingerprints,
    parse_delimiter,
    resolve_files,
)
from forecast.storage.inputs import check_forecast_inputs, load_events, load_training_data, read_plan
from forecast.storage.runs import (
    RunWriter,
    fail_run,
    forecast_changes,
    has_new_sales_since_latest_run,
    mark_stale_runs_failed,
    previous_published_run,
    publish_run,
    run_record,
    runs_since,
    start_run,
    update_run,
    write_run,
)

__all__ = [
    "DEFAULT_DB",
    "EXPORT_FORMATS",
    "SQL_DIR",
    "FilesSpec",
    "IngestError",
    "IngestSummary",
    "RunWriter",
    "apply_schema",
    "check_forecast_inputs",
    "check_headers",
    "connect",
    "connect_read_only",
    "csv_delimiter",
    "database_id",
    "new_id",
    "default_db_path",
    "export_query",
    "fail_backtest",
    "fail_run",
    "forecast_changes",
    "has_new_sales_since_latest_run",
    "ingest",
    "input_fingerprints",
    "latest_backtest_id",
    "load_events",
    "load_training_data",
    "mark_stale_runs_failed",
    "parse_delimiter",
    "previous_published_run",
    "publish_run",
    "query",
    "read_backtest",
    "read_plan",
    "resolve_files",
    "run_record",
    "runs_since",
    "schema_files",
    "start_backtest",
    "start_run",
    "update_run",
    "write_backtest",
    "write_run",
]
