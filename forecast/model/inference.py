"""Inference: draw from the posterior of a built model with the configured sampler.

``Sampler`` compiles a model once and samples it as often as asked: a run whose first attempt fails
its checks samples again (more chains, smaller steps) without paying for the compile a second time
(``forecast.model.remedies``).
"""

from __future__ import annotations

import logging
import os
import time

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import ancestors
from threadpoolctl import threadpool_limits

from forecast.config.options import ForecastConfig

log = logging.getLogger(__name__)


def fit_advi(model: pm.Model, config: ForecastConfig, progressbar: bool = True) -> az.InferenceData:
    """Mean-field ADVI: a fast approximation whose draws carry no convergence diagnostics."""
    with model:
        approx = pm.fit(
            n=20_000,
            method="advi",
            random_seed=config.seed,
            progressbar=progressbar,
            callbacks=[pm.callbacks.CheckParametersConvergence(tolerance=1e-3)],
        )
        return approx.sample(config.draws * config.chains, random_seed=config.seed)


class Sampler:
    """NUTS on one model: ``nutpie`` (default; compiled by numba once, chains in threads, more
    chains than cores run in turn) or ``pymc`` (PyMC's own NUTS on the numba backend, since
    pip-installed PyTensor links no BLAS; it compiles on every call)."""

    def __init__(self, model: pm.Model, sampler: str = "nutpie") -> None:
        if sampler not in ("nutpie", "pymc"):
            raise ValueError(f"NUTS sampler must be nutpie or pymc, got '{sampler}'")
        self.model = model
        self.sampler = sampler
        self.compile_seconds = 0.0
        self._compiled = None
        if sampler == "nutpie":
            import nutpie

            log.info(
                "compiling the model (numba: about half a minute, up to two minutes on a machine's "
                "first run; kept for later runs on the same catalog)"
            )
            start = time.perf_counter()
            self._compiled = nutpie.compile_pymc_model(model)
            self.compile_seconds = time.perf_counter() - start

    def set_data(self, values: dict[str, np.ndarray]) -> None:
        """New values for the model's shared data (the same shapes): the next ``sample`` reads
        them without compiling again. Names the model does not have are ignored."""
        # The model's own (PyMC's sampler, and the chains' starting points in both samplers); a
        # value of one number for a vector (a part's exponent) is the same for all its entries.
        shared = {v.name: v for v in ancestors([self.model.logp()]) if isinstance(v, SharedVariable)}
        values = {
            name: np.array(np.broadcast_to(value, shared[name].get_value().shape), dtype=shared[name].dtype)
            for name, value in values.items()
            if name in shared
        }
        if self._compiled is not None:  # the compiled logp's copy of the data
            known = {k: v for k, v in values.items() if k in self._compiled.shared_data}
            self._compiled = self._compiled.with_data(**known)
        for name, value in values.items():
            shared[name].set_value(value)

    def sample(
        self,
        *,
        chains: int,
        tune: int,
        draws: int,
        target_accept: float,
        seed: int,
        progressbar: bool = True,
        init_mean: np.ndarray | None = None,
    ) -> az.InferenceData:
        """Posterior draws with these settings; ``init_mean`` (nutpie only, unconstrained space)
        starts the chains around a point of the caller's choosing instead of zero."""
        cores = min(chains, os.cpu_count() or 1)
        # One BLAS thread per chain: OpenBLAS threads spin-waiting against parallel chains made
        # sampling four times slower on two cores (benchmarks/README.md).
        with threadpool_limits(limits=1):
            if self.sampler == "nutpie":
                import nutpie

                return nutpie.sample(
                    self._compiled,
                    draws=draws,
                    tune=tune,
                    chains=chains,
                    cores=cores,
                    seed=seed,
                    target_accept=target_accept,
                    progress_bar=progressbar,
                    save_warmup=False,
                    init_mean=init_mean,
                )
            with self.model:
                return pm.sample(
                    draws=draws,
                    tune=tune,
                    chains=chains,
                    cores=cores,
                    random_seed=seed,
                    target_accept=target_accept,
                    progressbar=progressbar,
                    compile_kwargs={"mode": "NUMBA"},
                    compute_convergence_checks=False,
                )


def pool_chains(first: az.InferenceData, more: az.InferenceData) -> az.InferenceData:
    """Two sets of chains of the same model as one fit, the second's chains numbered after the
    first's (every chain is a valid draw of the same posterior, so more chains are more draws)."""
    groups = {}
    for group in ("posterior", "sample_stats"):
        a, b = first.get(group), more.get(group)
        if a is None or b is None:
            continue
        b = b.assign_coords(chain=np.arange(a.sizes["chain"], a.sizes["chain"] + b.sizes["chain"]))
        common = [v for v in a.data_vars if v in b.data_vars]
        groups[group] = xr.concat([a[common], b[common]], dim="chain")
    return az.InferenceData(**groups)
