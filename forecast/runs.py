"""A forecast run from history to sample paths, as plain functions the flows put in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import pandas as pd

from forecast import __version__
from forecast.config.options import DEFAULT_HORIZON, NO_SHARDED_SHOCKS, ForecastConfig
from forecast.contract.paths import SamplePaths
from forecast.contract.schema import DATE, PRODUCT
from forecast.model.builder import build_model
from forecast.model.diagnostics import checked_parameters, parameter_table, verdict
from forecast.model.effects import product_effects
from forecast.model.forms import (
    choose_forms,
    exponent_at,
    pilot_scales,
    shared_shocks_found,
    split_attributes,
)
from forecast.model.inference import fit_advi
from forecast.model.predict import sample_paths, summarise
from forecast.model.remedies import fit_until_converged
from forecast.prep.calendar import Frequency, infer_frequency
from forecast.prep.design import Design, build_design
from forecast.prep.events import default_events


@dataclass
class Prepared:
    design: Design
    frequency: Frequency
    horizon: int


@dataclass
class Fitted:
    idata: az.InferenceData
    diagnostics: dict = field(default_factory=dict)  # the run record's summary and verdict
    parameters: pd.DataFrame | None = None  # fit_diagnostics rows
    attempts: list[dict] = field(default_factory=list)  # every sampling attempt (forecast.model.remedies)
    forms: dict | None = None  # how the model was written for the posterior kept

    @property
    def converged(self) -> bool:
        return self.diagnostics.get("verdict") in ("converged", "approximate")


def prepare(
    sales: pd.DataFrame,
    products: pd.DataFrame,
    config: ForecastConfig,
    plan: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> Prepared:
    """Infer the frequency and horizon, and build the design for history and horizon.

    ``events``: the calendar ``(date, event)`` (the ``events`` table); where it has no rows and
    ``config.holiday_country`` names a country, that country's public holidays over the years of
    history and horizon (``forecast.prep.events.default_events``); none with ``config.events`` off.
    """
    frequency = infer_frequency(sales[DATE])
    horizon = config.horizon or DEFAULT_HORIZON[frequency.code]
    dates = pd.to_datetime(sales[DATE])
    last = frequency.future(dates.max(), horizon)[-1]
    events = default_events(events, config.holiday_country, dates.min(), last)
    if config.events == "off":
        events = None
    design = build_design(
        sales, products, config.hierarchy, frequency, horizon, config.fourier_order, plan, events
    )
    return Prepared(design=design, frequency=frequency, horizon=horizon)


def model_for(
    design: Design,
    config: ForecastConfig,
    predict: bool = False,
    fixed: dict | None = None,
    forms: dict | None = None,
):
    """The configured model on the history (or, with ``predict``, on the horizon); ``fixed``: known
    top-level values (a shard's stage 2, ``forecast.shards``); ``forms``: how each part is
    written (default: from the data, ``forecast.model.forms``)."""
    return build_model(
        design,
        config.merged_priors,
        predict=predict,
        likelihood=config.likelihood,
        pooling=config.pooling,
        forms=forms,
        fixed=fixed,
        product_effects=config.product_effect_list,
        launch_ramp=config.launch_ramp == "on",
        level_drift=config.level_drift == "on",
        shared_shocks=shocks_in(design, config, fixed),
        censor=config.stockouts == "censored",
    )


def shocks_in(design: Design, config: ForecastConfig, fixed: dict | None = None) -> bool:
    """Whether the model has shared demand shocks: ``shared_shocks`` on, or ``auto`` and the pre-fit
    finds them in the history (``forecast.model.forms.shared_shocks_found``). A shard's stage 2 by
    NUTS (``fixed``) has none: its shocks would be its own, not shared with the other shards."""
    if fixed is not None:
        if config.shared_shocks == "on" or "shock_sigma" in fixed:
            raise ValueError(NO_SHARDED_SHOCKS)
        return False
    if config.shared_shocks == "auto":
        return shared_shocks_found(design, config.merged_priors)["found"]
    return config.shared_shocks == "on"


def fit_model(
    prepared: Prepared, config: ForecastConfig, progressbar: bool = True, fixed: dict | None = None
) -> Fitted:
    """Sample the posterior and check it; a fit that fails its checks is retried within the time
    budget (``forecast.model.remedies``), every attempt recorded."""
    design, priors = prepared.design, config.merged_priors
    spreads = pilot_scales(design, priors)
    forms = choose_forms(design, priors, scales=spreads)
    model = model_for(design, config, fixed=fixed, forms=forms)
    if config.sampler == "advi":
        idata = fit_advi(model, config, progressbar=progressbar)
        table = parameter_table(idata, checked_parameters(model))
        return Fitted(idata=idata, diagnostics=verdict(idata, table), parameters=table, forms=forms)
    target_accept = config.target_accept_for(len(design.products))
    fit = fit_until_converged(
        model,
        forms,
        config,
        target_accept,
        progressbar=progressbar,
        reform=lambda part, scale: exponent_at(
            design, priors, spreads, part, scale, split_attributes(forms["groups"])
        ),
    )
    return Fitted(
        idata=fit.idata,
        diagnostics=fit.diagnostics,
        parameters=fit.table.assign(attempt=len(fit.attempts)),
        attempts=[a.record() for a in fit.attempts],
        forms=fit.forms,
    )


def save_posterior(fitted: Fitted, folder: Path, run_id: str, config: ForecastConfig) -> Path:
    """Write the posterior to ``folder/<run_id>.nc`` with the config hash and version as attributes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.nc"
    fitted.idata.posterior.attrs.update(
        {"run_id": run_id, "config_hash": config.hash(), "package_version": __version__}
    )
    fitted.idata.to_netcdf(str(path))
    return path


def run_tables(prepared: Prepared, fitted: Fitted) -> dict[str, pd.DataFrame]:
    """The per-run tables written with the forecasts: parameter diagnostics, product effects."""
    tables = {"product_effects": product_effects(fitted.idata, prepared.design)}
    if fitted.parameters is not None:
        tables["fit_diagnostics"] = fitted.parameters
    return tables


def forecast(prepared: Prepared, fitted: Fitted, config: ForecastConfig) -> tuple[pd.DataFrame, SamplePaths]:
    model = model_for(prepared.design, config, predict=True, forms=fitted.forms)
    paths = sample_paths(model, prepared.design, fitted.idata, config.sample_paths, config.seed)
    return flag_stockouts(summarise(paths), prepared.design), paths


def flag_stockouts(forecasts: pd.DataFrame, design: Design) -> pd.DataFrame:
    """The forecasts with ``had_stockouts``: whether the product's history had periods out of stock.

    Those periods were read as lower bounds on demand, so the forecast is of demand and can exceed
    what the product used to sell; a planner reading it next to past sales should know why.
    """
    flag = pd.Series(design.had_stockout, index=design.products.astype(str))
    return forecasts.assign(
        had_stockouts=flag.reindex(forecasts[PRODUCT].astype(str)).fillna(False).to_numpy()
    )


def unseen_events_line(design) -> str:
    """The run record's word on the horizon's event columns the history never had
    (``forecast.prep.events.unseen_event_features``): their effects are drawn as large as the seen
    columns' are, or not at all where no column was seen."""
    names = design.unseen_event_names
    if not names:
        return ""
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    if not design.event_names:
        return f"{len(names)} event column(s) in the horizon never in the history, no effect (none seen): {shown}; "
    return f"{len(names)} event column(s) in the horizon never in the history, drawn as large as the seen: {shown}; "


def describe(prepared: Prepared, config: ForecastConfig, shocks: str | None = None) -> dict:
    """What the run fits, on what (``RunRecord`` fields); ``shocks``: the word on the shared shocks
    where another design than the catalog's decides them (a sharded run's stage 1: ``shocks_line``
    on its sample and configuration)."""
    d = prepared.design
    return {
        "frequency": prepared.frequency.name,
        "horizon": prepared.horizon,
        "n_products": len(d.products),
        "n_observations": len(d.train),
        "first_date": d.dates[0].date(),
        "last_date": d.dates[d.n_train - 1].date(),
        "censored_rows": d.censored_rows,
        "message": f"future prices and promotions: {d.future_price_source}; "
        + (f"{len(d.event_names)} calendar event column(s); " if d.event_names else "")
        + unseen_events_line(d)
        + f"NUTS target acceptance {config.target_accept_for(len(d.products)):.2f}"
        + f"; {shocks or shocks_line(d, config)}"
        + (
            f"; {d.sales_after_end} sales row(s) dated after their product's end_date were not read as history"
            if d.sales_after_end
            else ""
        )
        + (
            f"; {d.sales_before_launch} sales row(s) dated before their product's launch_date were not "
            "read as history"
            if d.sales_before_launch
            else ""
        )
        + (
            f"; {d.censored_rows} period(s) out of stock (availability under 1) read as lower bounds "
            f"on demand, for {int(d.had_stockout.sum())} product(s)"
            if d.censored_rows
            else ""
        ),
    }


def shocks_line(design: Design, config: ForecastConfig) -> str:
    """The run record's word on the shared shocks: in the model or not, and why."""
    if config.shared_shocks != "auto":
        return f"shared shocks {config.shared_shocks} (set)"
    found = shared_shocks_found(design, config.merged_priors)
    return (
        f"shared shocks {'on' if found['found'] else 'off'} (auto: the pre-fit's shock sd "
        f"{found['sd']:.3f} a period, p {found['p']:.2g})"
    )


def outcome(diagnostics: dict, publish_unconverged: bool) -> tuple[bool, str | None]:
    """Whether a run is published, and by whom: when its fit passed the checks ("checks"), or on
    ``--publish-unconverged`` ("option"); otherwise it is written as ``unconverged`` for
    ``demand-forecast publish RUN_ID`` ("manual", ``storage.publish_run``)."""
    if diagnostics.get("verdict") in ("converged", "approximate"):
        return True, "checks"
    if publish_unconverged:
        return True, "option"
    return False, None


def configured(config: ForecastConfig) -> dict:
    """How the run is configured (``RunRecord`` fields)."""
    return {
        "sampler": config.sampler,
        "likelihood": config.likelihood,
        "seed": config.seed,
        "config": config.to_dict(),
        "config_hash": config.hash(),
        "package_version": __version__,
    }
