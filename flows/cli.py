"""`demand-forecast`: the command line, the front door over the flows."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from datetime import datetime, time
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from flows.console import Group, configure_logging, fail, out, progress, warn
from forecast.config.options import (
    NO_SHARDED_SHOCKS,
    OPTIONS,
    ForecastConfig,
    Option,
)  # light: no model, no Prefect

# No telemetry from the temporary Prefect server the flows start: the network is not ours to use.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The temporary server starts in seconds, but a busy machine (a fit on every core) can slow it down;
# the default 20 s is too short there.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

app = typer.Typer(
    cls=Group,
    help="Probabilistic demand forecasts from one Bayesian multilevel model, on DuckDB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: Rich markup would read "[default: ...]" as a tag and drop it, and its option
    # tables cut long option names at 80 columns.
    rich_markup_mode=None,
)


@app.callback()
def _options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Prefect's log lines (flow and task runs)")
    ] = False,
) -> None:
    configure_logging(verbose)


DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="DuckDB file [default: $DEMAND_DB or data/demand.duckdb]"),
]


def forecast_options(*names: str, leave_out: tuple[str, ...] = ()):
    """The command's ``options`` parameter becomes the forecast options' flags (all of them, or
    ``names``, less ``leave_out``), from their one declaration (forecast.config.options.OPTIONS):
    name, type, default, range and help. The command receives them as ``options``, a dict by name."""
    chosen = [o for o in OPTIONS if (not names or o.name in names) and o.name not in leave_out]

    def flag(o: Option) -> inspect.Parameter:
        kind = str if o.kind is dict else o.kind  # priors: name=value pairs
        default = None if o.kind is dict else o.default
        text = o.describe(", as name=value,name=value" if o.kind is dict else "")
        # A value under the range is a usage error; one at or over ``below`` the config's error.
        limits = {} if o.at_least is None else {"min": o.at_least}
        info = typer.Option(help=text, show_default=False, **limits)
        annotation = Annotated[kind if default is not None else kind | None, info]
        return inspect.Parameter(
            o.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation
        )

    def decorate(command):
        signature = inspect.signature(command, eval_str=True)
        params = []
        for p in signature.parameters.values():
            params += [flag(o) for o in chosen] if p.name == "options" else [p]

        @functools.wraps(command)
        def run(**kwargs):
            return command(options={o.name: kwargs.pop(o.name) for o in chosen}, **kwargs)

        run.__signature__ = signature.replace(parameters=params)
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate


PublishUnconvergedOption = Annotated[
    bool, typer.Option(help="Publish to latest_forecasts even if the fit fails its checks")
]


def _db(db: Path | None) -> str:
    from forecast.storage import default_db_path

    return str(db or default_db_path())


NO_DATABASE_HINT = "run `demand-forecast demo` or `demand-forecast ingest` first"


def _config(options: dict[str, Any]) -> tuple[ForecastConfig, dict[str, Any]]:
    """The run's configuration, checked before any flow starts (an unknown sampler answers at once),
    and the options given, as the flows take them."""
    given = {k: v for k, v in options.items() if v is not None}
    try:
        if "priors" in given:
            given["priors"] = {k: _number(v, k) for k, v in _pairs(given["priors"], "--priors").items()}
        return ForecastConfig.from_options(**given), given
    except ValueError as exc:
        fail(str(exc))


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--priors {name} must be a number, got '{text}'") from None


def _check_database(path: str, attributes: tuple[str, ...]) -> str:
    """``path`` when it holds products with these attributes and sales; else the error, in a second."""
    import duckdb

    from forecast import storage

    if not os.path.exists(path):
        fail(f"no database at {path}", hint=NO_DATABASE_HINT)
    try:
        with storage.connect_read_only(path) as con:
            storage.check_forecast_inputs(con, attributes)
    except ValueError as exc:
        fail(str(exc))
    except duckdb.Error as exc:  # not a DuckDB file, or held by a running forecast
        fail(f"cannot read {path}: {str(exc).splitlines()[0]}")
    return path


def _large_catalog(path: str, config):
    """``(products, sharding)`` where the catalog is large enough for the large-catalog path
    (``forecast.shards.large_catalog``), else None."""
    from forecast import shards, storage

    with storage.connect_read_only(path) as con:
        n = con.execute("select count(*) from products").fetchall()[0][0]
    sharding = shards.large_catalog(n, config)
    return None if sharding is None else (n, sharding)


def _query_text(query: str | None, file: Path | None) -> str:
    """The SQL from the argument, ``--file`` or stdin (``-``): exactly one of them."""
    if (query is None) == (file is None):
        fail("give a query, or --file PATH (a query argument of - reads stdin)")
    if file is not None:
        if str(file) == "-":
            return sys.stdin.read()
        if not file.is_file():
            fail(f"query file not found: {file}")
        return file.read_text()
    return sys.stdin.read() if query == "-" else query


@app.command()
@forecast_options("draws", "tune", "chains", "target_accept", "attempt_budget")
def demo(
    db: DbOption = None,
    products: Annotated[int, typer.Option("--products", min=10, help="Products to generate")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the generated data")] = 42,
    options: dict[str, Any] | None = None,
    publish_unconverged: PublishUnconvergedOption = False,
    realism: Annotated[
        bool,
        typer.Option(
            help="The realism catalog: launches, end-of-life declines with end dates, stock-outs "
            "with availability, holidays; three years to October, the next 13 weeks' plan given, "
            "their truth written next to the files"
        ),
    ] = False,
) -> None:
    """Generate a retail data set, ingest it, fit the model, forecast and write the results."""
    _, given = _config(options)
    path = _db(db)
    span = (
        "three years of weekly sales with stock-outs and end dates"
        if realism
        else "two years of weekly sales"
    )
    progress(f"demand-forecast demo: {products} products, {span} -> {path}")
    progress("generating, ingesting, fitting (minutes; the fit shows its progress)...")
    from flows.demo import demo_flow
    from flows.forecast_flow import DiagnosticsError

    try:
        summary = demo_flow(
            db=path,
            n_products=products,
            seed=seed,
            options=given,
            publish_unconverged=publish_unconverged,
            realism=realism,
        )
    except (ValueError, DiagnosticsError) as exc:
        fail(str(exc))
    out.print(f"\nsales: {summary.sales_csv}\nproducts: {summary.products_csv}")
    if summary.plan_csv:
        out.print(f"plan: {summary.plan_csv}\ntruth (held-out weeks): {summary.truth_csv}")
    out.print(str(summary.ingest))
    _print_forecast(summary.forecast)


@app.command()
def ingest(
    sales: Annotated[str, typer.Option("--sales", help="Sales: a CSV or Parquet file, a glob, or a folder")],
    products: Annotated[str, typer.Option("--products", help="Products: a file, a glob, or a folder")],
    db: DbOption = None,
    column_map: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Contract names to the files' names, e.g. date=day,product_id=sku [default: the contract's names, any case]",
        ),
    ] = None,
    encoding: Annotated[str, typer.Option(help="Encoding of CSV files, e.g. latin-1")] = "utf-8",
    delimiter: Annotated[
        str | None,
        typer.Option(
            help="CSV delimiter: , ; tab or | (a semicolon file may use decimal commas, 1,5) "
            "[default: each file's own, from its header]"
        ),
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="Event calendar: a CSV or Parquet file (date, event, optional region) of holidays and "
            "sales; a bad row fails the ingest [default: none; forecast --holiday-country fills in]",
        ),
    ] = None,
) -> None:
    """Load products and sales, and an event calendar; every sales row is loaded or rejected with a reason.

    With PREFECT_API_URL set, the ingest runs as a Prefect flow on that server (shown in its UI);
    otherwise its steps run directly, without starting a temporary Prefect server.
    """
    from forecast import storage

    try:
        mapping = parse_map(column_map)
        delim = storage.parse_delimiter(delimiter)
        # Before anything is written: a bad file answers in a second or two.
        for warning in storage.check_headers(sales, products, mapping, encoding, delim, events):
            warn(warning)
    except ValueError as exc:
        fail(str(exc))
    path = _db(db)
    try:
        if os.environ.get("PREFECT_API_URL"):
            from flows.ingest import ingest_flow

            summary = ingest_flow(
                sales,
                products,
                db=path,
                column_map=mapping,
                encoding=encoding,
                delimiter=delim,
                events=events,
            )
        else:
            with storage.connect(path) as con:
                summary = storage.ingest(
                    con,
                    sales,
                    products,
                    column_map=mapping,
                    encoding=encoding,
                    delimiter=delim,
                    events=events,
                )
    except ValueError as exc:
        fail(str(exc))
    out.print(str(summary))


def parse_map(text: str | None) -> dict[str, str]:
    """``"date=day,product_id=sku"`` (contract=file) as the file-to-contract map ingest takes."""
    return {file_name: contract for contract, file_name in _pairs(text, "--map", "contract=file").items()}


def _pairs(text: str | None, flag: str, form: str = "name=value") -> dict[str, str]:
    """``"a=1,b=2"`` as ``{"a": "1", "b": "2"}``; anything else is ``flag``'s one-line error."""
    pairs: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{flag} takes {form} pairs separated by commas, got '{part}'")
        pairs[key.strip()] = value.strip()
    return pairs


