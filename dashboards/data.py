"""Every query the dashboards make: read-only, one short-lived connection per bundle, cached.

A bundle of queries runs in one read transaction on one connection that is closed right after, so a
page never mixes two runs (a forecast run is written in one transaction) and a forecast run writing
at the same time waits at most for that one read. Results are cached per database state (the file's
and its write-ahead log's modification times), so a new run shows up on the next rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import streamlit as st

from forecast import storage
from forecast.contract.quantiles import BAND_QUANTILES, column
from forecast.contract.schema import DEFAULT_CROSSED, DEFAULT_NESTED, END_DATE, LAUNCH_DATE
from forecast.contract.segments import NEW_MAX_PERIODS, SPARSE_MAX_UNITS
from forecast.storage.connection import quote_ident

# The default hierarchy's attributes; a run's own come from its configuration (``run_attributes``).
ATTRIBUTES = DEFAULT_NESTED + DEFAULT_CROSSED
BANDS = {"50%": ("p25", "p75"), "80%": ("p10", "p90"), "95%": ("p025", "p975")}
BACKTEST_COMMAND = "demand-forecast backtest"
# Opening retries while a writer holds the file (storage.connect_read_only's backoff): about ten seconds.
LOCK_RETRIES = 15

# Quantiles of summed sample paths, the forecast's grid plus the 95% band's ends, taken in one pass
# (a list quantile) and spread into columns.
_QUANTILE_LIST = "[" + ", ".join(str(q) for q in BAND_QUANTILES) + "]"
_QUANTILE_COLUMNS = ", ".join(f"q[{i + 1}] as {column(q)}" for i, q in enumerate(BAND_QUANTILES))


def _summary(key: str, name: str, order: str) -> str:
    """Mean and quantiles of ``units`` (a CTE of summed draws) per ``key``."""
    return f"""
        select "{name}", mean, {_QUANTILE_COLUMNS}
        from (
            select {key} as "{name}", avg(units) as mean, quantile_cont(units, {_QUANTILE_LIST}) as q
            from units group by 1
        )
        order by {order}
    """


class DataProblem(Exception):
    """The database cannot show this page; the message says why and what to run."""


def db_path(argv: list[str] | None = None) -> str:
    """``--db`` after ``streamlit run app.py --``, else ``$DEMAND_DB``, else ``data/demand.duckdb``."""
    argv = sys.argv[1:] if argv is None else argv
    if "--db" in argv or any(a.startswith("--db=") for a in argv):
        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument("--db")
        known, _ = parser.parse_known_args(argv)
        if known.db:
            return known.db
    return str(storage.default_db_path())


def version(db: str) -> tuple[int, int]:
    """Changes whenever a writer commits: the cache key of every query."""
    stamps = []
    for path in (Path(db), Path(f"{db}.wal")):
        try:
            stamps.append(path.stat().st_mtime_ns)
        except FileNotFoundError:
            stamps.append(0)
    return tuple(stamps)


def read(db: str, queries: dict[str, tuple[str, dict | None]]) -> dict[str, pd.DataFrame]:
    """Run named queries in one read transaction on a connection closed right after."""
    if not Path(db).is_file():
        raise DataProblem(
            f"No database at `{db}`. Create one with `demand-forecast demo`, or load sales with "
            "`demand-forecast ingest` and run `demand-forecast forecast`."
        )
    try:
        with storage.connect_read_only(db, retries=LOCK_RETRIES) as con:
            con.execute("begin transaction")
            out = {name: con.execute(sql, params or {}).df() for name, (sql, params) in queries.items()}
            con.execute("commit")
            return out
    except duckdb.CatalogException as exc:
        first = str(exc).splitlines()[0]
        raise DataProblem(
            f"The database `{db}` lacks a table or view this page needs ({first}). It may be empty or "
            "older than this version: run `demand-forecast forecast` (or `demand-forecast demo`) on it."
        ) from exc
    except duckdb.IOException as exc:
        first = str(exc).splitlines()[0]
        if "lock" in first.lower():
            raise DataProblem(
                f"`{db}` is being written by another process (an ingest or a forecast run holds it) and "
                "stayed locked for about ten seconds. Rerun this page (press R) once it has finished; "
                "nothing is lost, the dashboard only reads."
            ) from exc
        raise DataProblem(f"Cannot read `{db}`: {first}") from exc
    except duckdb.Error as exc:
        raise DataProblem(f"Cannot read `{db}`: {str(exc).splitlines()[0]}") from exc


def has_relations(db: str, names: tuple[str, ...]) -> dict[str, bool]:
    """Which of ``names`` exist as tables or views (a database from an older version may lack some)."""
    found = read_one(db, "select table_name from information_schema.tables")["table_name"]
    return {name: name in set(found) for name in names}


def read_one(db: str, sql: str, params: dict | None = None) -> pd.DataFrame:
    return read(db, {"q": (sql, params)})["q"]


# ------------------------------------------------------------------------------------------ runs


@st.cache_data(show_spinner=False, max_entries=32)
def latest_run(db: str, stamp: tuple) -> dict | None:
    """The newest published run's record, or None when there is none."""
    frame = read_one(db, "select r.* from forecast_runs r inner join latest_run using (run_id)")
    if frame.empty:
        return None
    return _record(frame.iloc[0])


