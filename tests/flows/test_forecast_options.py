"""The forecast options are declared once, in ForecastConfig (forecast.config.options.OPTIONS): the
CLI's flags, the flows' ``options`` parameter, the pipeline TOML's [forecast] table and prefect.yaml
all come from it, and any option set in one of them reaches the flow's configuration."""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flows.cli import app
from forecast import storage
from forecast.config.options import (
    DEFAULT_PRIORS,
    OPTION_NAMES,
    OPTIONS,
    ForecastConfig,
    Option,
    check_options,
)
from forecast.config.settings import flow_parameters, parse_settings

REPO = Path(__file__).resolve().parents[2]


def _other_value(o: Option):
    """A valid value of option ``o`` other than its default."""
    if o.choices:
        return next(c for c in o.choices if c != o.default)
    if o.kind is dict:
        return {next(iter(DEFAULT_PRIORS)): 0.25}
    if o.name == "holiday_country":
        return "US"
    if o.name == "product_effects":
        return "elasticity,dispersion"
    if o.kind is str:
        return "" if o.default else "category"
    if o.default is None:  # a number in [at_least, below)
        low = o.at_least or 0
        return (low + o.below) / 2 if o.below is not None else o.kind(low + 2)
    return o.kind(o.default + 1)


OTHER = {o.name: _other_value(o) for o in OPTIONS}


def _toml(options: dict) -> str:
    """``options`` as a [forecast] table (strings, numbers and one inline table)."""
    lines = ["[forecast]"]
    for name, value in options.items():
        if isinstance(value, dict):
            text = "{ " + ", ".join(f"{k} = {v!r}" for k, v in value.items()) + " }"
        else:
            text = json.dumps(value) if isinstance(value, str | bool) else repr(value)
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def _assert_configured(config: ForecastConfig, options: dict) -> None:
    """Every option in ``options`` is what ``config`` holds."""
    for name, value in options.items():
        held = (
            ",".join(getattr(config.hierarchy, name))
            if name in ("nested", "crossed")
            else getattr(config, name)
        )
        assert held == value, name


def test_every_option_has_a_value_other_than_its_default():
    """The values the tests below set: every option, each valid and none its default."""
    assert set(OTHER) == set(OPTION_NAMES)
    config = ForecastConfig.from_options(**OTHER)
    _assert_configured(config, OTHER)
    assert all(OTHER[o.name] != o.default for o in OPTIONS)


def test_every_option_set_in_the_pipeline_toml_reaches_the_forecast_flow(
    tmp_path, tiny_files, prefect_harness, monkeypatch
):
    """target_accept, priors, fourier_order, ...: each key of [forecast] ends up in the configuration
    the forecast flow runs, through the pipeline flow as a deployment runs it."""
    from flows.pipeline import pipeline_flow
    from forecast import runs

    class Configured(Exception):
        pass

    seen = []

    def capture(config):
        seen.append(config)
        raise Configured  # stop before anything is fitted

    monkeypatch.setattr(runs, "configured", capture)
    text = f'db = "demand.duckdb"\n[inbox]\nfolder = "{tmp_path}"\n' + _toml(OTHER)
    settings = parse_settings(tomllib.loads(text), base=tmp_path)
    assert settings.forecast == OTHER
    with pytest.raises(Configured):
        pipeline_flow(**settings.pipeline_parameters())
    [config] = seen
    _assert_configured(config, OTHER)


def test_the_forecast_deployment_and_the_backtest_take_the_same_options(tmp_path):
    from flows.backtest import backtest_flow
    from flows.forecast_flow import forecast_flow
    from flows.serve import deployments

    settings = parse_settings(tomllib.loads(_toml(OTHER | {"publish_unconverged": True})))
    served = next(d for d in deployments(settings) if d.flow_name == "forecast")
    parameters = forecast_flow.validate_parameters(served.parameters)
    assert parameters["publish_unconverged"] is True
    _assert_configured(ForecastConfig.from_options(**parameters["options"]), OTHER)

    # The [backtest] table: its own keys (horizon is the backtest's) and the forecast options.
    table = {"folds": 2, "horizon": 8, "draws": 50, "sampler": "advi"}
    parameters = backtest_flow.validate_parameters(flow_parameters(table, own=("horizon",)))
    assert parameters["folds"] == 2 and parameters["horizon"] == 8
    assert parameters["options"] == {"draws": 50, "sampler": "advi"}


def test_an_unknown_or_mistyped_toml_key_is_one_line_naming_the_known_ones():
    with pytest.raises(ValueError) as err:
        parse_settings({"forecast": {"target_acept": 0.9}})
    message = str(err.value)
    assert "\n" not in message and "unknown setting(s) ['target_acept'] in [forecast]" in message
    assert all(f"'{name}'" in message for name in OPTION_NAMES)
    with pytest.raises(ValueError, match=r"^\[forecast\] target_accept must be of type float"):
        parse_settings({"forecast": {"target_accept": "high"}})
    with pytest.raises(ValueError, match=r"^\[forecast\] unknown sampler 'gibbs'"):
        parse_settings({"forecast": {"sampler": "gibbs"}})  # checked when the file is read
    with pytest.raises(ValueError, match=r"^\[forecast\] unknown prior names"):
        parse_settings({"forecast": {"priors": {"no_such_prior": 1.0}}})
    assert parse_settings({"forecast": {"attempt_budget": 3}}).forecast == {"attempt_budget": 3.0}


def _command(name: str):
    return typer.main.get_command(app).commands[name]