@app.command()
@forecast_options()
def forecast(
    db: DbOption = None,
    options: dict[str, Any] | None = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            help="Planned prices/promotions for the horizon: date, product_id, price, promo "
            "[default: none: the last regular price, no promotion]"
        ),
    ] = None,
    publish_unconverged: PublishUnconvergedOption = False,
    task_runner: Annotated[
        str, typer.Option(help="default (one model, in process) | dask (shards fitted in parallel)")
    ] = "default",
    dask_address: Annotated[
        str | None, typer.Option(help="Dask scheduler, e.g. tcp://host:8786 [default: a LocalCluster]")
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(min=1, help="Shards, balanced by rows (dask) [default: one per level of --shard-by]"),
    ] = None,
    shard_by: Annotated[
        str | None,
        typer.Option(
            help="One shard per level of this attribute (dask) [default: the outermost nested one, category]"
        ),
    ] = None,
    stage1_products: Annotated[
        int, typer.Option(min=1, help="Products sampled to fit the shared top of the model (dask)")
    ] = 200,
    stage2: Annotated[
        str,
        typer.Option(
            help="How shards draw their products' levels given the top (dask): conditional (exact, "
            "per product, no chains), nuts, or auto: conditional wherever the options allow"
        ),
    ] = "auto",
) -> None:
    """Fit the hierarchical model on every product in the database and forecast; prints the run id."""
    if task_runner not in ("default", "dask"):
        fail(f"unknown task runner '{task_runner}': choose default or dask")
    if task_runner != "dask" and (shards or shard_by or dask_address):
        fail("--shards, --shard-by and --dask-address need --task-runner dask")
    if stage2 not in ("auto", "conditional", "nuts"):
        fail(f"unknown --stage2 '{stage2}': choose auto, conditional or nuts")
    config, given = _config(options)
    if task_runner == "dask" and config.shared_shocks == "on" and stage2 == "nuts":
        fail(NO_SHARDED_SHOCKS)
    path = _check_database(_db(db), config.hierarchy.attributes)
    if plan is not None:
        from forecast.storage import read_plan

        try:
            read_plan(plan)
        except ValueError as exc:
            fail(str(exc))
    progress(f"forecast: fitting every product in {path} (minutes; the fit shows its progress)...")
    from flows.forecast_flow import DiagnosticsError, forecast_flow

    run_flow = forecast_flow
    large = None if task_runner == "dask" else _large_catalog(path, config)
    if large is not None:
        from flows.sharded import run_in_process

        progress(
            f"a large catalog ({large[0]:,} products): stage 1 fits the model on "
            f"{large[1].sample_products:,} sampled products, then every product is drawn given it"
        )
        run_flow = partial(
            run_in_process,
            shards_n=large[1].n_shards,
            sample_products=large[1].sample_products,
            stage2=large[1].stage2,
            stage1_budget=large[1].stage1_budget,
        )
    if task_runner == "dask":
        from flows.sharded import run_sharded

        run_flow = partial(
            run_sharded,
            dask_address=dask_address,
            shards_n=shards,
            shard_by=shard_by,
            sample_products=stage1_products,
            stage2=stage2,
        )

    try:
        summary = run_flow(
            db=path,
            options=given,
            plan=str(plan) if plan else None,
            publish_unconverged=publish_unconverged,
        )
    except (ValueError, DiagnosticsError) as exc:
        fail(str(exc))
    _print_forecast(summary)