def run_attributes(run: dict) -> tuple[str, ...]:
    """The attributes of a run's hierarchy, nested ones outermost first, then the crossed ones: what
    the pages filter and group by. A run recorded without a hierarchy ran the default one."""
    config = run.get("config")
    if isinstance(config, str):
        config = json.loads(config)
    hierarchy = config.get("hierarchy") if isinstance(config, dict) else None
    if not isinstance(hierarchy, dict):
        return ATTRIBUTES
    return tuple(hierarchy.get("nested") or ()) + tuple(hierarchy.get("crossed") or ())


def _columns(attributes: tuple[str, ...], table: str = "p") -> str:
    """``p."a" as "a", ...``: the attributes as columns named as the hierarchy spells them."""
    return ", ".join(f"{table}.{quote_ident(a)} as {quote_ident(a)}" for a in attributes)


def _check_attribute(by: str, attributes: tuple[str, ...]) -> None:
    if by not in attributes:
        raise ValueError(f"unknown attribute {by}: the run's are {', '.join(attributes)}")


def _record(row: pd.Series) -> dict:
    record = row.to_dict()
    for key in ("timings", "config"):
        if isinstance(record.get(key), str):
            record[key] = json.loads(record[key])
    return record


@st.cache_data(show_spinner=False, max_entries=32)
def run_config(db: str, stamp: tuple, run_id: str) -> dict:
    """A run's stored configuration (empty when it has none, e.g. a run that failed first)."""
    frame = read_one(db, "select config from forecast_runs where run_id = $run_id", {"run_id": run_id})
    config = frame["config"].iloc[0] if len(frame) else None
    return json.loads(config) if isinstance(config, str) else {}


@st.cache_data(show_spinner=False, max_entries=32)
def unconverged_runs(db: str, stamp: tuple) -> pd.DataFrame:
    """Runs stored unconverged (written, not published), newest first."""
    return read_one(
        db,
        "select run_id, created_at, problems from forecast_runs where status = 'unconverged' "
        "order by created_at desc, run_id desc",
    )


def require_run(db: str) -> dict:
    """The latest published run, or a DataProblem saying what to run (or which stored run to publish)."""
    stamp = version(db)
    run = latest_run(db, stamp)
    if run is not None:
        return run
    stored = unconverged_runs(db, stamp)
    if stored.empty:
        raise DataProblem(
            f"No published forecast run in `{db}` yet. Run `demand-forecast forecast --db {db}` "
            "(or `demand-forecast demo` for a demo database)."
        )
    newest = stored.iloc[0]
    why = f" ({newest['problems']})" if isinstance(newest["problems"], str) and newest["problems"] else ""
    raise DataProblem(
        f"No published forecast run in `{db}` yet, but {len(stored)} run(s) are stored unconverged: "
        f"their fits failed the convergence checks. The newest is `{newest['run_id']}`{why}. Publish it "
        f"as it is with `demand-forecast publish {newest['run_id']} --db {db}` (recorded as a manual "
        f"override), or run `demand-forecast forecast --db {db}` again."
    )


