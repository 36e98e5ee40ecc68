"""Convergence diagnostics of a fit, from ArviZ."""

from __future__ import annotations

import arviz as az
import numpy as np

# Thresholds after Vehtari et al. (2021), "Rank-normalization, folding, and localization".
MAX_RHAT = 1.01
MIN_ESS = 400


def summarise_fit(idata: az.InferenceData, var_names: list[str]) -> dict[str, float | int | str]:
    """Worst R-hat, smallest bulk and tail ESS, divergences, and a verdict over ``var_names``.

    Pass the model's free parameters (deterministics only repeat them). ADVI draws have no chains to
    compare, so they get no R-hat/ESS and the verdict ``approximate``.
    """
    post = idata.posterior
    n_chains = post.sizes.get("chain", 1)
    names = [v for v in var_names if v in post.data_vars]
    divergences = 0
    if "sample_stats" in idata and "diverging" in idata.sample_stats:
        divergences = int(idata.sample_stats["diverging"].sum())
    if n_chains < 2:
        return {
            "max_rhat": np.nan,
            "min_ess_bulk": np.nan,
            "min_ess_tail": np.nan,
            "divergences": divergences,
            "verdict": "approximate",
        }
    sub = post[names]
    rhat = float(az.rhat(sub).to_array().max())
    ess_bulk = float(az.ess(sub, method="bulk").to_array().min())
    ess_tail = float(az.ess(sub, method="tail").to_array().min())
    ok = rhat <= MAX_RHAT and min(ess_bulk, ess_tail) >= MIN_ESS and divergences == 0
    return {
        "max_rhat": rhat,
        "min_ess_bulk": ess_bulk,
        "min_ess_tail": ess_tail,
        "divergences": divergences,
        "verdict": "converged" if ok else "not converged",
    }
