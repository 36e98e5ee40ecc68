"""A forecast run from history to sample paths, as plain functions the flows put in order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import arviz as az
import pandas as pd

from forecast import __version__
from forecast.calendar import Frequency, infer_frequency
from forecast.config import DEFAULT_HORIZON, ForecastConfig
from forecast.design import Design, build_design
from forecast.diagnostics import summarise_fit
from forecast.inference import fit
from forecast.model import build_model
from forecast.predict import sample_paths, summarise
from forecast.schema import DATE
from forecast.storage import DrawsFrame


def new_run_id() -> str:
    """Sortable and unique: UTC time, then a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


@dataclass
class Prepared:
    design: Design
    frequency: Frequency
    horizon: int


@dataclass
class Fitted:
    idata: az.InferenceData
    diagnostics: dict = field(default_factory=dict)


def prepare(sales: pd.DataFrame, products: pd.DataFrame, config: ForecastConfig) -> Prepared:
    """Infer the frequency and horizon, and build the design for history and horizon."""
    frequency = infer_frequency(sales[DATE])
    horizon = config.horizon or DEFAULT_HORIZON[frequency.code]
    design = build_design(
        sales, products, config.hierarchy, frequency, horizon, fourier_order=config.fourier_order
    )
    return Prepared(design=design, frequency=frequency, horizon=horizon)


def fit_model(prepared: Prepared, config: ForecastConfig, progressbar: bool = True) -> Fitted:
    model = build_model(prepared.design, config.merged_priors)
    idata = fit(model, config, progressbar=progressbar)
    free = [rv.name for rv in model.free_RVs]
    return Fitted(idata=idata, diagnostics=summarise_fit(idata, free))


def forecast(prepared: Prepared, fitted: Fitted, config: ForecastConfig) -> tuple[pd.DataFrame, DrawsFrame]:
    paths = sample_paths(
        prepared.design, config.merged_priors, fitted.idata, config.sample_paths, config.seed
    )
    return summarise(paths), paths


def run_record(prepared: Prepared, config: ForecastConfig) -> dict:
    """The run's metadata for ``forecast_runs``: what was fitted, on what, and how."""
    d = prepared.design
    return {
        "frequency": prepared.frequency.name,
        "horizon": prepared.horizon,
        "n_products": len(d.products),
        "n_observations": len(d.train),
        "first_date": d.dates[0].date(),
        "last_date": d.dates[d.n_train - 1].date(),
        "message": f"future prices and promotions: {d.future_price_source}",
    }


def config_record(config: ForecastConfig) -> dict:
    return {
        "sampler": config.sampler,
        "seed": config.seed,
        "config": config.to_dict(),
        "config_hash": config.hash(),
        "package_version": __version__,
    }