@st.cache_data(show_spinner=False, max_entries=32)
def run_history(db: str, stamp: tuple) -> pd.DataFrame:
    """Every run, newest first, with its timings spread into one column per stage."""
    frame = read_one(
        db,
        """
        select run_id, created_at, finished_at, status, published, verdict, max_rhat, min_ess_bulk,
               min_ess_tail, min_ess_hyper, divergences, min_bfmi, problems, message, sampler, likelihood,
               n_products, n_observations, frequency, horizon, first_date, last_date, seed, config_hash,
               package_version, posterior_path, timings
        from forecast_runs
        order by created_at desc, run_id desc
        """,
    )
    timings = frame["timings"].map(lambda t: json.loads(t) if isinstance(t, str) else {})
    stages = pd.DataFrame(list(timings), index=frame.index).add_prefix("seconds_")
    return pd.concat([frame.drop(columns="timings"), stages], axis=1)


# --------------------------------------------------------------------------------- the explorer


@st.cache_data(show_spinner=False, max_entries=32)
def products(db: str, stamp: tuple, run_id: str) -> pd.DataFrame:
    """Every product with its attributes, history size and shrinkage in the run."""
    return read_one(
        db,
        """
        select p.*, e.n_obs, e.units, e.shrinkage
        from products p
        left join product_effects e on e.product_id = p.product_id and e.run_id = $run_id
        order by e.units desc nulls last, p.product_id
        """,
        {"run_id": run_id},
    )


def search(catalog: pd.DataFrame, text: str) -> pd.DataFrame:
    """Products whose id or any attribute contains every word of ``text`` (case-insensitive)."""
    words = text.lower().split()
    if not words:
        return catalog
    attrs = [c for c in catalog.select_dtypes(exclude="number").columns if c not in (END_DATE, LAUNCH_DATE)]
    haystack = catalog[attrs].astype(str).agg(" ".join, axis=1).str.lower()
    keep = np.logical_and.reduce([haystack.str.contains(w, regex=False) for w in words])
    return catalog[keep]


_STEP = {"daily": "1 day", "weekly": "7 days", "monthly": "1 month", "quarterly": "3 months"}


def _fan_sql(draw_filter: str) -> str:
    """Summed sample paths per period (the 95% band's ends too: the forecasts table stops at 5%-95%)."""
    return f"""
        with units as (
            select date, draw, sum(quantity) as units
            from forecast_draws d
            where d.run_id = $run_id and {draw_filter}
            group by date, draw
        )
        {_summary("date", "date", "date")}
    """


@st.cache_data(show_spinner=False, max_entries=64)
def product_view(
    db: str, stamp: tuple, run_id: str, last_date, frequency: str | None, product_id: str
) -> dict[str, pd.DataFrame]:
    """History (zero-filled from the first sale), forecast with bands, actuals since, pooling."""
    step = _STEP.get(frequency or "weekly", "7 days")
    params = {"run_id": run_id, "product_id": product_id}
    out = read(
        db,
        {
            "sales": (
                f"""
                with bounds as (
                    select (select min(date) from sales where product_id = $product_id) as first,
                           (select max(date) from sales) as last
                ),
                periods as (
                    select unnest(generate_series(first, last, interval '{step}'))::date as date
                    from bounds where first is not null
                )
                select p.date, coalesce(s.quantity, 0) as actual
                from periods p
                left join sales s on s.product_id = $product_id and s.date = p.date
                order by p.date
                """,
                {"product_id": product_id},
            ),
            "forecast": (
                """
                select f.date, f.mean, f.p05, f.p10, f.p25, f.p50, f.p75, f.p90, f.p95, b.p025, b.p975
                from forecasts f
                left join (
                    select date, quantile_cont(quantity, 0.025) as p025,
                           quantile_cont(quantity, 0.975) as p975
                    from forecast_draws
                    where run_id = $run_id and product_id = $product_id
                    group by date
                ) b using (date)
                where f.run_id = $run_id and f.product_id = $product_id
                order by f.date
                """,
                params,
            ),
            "attributes": (
                "select * from products where product_id = $product_id",
                {"product_id": product_id},
            ),
            "effects": (
                "select * exclude (run_id) from product_effects where run_id = $run_id and product_id = $product_id",
                params,
            ),
        },
    )
    sales, last = out.pop("sales"), pd.Timestamp(last_date)
    out["history"] = sales[sales["date"] <= last].reset_index(drop=True)
    out["actuals"] = sales[sales["date"] > last].reset_index(drop=True)
    return out