@app.command()
@forecast_options(leave_out=("horizon",))  # its --horizon is the backtest's
def backtest(
    db: DbOption = None,
    folds: Annotated[int, typer.Option("--folds", min=1, help="Rolling origins (cutoffs)")] = 3,
    horizon: Annotated[
        int | None,
        typer.Option("--horizon", min=1, help="Periods scored after each cutoff [default: the forecast's]"),
    ] = None,
    step: Annotated[
        int | None, typer.Option("--step", min=1, help="Periods between cutoffs [default: horizon]")
    ] = None,
    options: dict[str, Any] | None = None,
    cold_start_share: Annotated[
        float,
        typer.Option(min=0.0, max=0.5, help="Share of established products forecast from attributes alone"),
    ] = 0.1,
) -> None:
    """Rolling-origin backtest of the model against seasonal naive, AutoETS, Croston/TSB/ADIDA and a
    no-pooling model; writes backtest_* tables and an HTML report."""
    config, given = _config(options)
    path = _check_database(_db(db), config.hierarchy.attributes)
    progress(f"backtest: {folds} folds on {path}, each fitted by every method (many minutes)...")
    from flows.backtest import backtest_flow

    try:
        summary = backtest_flow(
            db=path,
            folds=folds,
            horizon=horizon,
            step=step,
            options=given,
            cold_start_share=cold_start_share,
        )
    except ValueError as exc:
        fail(str(exc))
    m = summary.metrics
    rows = m[(m["fold"] == 0) & (m["level"] == "product")]
    table = rows.pivot_table(index="method", columns="segment", values="crps").reset_index()
    out.print(f"\n[bold green]backtest {summary.backtest_id}[/]: CRPS by product segment (lower is better)")
    _print_frame(table, 20)
    v = summary.comparison
    ahead = ", ".join(f"{k} {'yes' if s['ahead'] else 'NO'}" for k, s in v["segments"].items())
    out.print(
        f"hierarchical ahead of every baseline: {ahead}; 80% coverage {v['pit_coverage_80']:.1%} "
        f"(randomized PIT), {v['coverage_80']:.1%} inside the closed 10-90% interval"
    )
    if v["advice"]:
        out.print(v["advice"])
    out.print(f"report: {summary.report_path}")


