"""Convergence diagnostics of a fit (ArviZ), per parameter and as a verdict with advice."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
from pytensor.graph.traversal import ancestors

# Thresholds after Vehtari et al. (2021), "Rank-normalization, folding, and localization: an
# improved R-hat", and Betancourt (2016) for the energy BFMI.
MAX_RHAT = 1.01
MIN_ESS = 400  # on hyperparameters: the scales and shared means that every product's forecast uses
MIN_BFMI = 0.3


def is_hyperparameter(name: str) -> bool:
    """Shared parameters: scales, shared means, the intercept and the dispersion."""
    return name.startswith("sigma_") or name.endswith(("_sigma", "_mu")) or name in ("intercept", "log_alpha")


def checked_parameters(model: pm.Model) -> list[str]:
    """The parameters a fit is checked and reported on: every free parameter, and the quantities
    a parameterisation derives from them that an analyst reads as parameters (a hyperparameter
    such as ``elasticity_mu``, the group effects ``effect_<attribute>``). Constants (a sharded
    fit's fixed values) are left out: they have no chains to check."""
    free = set(model.free_RVs)
    derived = [
        d.name
        for d in model.deterministics
        if (is_hyperparameter(d.name) or d.name.startswith("effect_"))
        and any(v in free for v in ancestors([d]))
    ]
    return [rv.name for rv in model.free_RVs] + derived


def parameter_table(idata: az.InferenceData, var_names: list[str]) -> pd.DataFrame:
    """One row per scalar parameter: mean, sd, 90% interval, R-hat, bulk and tail ESS."""
    names = [v for v in var_names if v in idata.posterior.data_vars]
    summary = az.summary(idata, var_names=names, hdi_prob=0.9, kind="all", round_to="none")
    summary = summary.rename(
        columns={"hdi_5%": "hdi_05", "hdi_95%": "hdi_95", "r_hat": "r_hat", "mcse_mean": "mcse_mean"}
    )
    summary.index.name = "parameter"
    frame = summary.reset_index()[
        ["parameter", "mean", "sd", "hdi_05", "hdi_95", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]
    ]
    frame["variable"] = frame["parameter"].str.replace(r"\[.*\]$", "", regex=True)
    frame["hyperparameter"] = frame["variable"].map(is_hyperparameter)
    return frame


def verdict(idata: az.InferenceData, table: pd.DataFrame) -> dict:
    """Summary for the run record: worst values, divergences, BFMI, a verdict and what to try."""
    post = idata.posterior
    divergences = 0
    stats = idata.get("sample_stats")
    if stats is not None and "diverging" in stats:
        divergences = int(stats["diverging"].sum())
    bfmi = np.nan
    if stats is not None and "energy" in stats:
        bfmi = float(np.min(az.bfmi(idata)))
    if post.sizes.get("chain", 1) < 2:
        return {
            "max_rhat": None,
            "min_ess_bulk": None,
            "min_ess_tail": None,
            "min_ess_hyper": None,
            "divergences": divergences,
            "min_bfmi": None,
            "verdict": "approximate",
            "problems": "approximate inference (ADVI): no convergence diagnostics",
        }
    hyper = table[table["hyperparameter"]]
    ess_hyper = float(hyper[["ess_bulk", "ess_tail"]].min().min()) if len(hyper) else np.nan
    rhat = float(table["r_hat"].max())
    problems = []
    if rhat > MAX_RHAT:
        worst = table.loc[table["r_hat"].idxmax(), "parameter"]
        problems.append(
            f"R-hat {rhat:.3f} > {MAX_RHAT} (worst: {worst}): chains disagree; run longer (--draws, --tune)"
        )
    if len(hyper) and ess_hyper < MIN_ESS:
        worst = hyper.loc[hyper[["ess_bulk", "ess_tail"]].min(axis=1).idxmin(), "parameter"]
        problems.append(
            f"ESS {ess_hyper:.0f} < {MIN_ESS} on hyperparameter {worst}: increase --draws, or --target-accept 0.95"
        )
    if divergences:
        problems.append(
            f"{divergences} divergent transitions: the posterior has regions the sampler cannot "
            "follow; try --target-accept 0.95, more --tune, or check the data of sparse groups"
        )
    if np.isfinite(bfmi) and bfmi < MIN_BFMI:
        problems.append(f"energy BFMI {bfmi:.2f} < {MIN_BFMI}: poor exploration of the scales")
    return {
        "max_rhat": rhat,
        "min_ess_bulk": float(table["ess_bulk"].min()),
        "min_ess_tail": float(table["ess_tail"].min()),
        "min_ess_hyper": ess_hyper,
        "divergences": divergences,
        "min_bfmi": bfmi,
        "verdict": "not converged" if problems else "converged",
        "problems": "; ".join(problems),
    }