# ------------------------------------------------------------------------------------ aggregates


@st.cache_data(show_spinner=False, max_entries=32)
def attribute_levels(db: str, stamp: tuple, attributes: tuple[str, ...] = ATTRIBUTES) -> pd.DataFrame:
    """Every combination of the attributes' levels the products hold (a column per attribute)."""
    if not attributes:
        return pd.DataFrame()
    return read_one(db, f"select distinct {_columns(attributes)} from products p order by all")


@st.cache_data(show_spinner=False, max_entries=64)
def slice_view(
    db: str, stamp: tuple, run_id: str, by: str, picked: tuple[tuple[str, str | None], ...]
) -> dict[str, pd.DataFrame]:
    """A coherent slice of the products holding every ``(attribute, level)`` of ``picked`` (a level
    None: any): sample paths summed across its products within each draw (per period, and over the
    horizon per level of ``by``, one of ``picked``'s attributes), its history and its number of products."""
    _check_attribute(by, tuple(a for a, _ in picked))
    q = quote_ident
    chosen = {f"v{i}": (a, v) for i, (a, v) in enumerate(picked) if v is not None}
    where = " and ".join(f"p.{q(a)} = ${name}" for name, (a, _) in chosen.items()) or "true"
    values = {name: v for name, (_, v) in chosen.items()}
    members = f"product_id in (select product_id from products p where {where})"
    products_in, sales_in = ("true", "true") if not chosen else (members, f"s.{members}")
    return read(
        db,
        {
            "forecast": (_fan_sql(products_in), {"run_id": run_id, **values}),
            "history": (
                f"""
                select d.date, coalesce(sum(s.quantity), 0) as actual
                from (select distinct date from sales) d
                left join sales s on s.date = d.date and {sales_in}
                group by d.date order by d.date
                """,
                values or None,
            ),
            "products": (f"select count(*) as n from products p where {where}", values or None),
            "breakdown": (
                f"""
                with units as (
                    select p.{q(by)} as level, d.draw, sum(d.quantity) as units
                    from forecast_draws d inner join products p using (product_id)
                    where d.run_id = $run_id and {where}
                    group by p.{q(by)}, d.draw
                )
                {_summary("level", by, "mean desc")}
                """,
                {"run_id": run_id, **values},
            ),
        },
    )


# ------------------------------------------------------------------------------ new and sparse


@st.cache_data(show_spinner=False, max_entries=32)
def pooling_table(
    db: str, stamp: tuple, run_id: str, attributes: tuple[str, ...] = ATTRIBUTES
) -> pd.DataFrame:
    """Per product: attributes, history, shrinkage and its forecast per period (mean over the horizon)."""
    columns = f"{_columns(attributes)}, " if attributes else ""
    return read_one(
        db,
        f"""
        with fc as (
            select product_id, avg(mean) as forecast_mean, avg(p50) as forecast_p50
            from forecasts where run_id = $run_id group by product_id
        )
        select p.product_id, {columns}e.n_obs, e.units, e.shrinkage,
               e.pooled_effect, e.group_effect, e.no_pooling_effect, fc.forecast_mean, fc.forecast_p50
        from product_effects e
        inner join products p using (product_id)
        left join fc using (product_id)
        where e.run_id = $run_id
        order by p.product_id
        """,
        {"run_id": run_id},
    )


