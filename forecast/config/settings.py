"""Settings of the scheduled pipeline, read from a small TOML file (see ``pipeline.example.toml``).

The file names the database, the inbox folder new files land in, the forecast options, whether to
backtest, and the schedule. ``pipeline_parameters`` turns it into the pipeline flow's parameters, the
same ones a ``prefect.yaml`` deployment or the Prefect UI passes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecast.config.options import OPTION_NAMES, ForecastConfig, check_options

DEFAULT_CRON = "0 6 * * 1"  # Mondays 06:00

# The [forecast] table: the forecast options (forecast.config.options.OPTIONS) and these, the
# forecast flow's own parameters.
RUN_OPTIONS = {"plan": str, "publish_unconverged": bool}
_TOP = {"db", "inbox", "forecast", "backtest", "schedule", "timeout_minutes"}
_INBOX = {"folder", "sales", "products", "encoding", "map", "only_new_data"}
_SCHEDULE = {"cron", "timezone", "name"}


@dataclass(frozen=True)
class PipelineSettings:
    """What the scheduled pipeline does; defaults apply to anything the file leaves out."""

    inbox: str = "data/inbox"  # folder new files land in
    db: str | None = None  # None: $DEMAND_DB or data/demand.duckdb
    sales: str = "sales*.csv"  # glob of sales files inside the inbox
    products: str = "products.csv"  # products file (or glob) inside the inbox
    encoding: str = "utf-8"
    column_map: dict[str, str] = field(default_factory=dict)  # file column -> contract column
    only_new_data: bool = False  # skip the fit when no sales arrived since the latest published run
    forecast: dict[str, Any] = field(default_factory=dict)  # the [forecast] table (see flow_parameters)
    backtest: bool = False
    backtest_options: dict[str, Any] = field(default_factory=dict)  # folds, horizon, step, ...
    cron: str = DEFAULT_CRON
    timezone: str = "UTC"
    name: str = "weekly"  # the deployment's name
    timeout_minutes: float = 360  # a forecast running longer fails the run

    def pipeline_parameters(self) -> dict[str, Any]:
        """The pipeline flow's parameters (what a deployment runs with)."""
        return {
            "inbox": self.inbox,
            "db": self.db,
            "sales": self.sales,
            "products": self.products,
            "encoding": self.encoding,
            "column_map": dict(self.column_map),
            "only_new_data": self.only_new_data,
            "forecast": dict(self.forecast),
            "backtest": self.backtest,
            "backtest_options": dict(self.backtest_options),
            "timeout_minutes": self.timeout_minutes,
        }


def _check_keys(table: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} in {where}; known: {sorted(known)}")


def _forecast_table(table: dict[str, Any]) -> dict[str, Any]:
    """The [forecast] table checked: known keys, each of its type, option values the config takes."""
    _check_keys(table, {*OPTION_NAMES, *RUN_OPTIONS}, "[forecast]")
    for key, kind in RUN_OPTIONS.items():
        if key in table and not isinstance(table[key], kind):
            raise ValueError(f"[forecast] {key} must be of type {kind.__name__}, got {table[key]!r}")
    options = check_options(flow_parameters(table)["options"], "[forecast] ")
    try:
        ForecastConfig.from_options(**options)
    except ValueError as exc:
        raise ValueError(f"[forecast] {exc}") from None
    return table | options


def flow_parameters(table: dict[str, Any], own: tuple[str, ...] = ()) -> dict[str, Any]:
    """A [forecast] (or [backtest]) table as its flow's parameters: the forecast options gathered
    in ``options``, the other keys (and those named in ``own``) as the flow's own parameters."""
    options = {k: v for k, v in table.items() if k in OPTION_NAMES and k not in own}
    return {**{k: v for k, v in table.items() if k not in options}, "options": options}


def _resolve(base: Path, path: str) -> str:
    """A relative path in the file is relative to the file's folder."""
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p))


def parse_settings(data: dict[str, Any], base: Path | None = None) -> PipelineSettings:
    """Settings from a parsed TOML document; relative paths resolve against ``base`` when given."""
    _check_keys(data, _TOP, "the file")
    inbox = dict(data.get("inbox", {}))
    _check_keys(inbox, _INBOX, "[inbox]")
    forecast = _forecast_table(dict(data.get("forecast", {})))
    backtest = dict(data.get("backtest", {}))
    enabled = backtest.pop("enabled", False)
    if not isinstance(enabled, bool):
        raise ValueError(f"[backtest] enabled must be true or false, got {enabled!r}")
    schedule = dict(data.get("schedule", {}))
    _check_keys(schedule, _SCHEDULE, "[schedule]")
    names = inbox.get("map", {})
    if not all(isinstance(v, str) for v in names.values()):
        raise ValueError('[inbox.map] gives contract names their files\' names: date = "day"')
    column_map = {file_name: contract for contract, file_name in names.items()}

    defaults = PipelineSettings()
    folder = inbox.get("folder", defaults.inbox)
    db = data.get("db")
    if base is not None:
        folder = _resolve(base, folder)
        db = _resolve(base, db) if db else None
        if forecast.get("plan"):
            forecast["plan"] = _resolve(base, forecast["plan"])
    return PipelineSettings(
        inbox=folder,
        db=db,
        sales=inbox.get("sales", defaults.sales),
        products=inbox.get("products", defaults.products),
        encoding=inbox.get("encoding", defaults.encoding),
        column_map=dict(column_map),
        only_new_data=bool(inbox.get("only_new_data", defaults.only_new_data)),
        forecast=forecast,
        backtest=enabled,
        backtest_options=backtest,
        cron=schedule.get("cron", defaults.cron),
        timezone=schedule.get("timezone", defaults.timezone),
        name=schedule.get("name", defaults.name),
        timeout_minutes=_positive(data.get("timeout_minutes", defaults.timeout_minutes), "timeout_minutes"),
    )


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def load_settings(path: str | Path | None = None) -> PipelineSettings:
    """Read a pipeline TOML file; without one, the defaults (inbox ``data/inbox``)."""
    if path is None:
        return PipelineSettings()
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file not found: {path} (start from a copy of pipeline.example.toml)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    return parse_settings(data, base=path.resolve().parent)