@pytest.mark.parametrize(
    ("command", "names", "own"),
    [
        ("forecast", OPTION_NAMES, set()),
        ("backtest", tuple(n for n in OPTION_NAMES if n != "horizon"), {"horizon"}),  # periods scored
        ("demo", ("draws", "tune", "target_accept", "chains", "attempt_budget"), {"seed"}),  # the data's
    ],
)
def test_the_cli_flags_are_the_config_options(command, names, own):
    """Each command's forecast flags are the declared options, with their names, defaults and help;
    the forecast command's are all of them."""
    params = {p.name: p for p in _command(command).params}
    assert {n for n in params if n in OPTION_NAMES} == set(names) | own
    by_name = {o.name: o for o in OPTIONS}
    for name in names:
        o, flag = by_name[name], params[name]
        assert flag.opts == ["--" + name.replace("_", "-")]
        assert flag.default == (None if o.kind is dict else o.default), name  # priors: name=value text
        assert flag.help.startswith(o.help) and flag.help.endswith(o.describe().removeprefix(o.help)), name
    for name in own:
        assert not params[name].help.startswith(by_name[name].help)


@pytest.fixture
def ingested_db(tiny_files, tmp_path):
    sales, products = tiny_files
    db = tmp_path / "d.duckdb"
    with storage.connect(db) as con:
        storage.ingest(con, sales, products)
    return db


def test_every_cli_flag_reaches_the_flow(ingested_db, monkeypatch):
    """Every flag on the command line, each set to a value other than its default: the flow gets
    them all as ``options``, and the configuration they make is the one asked for."""
    import flows.forecast_flow

    calls = []

    def fake_flow(**kwargs):
        calls.append(kwargs)
        raise ValueError("stopped before the fit")

    monkeypatch.setattr(flows.forecast_flow, "forecast_flow", fake_flow)
    args = []
    for name, value in OTHER.items():
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in value.items())
        args += ["--" + name.replace("_", "-"), str(value)]
    result = CliRunner().invoke(app, ["forecast", "--db", str(ingested_db), *args])
    assert result.exit_code == 1 and "stopped before the fit" in result.output, result.output
    [call] = calls
    assert call["options"] == OTHER
    _assert_configured(ForecastConfig.from_options(**call["options"]), OTHER)


def test_cli_option_values_the_config_refuses_are_one_line(ingested_db):
    runner = CliRunner()
    for args, says in (
        (["--priors", "group_sigma"], "--priors takes name=value pairs"),
        (["--priors", "group_sigma=wide"], "--priors group_sigma must be a number"),
        (["--priors", "no_such_prior=1"], "unknown prior names"),
        (["--target-accept", "1.0"], "target_accept must be in [0.5, 1.0)"),
        (["--pooling", "some"], "unknown pooling 'some'"),
        (["--holiday-country", "XX"], "unknown holiday_country 'XX'"),
    ):
        result = runner.invoke(app, ["forecast", "--db", str(ingested_db), *args])
        assert result.exit_code == 1 and says in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1


def test_the_flows_take_the_options_in_one_parameter():
    """No flow declares an option of its own: each takes them all as ``options``."""
    from flows.backtest import backtest_flow
    from flows.demo import demo_flow
    from flows.forecast_flow import forecast_flow
    from flows.sharded import sharded_forecast_flow

    for flow, own in (
        (forecast_flow, set()),
        (sharded_forecast_flow, set()),
        (backtest_flow, {"horizon"}),  # the periods each fold scores
        (demo_flow, {"seed"}),  # the generated data's
    ):
        parameters = inspect.signature(flow.fn).parameters
        assert "options" in parameters, flow.name
        assert set(parameters) & set(OPTION_NAMES) == own, flow.name


def test_unknown_flow_options_are_one_line_naming_the_known_ones():
    with pytest.raises(ValueError) as err:
        ForecastConfig.from_options(target_acept=0.9)
    assert "unknown forecast option(s) ['target_acept']; known: [" in str(err.value)
    assert "'target_accept'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="draws must be of type int, got '1000'"):
        ForecastConfig.from_options(draws="1000")


def test_prefect_yaml_and_the_example_toml_name_only_and_every_option():
    """prefect.yaml's forecast_options are options the config takes; pipeline.example.toml shows
    every option in [forecast], and with its comments taken out it is a valid file."""
    import yaml

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    options = spec["definitions"]["forecast_options"]
    ForecastConfig.from_options(**check_options(options))
    on_demand = next(d for d in spec["deployments"] if d["entrypoint"] == "flows.forecast_flow:forecast_flow")
    assert on_demand["parameters"]["options"] == options

    text = (REPO / "pipeline.example.toml").read_text()
    section = text[text.index("\n[forecast]") : text.index("\n[backtest]")]
    shown = set(re.findall(r"^(?:# )?(\w+) = ", section, flags=re.M))
    assert set(OPTION_NAMES) - {"priors"} <= shown and "# [forecast.priors]" in section
    uncommented = re.sub(r"^# (?=\w+ = |\[forecast\.)", "", section, flags=re.M)
    settings = parse_settings(tomllib.loads(uncommented))
    assert set(settings.forecast) == set(OPTION_NAMES) | {"plan", "publish_unconverged"}


def test_the_readme_shows_every_forecast_flag():
    text = (REPO / "README.md").read_text()
    synopsis = text[text.index("demand-forecast forecast [") : text.index("demand-forecast publish RUN_ID")]
    assert all("--" + name.replace("_", "-") in synopsis for name in OPTION_NAMES)