def segment(
    frame: pd.DataFrame, new_max: int = NEW_MAX_PERIODS, sparse_max: int = SPARSE_MAX_UNITS
) -> pd.Series:
    """no history (never sold) | new (at most ``new_max`` periods) | sparse (< ``sparse_max`` units) | regular."""
    units = frame["units"].fillna(0)
    n_obs = frame["n_obs"].fillna(0)
    return pd.Series(
        np.select(
            [units <= 0, n_obs <= new_max, units < sparse_max],
            ["no history", "new", "sparse"],
            default="regular",
        ),
        index=frame.index,
    )


def with_group_means(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Adds the mean forecast per product of the product's group (all products sharing ``by``)."""
    group = frame.groupby(by)["forecast_mean"].transform("mean")
    return frame.assign(group=frame[by], group_forecast_mean=group)


@st.cache_data(show_spinner=False, max_entries=64)
def group_fan(
    db: str, stamp: tuple, run_id: str, by: str, level: str, attributes: tuple[str, ...] = ATTRIBUTES
) -> pd.DataFrame:
    """The average product of a group: its summed sample paths divided by its number of products."""
    _check_attribute(by, attributes)
    column = quote_ident(by)
    out = read(
        db,
        {
            "fan": (
                _fan_sql(f"product_id in (select product_id from products where {column} = $level)"),
                {"run_id": run_id, "level": level},
            ),
            "n": (f"select count(*) as n from products where {column} = $level", {"level": level}),
        },
    )
    frame, n = out["fan"], out["n"]["n"][0]
    cols = [c for c in frame.columns if c != "date"]
    frame[cols] = frame[cols] / max(int(n), 1)
    return frame


# ------------------------------------------------------------------------------------ model health


@st.cache_data(show_spinner=False, max_entries=32)
def fit_parameters(db: str, stamp: tuple, run_id: str) -> pd.DataFrame:
    return read_one(
        db,
        # the gated parameters first (the run's max R-hat is theirs), then the raw draws behind them
        "select * exclude (run_id) from fit_diagnostics where run_id = $run_id "
        "order by role = 'raw', r_hat desc",
        {"run_id": run_id},
    )


@st.cache_data(show_spinner=False, max_entries=32)
def fit_attempts(db: str, stamp: tuple, run_id: str) -> pd.DataFrame:
    """The run's sampling attempts (``forecast.model.remedies``): what each did and why, and its verdict."""
    return read_one(
        db,
        """
        select stage, attempt, action, chains, draws, target_accept, pooled, seconds, verdict, problems
        from fit_attempts where run_id = $run_id
        order by stage is not null, stage <> 'stage 1',
                 try_cast(regexp_extract(stage, '[0-9]+$') as integer), attempt
        """,
        {"run_id": run_id},
    )


@dataclass
class Effects:
    frame: pd.DataFrame  # attribute, level, mean, hdi_05, hdi_95
    source: str  # where the numbers come from, said under the plot


def _split_parameter(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    parts = frame["parameter"].str.extract(rf"^{prefix}(?P<attribute>[^\[]+)\[(?P<level>.*)\]$")
    return pd.concat([parts, frame[["mean", "hdi_05", "hdi_95"]]], axis=1).dropna(subset=["attribute"])


@st.cache_data(show_spinner=False, max_entries=16)
def group_effects(db: str, stamp: tuple, run_id: str, posterior_path: str | None) -> Effects:
    """Posterior of the group effects of the run's attributes (log scale), for the forest plot.

    The fit records ``effect_<attr>[level]`` in ``fit_diagnostics``, sampled directly or derived from
    the standardized ``z_<attr>`` (``forecast.model.diagnostics.checked_parameters``). Runs recorded before
    the derived effects were kept hold only ``z``: their effects are read from the run's saved
    posterior (mean and 90% HDI, as in ``fit_diagnostics``); without the file the standardized
    effects are shown.
    """
    params = fit_parameters(db, stamp, run_id)
    direct = _split_parameter(params[params["variable"].str.startswith("effect_")], "effect_")
    if len(direct):
        return Effects(direct, "fit_diagnostics: effect_<attribute>[level], posterior mean and 90% HDI")
    path = posterior_path if isinstance(posterior_path, str) else None
    if path and Path(path).is_file():
        return Effects(
            _effects_from_posterior(path), f"the run's posterior ({os.path.basename(path)}): mean and 90% HDI"
        )
    z = _split_parameter(params[params["variable"].str.startswith("z_")], "z_")
    return Effects(
        z, "fit_diagnostics: standardized effects z (effect = sigma * z; the posterior file is missing)"
    )


def hdi(samples: np.ndarray, prob: float = 0.9) -> tuple[float, float]:
    """The narrowest interval holding ``prob`` of the samples (as ArviZ's ``hdi`` for one mode)."""
    x = np.sort(np.asarray(samples, dtype=float).ravel())
    n = len(x)
    k = int(np.floor(prob * n))
    if n == 0 or k == 0:
        return (float("nan"), float("nan"))
    widths = x[k:] - x[: n - k]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + k])