@app.command()
def publish(
    run_id: Annotated[str, typer.Argument(help="The run to publish, e.g. 20261203T062714-720bde")],
    db: DbOption = None,
) -> None:
    """Publish a stored run that failed its convergence checks, as it is (recorded as a manual
    override): its forecasts become latest_forecasts if it is the newest published run."""
    import duckdb

    from forecast import storage

    path = _db(db)
    if not os.path.exists(path):
        fail(f"no database at {path}", hint=NO_DATABASE_HINT)
    try:
        with storage.connect(path) as con:
            latest = storage.publish_run(con, run_id)
    except ValueError as exc:
        fail(str(exc))
    except duckdb.Error as exc:  # e.g. the database is held by a running forecast
        fail(f"cannot publish in {path}: {str(exc).splitlines()[0]}")
    out.print(f"published run {run_id} (manual override: it failed its convergence checks)")
    if latest == run_id:
        out.print("latest_forecasts now shows this run")
    else:
        out.print(f"latest_forecasts shows the newer run {latest}")


@app.command(context_settings={"ignore_unknown_options": True})
def sql(
    query: Annotated[
        str | None,
        typer.Argument(
            help='SQL to run, e.g. "select * from latest_forecasts limit 5"; - reads it from stdin',
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Run the SQL in this file (e.g. sql/queries/category_totals.sql)"),
    ] = None,
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="Rows to print at most")] = 50,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the result to a .csv, .parquet or .json file [default: print a table]",
        ),
    ] = None,
) -> None:
    """Run a SQL query on the database and print the result as a table, or write it to a file.

    The query comes from the argument, from --file, or from stdin (argument -); leading -- comments
    and `set variable` statements before the query are fine.
    """
    query = _query_text(query, file)
    import duckdb

    from forecast import storage

    path = _db(db)
    if not os.path.exists(path):
        fail(f"no database at {path}", hint=NO_DATABASE_HINT)
    if output is not None and output.suffix.lower() not in storage.EXPORT_FORMATS:
        fail(f"cannot write '{output.suffix}': use {', '.join(storage.EXPORT_FORMATS)}")
    try:
        with storage.connect_read_only(path) as con:
            if output is not None:
                rows = storage.export_query(con, query, output)
                out.print(f"wrote {rows} row(s) to {output}")
                return
            frame = storage.query(con, query)
    except (duckdb.Error, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    _print_frame(frame, limit)


@app.command()
def dashboard(
    db: DbOption = None,
    port: Annotated[int, typer.Option(help="Port to serve on")] = 8501,
    address: Annotated[str, typer.Option(help="Address to listen on")] = "localhost",
) -> None:
    """Serve the analyst dashboards (Streamlit) on the database, read-only; open the printed URL."""
    import subprocess

    path = _db(db)
    if not os.path.exists(path):
        warn(f"no database at {path} yet; the pages will say what to run")
    try:
        code = subprocess.call(dashboard_command(path, port, address), env={**os.environ, "DEMAND_DB": path})
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


def dashboard_command(db: str, port: int = 8501, address: str = "localhost") -> list[str]:
    """``streamlit run dashboards/app.py`` headless, without usage statistics, on ``db``."""
    import importlib.util

    app_file = importlib.util.find_spec("dashboards.app").origin
    return [
        sys.executable, "-m", "streamlit", "run", app_file,
        "--server.headless", "true", "--server.port", str(port), "--server.address", address,
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal", "--", "--db", db,
    ]  # fmt: skip


def _print_frame(frame, limit: int) -> None:
    table = Table(show_lines=False)
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "iuf" else "left")
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*[escape(_fmt(v)) for v in row])  # a value's [brackets] are not markup
    out.print(table)
    more = f" (first {limit} shown)" if len(frame) > limit else ""
    out.print(f"{len(frame)} row(s){more}")


