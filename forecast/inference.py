"""Inference: draw from the posterior of a built model with the configured sampler."""

from __future__ import annotations

import logging
import os

import arviz as az
import pymc as pm
from threadpoolctl import threadpool_limits

from forecast.config import ForecastConfig

log = logging.getLogger(__name__)


def fit(model: pm.Model, config: ForecastConfig, progressbar: bool = True) -> az.InferenceData:
    """Sample the posterior.

    ``nutpie`` (default): NUTS compiled by numba, chains in parallel threads. ``pymc``: PyMC's own
    NUTS, also on the numba backend (pip-installed PyTensor links no BLAS). ``advi``: mean-field
    ADVI, a fast approximation whose draws carry no convergence diagnostics.
    """
    if config.sampler == "advi":
        with model:
            approx = pm.fit(
                n=20_000,
                method="advi",
                random_seed=config.seed,
                progressbar=progressbar,
                callbacks=[pm.callbacks.CheckParametersConvergence(tolerance=1e-3)],
            )
            return approx.sample(config.draws * config.chains, random_seed=config.seed)
    target_accept = config.target_accept_for(len(model.coords["product"]))
    log.info(
        "sampling with %s: %d chains x (%d tuning + %d draws), target acceptance %.2f%s",
        config.sampler,
        config.chains,
        config.tune,
        config.draws,
        target_accept,
        "; compiling the model first (numba: about half a minute, up to two minutes on a machine's "
        "first run; kept for later runs on the same catalog)"
        if config.sampler == "nutpie"
        else "",
    )
    kwargs: dict = {}
    if config.sampler == "pymc":
        kwargs = {
            "compile_kwargs": {"mode": "NUMBA"},
            "cores": min(config.chains, os.cpu_count() or 1),
        }
    # One BLAS thread per chain: OpenBLAS threads spin-waiting against parallel chains made
    # sampling four times slower on two cores (benchmarks/README.md).
    with model, threadpool_limits(limits=1):
        return pm.sample(
            draws=config.draws,
            tune=config.tune,
            chains=config.chains,
            random_seed=config.seed,
            nuts_sampler=config.sampler,
            target_accept=target_accept,
            progressbar=progressbar,
            **kwargs,
        )
