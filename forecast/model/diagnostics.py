"""Convergence diagnostics of a fit (ArviZ), per parameter, and the gate a run must pass to publish.

The gate checks the quantities the forecasts are computed from, each with the rule that fits it:

- **hyperparameters** (scales, shared means, the groups' averages, the intercept, the dispersion):
  every product's forecast uses them, and few draws inform them, so R-hat at most ``MAX_RHAT`` and
  bulk and tail ESS at least ``MIN_ESS``;
- **shared effects** (each attribute level's effect, each pooling group's seasonality, trend,
  elasticity, promotion lift): R-hat at most ``MAX_RHAT``;
- **product levels** and any component's per-product values (``<name>_product``, one per product:
  thousands of them): R-hat at most ``MAX_RHAT_PRODUCT``;
- no divergent transitions and an energy BFMI of at least ``MIN_BFMI`` in every chain.

The raw variables a parameterisation samples (``z_brand``, ``trend_w``, ...) are reported but not
gated: the effects built from them are. How often this gate fails a healthy fit, and how often it
catches a broken one: ``benchmarks/gate.py`` and benchmarks/README.md ("the convergence gate").
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
from pytensor.graph.traversal import ancestors

# Thresholds after Vehtari et al. (2021), "Rank-normalization, folding, and localization: an
# improved R-hat", and Betancourt (2016) for the energy BFMI.
MAX_RHAT = 1.01
MAX_RHAT_PRODUCT = 1.01
MIN_ESS = 400  # bulk and tail, on hyperparameters
MIN_BFMI = 0.3

POOLED = ("season", "event", "trend", "elasticity", "promo", "logit_zero", "ramp", "shock")
RAW_SUFFIXES = ("_z", "_w", "_mu_z", "_free")


def is_hyperparameter(name: str) -> bool:
    """Shared parameters: scales, shared means and averages, the intercept and the dispersion."""
    return (
        name.startswith("sigma_")
        or name.endswith(("_sigma", "_mu", "_avg"))
        or name in ("intercept", "log_alpha", "shock_phi")
    )


def role(name: str) -> str:
    """How the gate reads a variable: ``hyper``, ``shared``, ``product`` or ``raw`` (not gated)."""
    if name.startswith("z_") or name.endswith(RAW_SUFFIXES):
        return "raw"
    if is_hyperparameter(name):
        return "hyper"
    if name.endswith("_product"):  # alpha_product, and a component's per-product values
        return "product"
    if name.startswith("effect_") or name in POOLED:
        return "shared"
    return "raw"


def checked_parameters(model: pm.Model) -> list[str]:
    """The parameters a fit is checked and reported on: every free parameter, and the quantities
    a parameterisation derives from them that the forecasts read (a hyperparameter such as
    ``elasticity_mu``, the group effects ``effect_<attribute>``, the pooled coefficients, the
    product levels). Constants (a sharded fit's fixed values) are left out: they have no chains."""
    free = set(model.free_RVs)
    derived = [
        d.name
        for d in model.deterministics
        if role(d.name) != "raw" and any(v in free for v in ancestors([d]))
    ]
    return [rv.name for rv in model.free_RVs] + derived


def parameter_table(idata: az.InferenceData, var_names: list[str]) -> pd.DataFrame:
    """One row per scalar parameter: mean, sd, 90% interval, R-hat, bulk and tail ESS, its role."""
    names = [v for v in dict.fromkeys(var_names) if v in idata.posterior.data_vars]
    summary = az.summary(idata, var_names=names, hdi_prob=0.9, kind="all", round_to="none")
    summary = summary.rename(columns={"hdi_5%": "hdi_05", "hdi_95%": "hdi_95"})
    summary.index.name = "parameter"
    frame = summary.reset_index()[
        ["parameter", "mean", "sd", "hdi_05", "hdi_95", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]
    ]
    frame["variable"] = frame["parameter"].str.replace(r"\[.*\]$", "", regex=True)
    frame["hyperparameter"] = frame["variable"].map(is_hyperparameter)
    frame["role"] = frame["variable"].map(role)
    return frame


@dataclass(frozen=True)
class Failure:
    """One failed check: which, on what, the value and the bar; ``parameter`` names the worst."""

    check: str  # "rhat" | "ess" | "divergences" | "bfmi"
    value: float
    bar: float
    parameter: str | None = None

    def describe(self) -> str:
        if self.check == "rhat":
            return f"R-hat {self.value:.3f} > {self.bar} on {self.parameter}"
        if self.check == "ess":
            return f"ESS {self.value:.0f} < {self.bar:.0f} on {self.parameter}"
        if self.check == "divergences":
            return f"{self.value:.0f} divergent transitions"
        return f"energy BFMI {self.value:.2f} < {self.bar} in a chain"


def failures(idata: az.InferenceData, table: pd.DataFrame) -> list[Failure]:
    """What fails the gate (module docstring), worst first within each check; empty if it passes."""
    found = []
    rhat = table[table["role"].isin(["hyper", "shared"])]
    if len(rhat) and rhat["r_hat"].max() > MAX_RHAT:
        worst = rhat.loc[rhat["r_hat"].idxmax()]
        found.append(Failure("rhat", float(worst["r_hat"]), MAX_RHAT, worst["parameter"]))
    products = table[table["role"] == "product"]
    if len(products) and products["r_hat"].max() > MAX_RHAT_PRODUCT:
        worst = products.loc[products["r_hat"].idxmax()]
        found.append(Failure("rhat", float(worst["r_hat"]), MAX_RHAT_PRODUCT, worst["parameter"]))
    hyper = table[table["role"] == "hyper"]
    if len(hyper):
        ess = hyper[["ess_bulk", "ess_tail"]].min(axis=1)
        if ess.min() < MIN_ESS:
            found.append(Failure("ess", float(ess.min()), MIN_ESS, hyper.loc[ess.idxmin(), "parameter"]))
    divergences = _divergences(idata)
    if divergences:
        found.append(Failure("divergences", divergences, 0))
    bfmi = _min_bfmi(idata)
    if np.isfinite(bfmi) and bfmi < MIN_BFMI:
        found.append(Failure("bfmi", bfmi, MIN_BFMI))
    return found


def _divergences(idata: az.InferenceData) -> int:
    stats = idata.get("sample_stats")
    return int(stats["diverging"].sum()) if stats is not None and "diverging" in stats else 0


def _min_bfmi(idata: az.InferenceData) -> float:
    stats = idata.get("sample_stats")
    return float(np.min(az.bfmi(idata))) if stats is not None and "energy" in stats else np.nan


def verdict(idata: az.InferenceData, table: pd.DataFrame) -> dict:
    """Summary for the run record: worst values over the gated quantities, divergences, BFMI, the
    verdict and what failed."""
    post = idata.posterior
    divergences = _divergences(idata)
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
    gated = table[table["role"] != "raw"]
    hyper = gated[gated["role"] == "hyper"]
    found = failures(idata, table)
    return {
        "max_rhat": float(gated["r_hat"].max()) if len(gated) else None,
        "min_ess_bulk": float(gated["ess_bulk"].min()) if len(gated) else None,
        "min_ess_tail": float(gated["ess_tail"].min()) if len(gated) else None,
        "min_ess_hyper": float(hyper[["ess_bulk", "ess_tail"]].min().min()) if len(hyper) else None,
        "divergences": divergences,
        "min_bfmi": _min_bfmi(idata),
        "verdict": "not converged" if found else "converged",
        "problems": "; ".join(f.describe() for f in found),
    }