def _fmt(value) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):  # a LIST column: its items, as SQL shows them
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    try:
        if value is None or bool(value != value):  # a SQL null: None, NaN, NaT
            return ""
    except TypeError:  # pandas.NA
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime) and value.tzinfo is None and value.time() == time():
        return value.date().isoformat()  # a DATE column arrives as midnight: print it as a date
    return str(value)


def _print_forecast(summary) -> None:
    d = summary.diagnostics
    out.print(f"\n[bold green]run {summary.run_id}[/] ({summary.sampler})")
    out.print(
        f"{summary.n_products} products, {summary.n_observations} observations, "
        f"{summary.frequency} data, {summary.horizon} periods ahead"
    )
    # A sharded run records each stage's and shard's first attempt too; retries are the rest.
    attempts = getattr(summary, "attempts", None) or []
    retries = [a for a in attempts if a.get("number", 1) > 1]
    after = f" after {len(retries)} automatic retries" if retries else ""
    out.print(
        f"fit: {d.get('verdict')}{after} (max R-hat {d.get('max_rhat') or float('nan'):.3f}, "
        f"min hyperparameter ESS {d.get('min_ess_hyper') or float('nan'):.0f}, "
        f"divergences {d.get('divergences')})"
    )
    for a in retries:
        stage = f"{a['stage']}, " if a.get("stage") else ""
        out.print(f"  {stage}attempt {a['number']}: {a['action']} ({a['seconds']:.0f} s, {a['verdict']})")
    out.print("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in summary.timings.items()))
    if getattr(summary, "censored_rows", 0):
        out.print(
            f"stock-outs: {summary.censored_rows} periods out of stock read as lower bounds on demand "
            "(forecasts.had_stockouts; sql/queries/products_with_stockouts.sql lists the products)"
        )
    out.print(f"tables in {summary.db}: forecasts, forecast_draws, forecast_runs, view latest_forecasts")
    db_flag = "" if summary.db == _db(None) else f" --db {summary.db}"
    out.print("try:")
    out.print(
        f'  demand-forecast sql "select product_id, date, mean, p10, p90 from latest_forecasts '
        f'order by mean desc limit 5"{db_flag}'
    )
    out.print(
        f'  demand-forecast sql "select p.category, sum(f.mean) as units from latest_forecasts f '
        f'join products p using (product_id) group by 1 order by 2 desc"{db_flag}'
    )


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Pipeline settings, TOML (see pipeline.example.toml) [default: built-in]"),
]