def _effects_from_posterior(path: str) -> pd.DataFrame:
    """Mean and 90% HDI of every ``effect_<attribute>`` in the saved posterior (ArviZ NetCDF/HDF5).

    Read with h5py: the group effects are a few small arrays of a file that also holds every
    product's draws, and h5py reads just those (xarray's open takes seconds on the whole file).
    """
    import h5py

    rows = []
    with h5py.File(path, "r") as f:
        post = f["posterior"]
        for name in sorted(k for k in post if k.startswith("effect_")):
            var = post[name]
            levels = [x.decode() if isinstance(x, bytes) else str(x) for x in var.dims[var.ndim - 1][0][()]]
            values = var[()]  # (chain, draw, level)
            for i, level in enumerate(levels):
                low, high = hdi(values[..., i], 0.9)
                rows.append(
                    {
                        "attribute": name.removeprefix("effect_"),
                        "level": level,
                        "mean": float(values[..., i].mean()),
                        "hdi_05": low,
                        "hdi_95": high,
                    }
                )
    return pd.DataFrame(rows, columns=["attribute", "level", "mean", "hdi_05", "hdi_95"])


# --------------------------------------------------------------------------------------- accuracy


@st.cache_data(show_spinner=False, max_entries=16)
def backtests(db: str, stamp: tuple) -> pd.DataFrame:
    return read_one(db, "select * from backtest_runs order by created_at desc, backtest_id desc")


@st.cache_data(show_spinner=False, max_entries=16)
def backtest_results(db: str, stamp: tuple, backtest_id: str) -> dict[str, pd.DataFrame]:
    params = {"backtest_id": backtest_id}
    return read(
        db,
        {
            "metrics": (
                "select * exclude (backtest_id) from backtest_metrics where backtest_id = $backtest_id "
                "order by level, segment, fold, crps",
                params,
            ),
            "pit": (
                "select * exclude (backtest_id) from backtest_pit where backtest_id = $backtest_id "
                "order by method, segment, bin",
                params,
            ),
            "products": (
                "select distinct product_id, segment from backtest_forecasts "
                "where backtest_id = $backtest_id order by product_id",
                params,
            ),
        },
    )


@st.cache_data(show_spinner=False, max_entries=64)
def backtest_product(db: str, stamp: tuple, backtest_id: str, product_id: str) -> pd.DataFrame:
    return read_one(
        db,
        "select * exclude (backtest_id) from backtest_forecasts "
        "where backtest_id = $backtest_id and product_id = $product_id order by method, fold, date",
        {"backtest_id": backtest_id, "product_id": product_id},
    )