@app.command()
def pipeline(config: ConfigOption = None) -> None:
    """Run the scheduled pipeline once now: ingest the inbox's new files, forecast, report."""
    from forecast.config.settings import load_settings

    try:
        settings = load_settings(config)
    except ValueError as exc:
        fail(str(exc))
    from flows.forecast_flow import DiagnosticsError  # after the settings: importing the model takes seconds
    from flows.pipeline import pipeline_flow

    try:
        progress(f"pipeline: inbox {settings.inbox} -> {_db(settings.db)}")
        summary = pipeline_flow(**settings.pipeline_parameters())
    except (ValueError, DiagnosticsError) as exc:
        fail(str(exc))
    out.print("ingest: " + ("unchanged inbox (cached)" if summary.ingest_cached else str(summary.ingest)))
    if summary.forecast is None:
        out.print(f"forecast skipped: {summary.skipped}")
        return
    _print_forecast(summary.forecast)
    for row in summary.changes[:5]:
        out.print(f"  change {row['product_id']}: {row['change']:+.1f} units over the horizon")


@app.command()
def serve(
    config: ConfigOption = None,
    cron: Annotated[
        str | None, typer.Option(help='Cron schedule [default: config, else "0 6 * * 1"]')
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="Time zone of the schedule [default: UTC]")] = None,
    name: Annotated[str | None, typer.Option(help="Deployment name [default: weekly]")] = None,
) -> None:
    """Serve the flows as Prefect deployments: the pipeline on its cron schedule, until interrupted."""
    import dataclasses

    from prefect.settings import PREFECT_API_URL

    from forecast.config.settings import load_settings

    try:
        settings = load_settings(config)
    except ValueError as exc:
        fail(str(exc))
    changes = {"cron": cron, "timezone": timezone, "name": name}
    settings = dataclasses.replace(settings, **{k: v for k, v in changes.items() if v is not None})
    if not PREFECT_API_URL.value():
        fail(
            "serving needs a Prefect API",
            hint="start one with `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api "
            "(or `prefect config set PREFECT_API_URL=...`)",
        )
    progress(
        f"serving pipeline/{settings.name} on '{settings.cron}' ({settings.timezone}), "
        f"forecast/{settings.name} and ingest/{settings.name} on request; API {PREFECT_API_URL.value()}"
    )
    from flows.serve import serve_flows

    serve_flows(settings)


if __name__ == "__main__":
    app()
