"""Fit until the convergence checks pass: automatic remedies within a time budget.

A run samples once with its configured settings. If the gate (``forecast.model.diagnostics``) fails it,
the run itself tries again in the way that addresses what failed, on the same compiled model:

- **divergences** (or a low energy BFMI): the sampler left a funnel. The next attempt takes
  smaller steps (a higher target acceptance) on fresh chains. When the divergent draws sit
  clearly low on one part's scale (their mean log scale ``SUSPECT_Z`` standard errors under the
  chains', a funnel's neck), it also writes that part less centered (``forecast.model.forms``'s
  exponent halved, then set to zero). A few divergences anywhere only shorten the steps: two
  divergent draws in 4,000 cannot name a part, and rewriting the wrong one (measured on the
  M5-shaped catalog's stage 1: the products' levels, 0.99 to 0.50) puts the rest on a ridge. Once
  the steps are as small as they go, the likeliest part is rewritten however weak the evidence;
- **a part written for the wrong scale**: the slowest parameter belongs to a part whose form
  (``forecast.model.forms``, chosen before sampling from a low plausible value of its scale) is far
  from the form for the scale the chains found (its posterior median). The next attempt writes that
  part for that scale, on fresh chains, once per part. Measured at 5,000 products: trend's groups
  written non-centered (exponent 0.01) for a scale the pre-fit could not resolve, where the
  chains found one at which the data pin each group's trend (exponent 0.8);
- **too few effective draws, or R-hat a little over the bar**: the chains mix, slowly. The next
  attempt runs more chains with new seeds and pools them with the chains it has (every chain is a
  valid draw of the same posterior, so more chains are more effective draws and a sharper R-hat);
  once pooling stops helping (R-hat fails after it and barely came down, or it pushed a passing
  R-hat over the bar: ``pooling_stalled``), fresh chains as long as the pooled ones together,
  which may be pooled and lengthened in turn;
- **chains that disagree** (R-hat far over the bar, or effective draws in the tens): fresh chains
  with twice the tuning.

Every attempt is recorded (what it changed and why, its settings, seconds and verdict). The
attempts together may take ``config.attempt_budget`` times the first attempt's time (compile
included), and at least ``MIN_RETRY_SECONDS`` more than the first (a small catalog's fit takes
seconds); an attempt that would not fit in what is left is not started. Advice reaches the user
only when every attempt failed (the flow that ran the fit words it).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from forecast.config.options import ForecastConfig
from forecast.model.builder import centering_data
from forecast.model.diagnostics import (
    MIN_ESS,
    Failure,
    checked_parameters,
    failures,
    parameter_table,
    verdict,
)
from forecast.model.inference import Sampler, pool_chains

log = logging.getLogger(__name__)

MAX_TARGET_ACCEPT = 0.99
# R-hat over this, or ESS under this, reads as chains that disagree rather than chains that mix slowly.
DISAGREE_RHAT = 1.05
DISAGREE_ESS = 50
SEED_STRIDE = 7919  # attempt k samples with seed + k * SEED_STRIDE: new chains, the same run
POOL_LIMIT = 4  # pooled chains stop at this many times the configured chains; then longer chains
MAX_ATTEMPTS = 10  # a bound besides the time budget
MIN_RETRY_SECONDS = 60.0  # retries may always take this long (when any are allowed)
REFORM_CHANGE = 0.25  # a part is written again when its exponent at the found scale differs by this
POOLED_COMPONENTS = ("season", "event", "trend", "elasticity", "promo")
# The divergent draws' mean log scale must sit this many standard errors (1/sqrt(divergences), in
# the chains' standard deviations) under the chains' for its part to be rewritten.
SUSPECT_Z = 2.0

# (part, scale) -> the part's centering exponent at that scale (``forecast.model.forms.exponent_at``).
Reform = Callable[[str, float], "float | np.ndarray"]


@dataclass(frozen=True)
class Settings:
    chains: int
    tune: int
    draws: int
    target_accept: float
    seed: int


@dataclass
class Attempt:
    """One sampling attempt of a fit, as the run record keeps it."""

    number: int
    action: str  # what this attempt did, and why
    settings: Settings
    pooled: bool  # its chains were added to the previous attempt's
    forms: dict  # the centering exponents it changed
    seconds: float
    verdict: str = ""
    problems: str = ""
    max_rhat: float | None = None
    min_ess_hyper: float | None = None
    divergences: int = 0

    def record(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 1)
        for key in ("max_rhat", "min_ess_hyper"):
            if d[key] is not None and np.isfinite(d[key]):
                d[key] = round(float(d[key]), 4)
        return d


@dataclass
class Fit:
    idata: az.InferenceData
    table: pd.DataFrame
    diagnostics: dict
    attempts: list[Attempt]
    forms: dict  # the forms of the posterior kept
    found: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class Remedy:
    action: str
    settings: Settings
    pool: bool
    forms: dict  # changed exponents

    def cost(self, sampling_seconds: float, previous: Settings) -> float:
        """Expected seconds, from the last fresh sample's: chains, steps per draw and length."""
        steps = math.sqrt((1 - previous.target_accept) / (1 - self.settings.target_accept))
        length = (self.settings.tune + self.settings.draws) / (previous.tune + previous.draws)
        return sampling_seconds * self.settings.chains / previous.chains * steps * length


def _suspect(idata: az.InferenceData, forms: dict, evidence: float = SUSPECT_Z) -> str | None:
    """The part whose scale the divergent draws sat lowest on (a funnel's neck), among the parts
    whose form can change: ``product``, an attribute ``groups:<attr>`` or a pooled component;
    ``None`` unless their mean log scale is ``evidence`` standard errors under the chains'."""
    stats = idata.sample_stats
    diverging = stats["diverging"].values.ravel().astype(bool)
    if not diverging.any():
        return None
    post = idata.posterior
    scores = {}
    for name in post.data_vars:
        part = _part_of_scale(name, forms)
        if part is None:
            continue
        values = np.log(post[name].values.reshape(diverging.size, -1).mean(axis=1))
        sd = values.std()
        if sd > 0:
            scores[part] = (values[diverging].mean() - values.mean()) / sd
    if not scores:
        return None
    part = min(scores, key=scores.get)
    return part if scores[part] < -evidence / math.sqrt(diverging.sum()) else None


def _part_of_scale(name: str, forms: dict) -> str | None:
    if name == "sigma_product":
        return "product" if not isinstance(forms.get("product"), str) else None
    if name.startswith("sigma_"):
        attr = name.removeprefix("sigma_")
        groups = forms.get("groups")
        if isinstance(groups, dict) and attr in groups and not isinstance(groups[attr], str):
            return f"groups:{attr}"
        return None
    if name.endswith("_sigma"):
        component = {"logit_zero": "zero"}.get(name.removesuffix("_sigma"), name.removesuffix("_sigma"))
        return component if isinstance(forms.get(component), float) else None
    return None


def _part_of_parameter(parameter: str, forms: dict) -> str | None:
    """The part whose form writes ``parameter`` (a checked name such as ``trend[tops]``)."""
    base = parameter.split("[")[0]
    if base.startswith("sigma_") or base.endswith("_sigma"):  # a scale: the part it scales
        return _part_of_scale(base, forms)
    if base in ("alpha_product", "alpha_product_w"):
        part = "product"
    elif "_product" in base or base.startswith("ramp"):  # per-product deviations, the launch ramp
        return None
    elif base.startswith(("effect_", "z_")):
        part = "groups:" + base.split("_", 1)[1]
    elif base.startswith("logit_zero"):
        part = "zero"
    else:
        part = base.split("_")[0]
        if part not in POOLED_COMPONENTS:
            return None
    try:
        form = _get(forms, part)
    except (KeyError, TypeError):
        return None
    return None if isinstance(form, str) or form is None else part


def _scale_of(part: str) -> str:
    if part == "product":
        return "sigma_product"
    if part.startswith("groups:"):
        return "sigma_" + part.split(":", 1)[1]
    return "logit_zero_sigma" if part == "zero" else f"{part}_sigma"


def _reformed(found: list[Failure], forms: dict, idata, tried: set[str], reform: Reform) -> tuple[dict, str]:
    """The failing parts whose exponent at their scale's posterior median differs from theirs by
    more than ``REFORM_CHANGE``: the new exponents, and what changed in words."""
    changes, words = {}, []
    post = idata.posterior
    for f in found:
        part = _part_of_parameter(f.parameter, forms) if f.parameter else None
        if part is None or part in changes or f"geometry:{part}" in tried or _scale_of(part) not in post:
            continue
        scale = float(post[_scale_of(part)].median())
        current = float(np.mean(_get(forms, part)))
        new = np.asarray(reform(part, scale), dtype=float)
        if abs(float(new.mean()) - current) > REFORM_CHANGE:
            changes[part] = new if new.ndim else float(new)
            words.append(
                f"{part} {'more' if new.mean() > current else 'less'} centered for the scale the chains "
                f"found ({_scale_of(part)} {scale:.3g}: exponent {current:.2f} -> {float(new.mean()):.2f})"
            )
    return changes, ", ".join(words)


def _get(forms: dict, part: str):
    if part.startswith("groups:"):
        return forms["groups"][part.split(":", 1)[1]]
    return forms[part]


def _set(forms: dict, part: str, value) -> dict:
    forms = {
        **forms,
        "groups": dict(forms["groups"]) if isinstance(forms.get("groups"), dict) else forms.get("groups"),
    }
    if part.startswith("groups:"):
        forms["groups"][part.split(":", 1)[1]] = value
    else:
        forms[part] = value
    return forms


def choose_remedy(
    found: list[Failure],
    settings: Settings,
    forms: dict,
    idata,
    number: int,
    tried: set[str],
    chains: int,
    reform: Reform | None = None,
) -> Remedy | None:
    """What attempt ``number + 1`` does about ``found``, or ``None`` when nothing is left to try
    (``tried``: the kinds of remedy earlier attempts used; ``chains``: the configured number, which
    fresh chains start from again and pooling may take to ``POOL_LIMIT`` times; ``reform``: a
    part's exponent at a given scale, for parts written for the wrong scale)."""
    checks = {f.check for f in found}
    seed = settings.seed + number * SEED_STRIDE
    max_chains = POOL_LIMIT * chains
    fresh = replace(settings, chains=chains, seed=seed)
    if checks & {"divergences", "bfmi"}:
        target = min(MAX_TARGET_ACCEPT, 1 - (1 - settings.target_accept) / 3)
        smaller = target > settings.target_accept + 1e-9
        part = _suspect(idata, forms) if smaller else _suspect(idata, forms, evidence=0.0)
        changed = {}
        action = ("divergent transitions" if "divergences" in checks else "low energy BFMI") + ": "
        if part is not None:
            current = np.asarray(_get(forms, part), dtype=float)
            if current.max() > 0.05:
                new = current / 2 if f"geometry:{part}" not in tried else np.zeros_like(current)
                changed = {part: new if new.ndim else float(new)}
                action += f"{part} less centered (exponent {current.mean():.2f} -> {np.mean(new):.2f}), "
        if not smaller and not changed:
            return None
        action += f"smaller steps (target acceptance {target:.3f})" if smaller else "the smallest steps"
        action += ", fresh chains"
        return Remedy(action, replace(fresh, target_accept=target), False, changed)
    worst_rhat = max((f.value for f in found if f.check == "rhat"), default=1.0)
    worst_ess = min((f.value for f in found if f.check == "ess"), default=float("inf"))
    what = ", ".join(
        ([f"R-hat {worst_rhat:.3f}"] if "rhat" in checks else [])
        + ([f"ESS {worst_ess:.0f}"] if "ess" in checks else [])
    )
    if reform is not None and idata is not None:
        changed, words = _reformed(found, forms, idata, tried, reform)
        if changed:
            return Remedy(f"{what}: {words}, fresh chains", fresh, False, changed)
    if worst_rhat > DISAGREE_RHAT or worst_ess < DISAGREE_ESS:
        if "restart" in tried:
            return None
        action = f"chains disagree ({what}): fresh chains with twice the tuning"
        return Remedy(action, replace(fresh, tune=settings.tune * 2), False, {})
    # Slow mixing: enough more draws that the ESS clears the bar with a margin, at least twice as
    # many. More chains first (pooled with these); once pooling stops helping (an odd chain among
    # them keeps R-hat up: "stalled"), or POOL_LIMIT is reached, fresh chains at least twice as long
    # (as many draws as the pooled chains held): a chain that mixes slowly needs length, not company.
    # Longer chains may be pooled with more of their length in turn, and lengthened again, for as
    # long as the time budget lasts.
    # (nutpie's low-rank mass matrix was measured here too: on the test catalog it cut the
    # effective draws of sigma_brand 2 to 7 times on three seeds, so the diagonal one stays.)
    factor = max(1.25 * MIN_ESS / worst_ess if np.isfinite(worst_ess) else 2.0, 2.0)
    if settings.chains < max_chains and "stalled" not in tried:
        more = min(math.ceil(settings.chains * (factor - 1)), max_chains - settings.chains)
        action = f"{what}: {more} more chains, pooled with the {settings.chains} it has"
        return Remedy(action, replace(settings, chains=more, seed=seed), True, {})
    draws = max(2 * settings.draws, math.ceil(settings.chains * settings.draws / chains))
    action = f"{what}: fresh chains of {draws} draws"
    return Remedy(action, replace(fresh, draws=draws), False, {})


def _tags(remedy: Remedy) -> set[str]:
    tags = {f"geometry:{part}" for part in remedy.forms}
    if "twice the tuning" in remedy.action:
        tags.add("restart")
    elif "draws" in remedy.action and not remedy.pool:
        tags.add("longer")
    return tags


def fit_until_converged(
    model: pm.Model,
    forms: dict,
    config: ForecastConfig,
    target_accept: float,
    progressbar: bool = True,
    sampler: Sampler | None = None,
    reform: Reform | None = None,
) -> Fit:
    """Sample ``model`` (built with ``forms``), check, and remedy within the time budget
    (``reform``: see ``choose_remedy``)."""
    start = time.perf_counter()
    sampler = sampler or Sampler(model, config.sampler)
    names = checked_parameters(model)
    settings = Settings(config.chains, config.tune, config.draws, target_accept, config.seed)
    sample_start = time.perf_counter()
    idata = sampler.sample(**asdict(settings), progressbar=progressbar)
    sampling_seconds = time.perf_counter() - sample_start
    table = parameter_table(idata, names)
    found = failures(idata, table)
    first = time.perf_counter() - start
    attempts = [_attempt(1, "first attempt", settings, False, {}, first, idata, table, found)]
    budget = config.attempt_budget * first
    if config.attempt_budget > 1:  # a small catalog's fit is quick, and a minute more costs little
        budget = max(budget, first + MIN_RETRY_SECONDS)
    tried: set[str] = set()
    timed = settings  # the settings of the last fresh chains, which sampling_seconds measured
    while found and len(attempts) < MAX_ATTEMPTS:
        remedy = choose_remedy(found, settings, forms, idata, len(attempts), tried, config.chains, reform)
        if remedy is None:
            break
        cost = remedy.cost(sampling_seconds, timed)
        left = budget - (time.perf_counter() - start)
        if remedy.pool and cost > left > 0:  # fewer extra chains, if some fit
            fit_chains = int(remedy.settings.chains * left / cost)
            if fit_chains >= 2:
                remedy = replace(remedy, settings=replace(remedy.settings, chains=fit_chains))
                remedy = replace(remedy, action=remedy.action.split(":")[0] + f": {fit_chains} more chains "
                                 f"(what the time left allows), pooled with the {settings.chains} it has")  # fmt: skip
                cost = remedy.cost(sampling_seconds, timed)
        if cost > left:
            log.info(
                "no time left for another attempt (%s: about %.0f s, %.0f s left)", remedy.action, cost, left
            )
            break
        log.info("attempt %d: %s (about %.0f s)", len(attempts) + 1, remedy.action, cost)
        tried |= _tags(remedy)
        if remedy.forms:
            forms = _set_all(forms, remedy.forms)
            sampler.set_data(centering_data(forms))
        t0 = time.perf_counter()
        more = sampler.sample(**asdict(remedy.settings), progressbar=progressbar)
        seconds = time.perf_counter() - t0
        if remedy.pool:
            idata = pool_chains(idata, more)
            settings = replace(settings, chains=settings.chains + remedy.settings.chains)
        else:
            idata, settings, timed, sampling_seconds = more, remedy.settings, remedy.settings, seconds
            tried.discard("stalled")  # new chains: pooling may help them
        before = worst_rhat(table)
        table = parameter_table(idata, names)
        found = failures(idata, table)
        if remedy.pool and pooling_stalled(before, worst_rhat(table), found):
            tried.add("stalled")
        attempts.append(
            _attempt(len(attempts) + 1, remedy.action, remedy.settings, remedy.pool, remedy.forms,
                     time.perf_counter() - t0, idata, table, found)
        )  # fmt: skip
    diagnostics = verdict(idata, table)
    if found and len(attempts) > 1:
        diagnostics["problems"] += f" (after {len(attempts)} attempts in {time.perf_counter() - start:.0f} s)"
    return Fit(idata, table, diagnostics, attempts, forms, found)


def worst_rhat(table: pd.DataFrame) -> float:
    """The largest R-hat over the gated quantities (1 where there are none)."""
    gated = table[table["role"] != "raw"]["r_hat"]
    return float(gated.max()) if len(gated) else 1.0


def pooling_stalled(before: float, after: float, found: list[Failure]) -> bool:
    """Whether pooling more chains stopped helping: R-hat fails after it and did not come down by
    at least 30% of its distance from 1 (``before``: the worst R-hat of the chains it had, passing
    or not). Pooled chains that push a passing R-hat over the bar disagree with the ones it had:
    more company measures the disagreement better but does not end it, longer chains do (measured:
    a shock catalog's 1.008 passing on 4 chains, 1.013 on 8, 1.018 on 15, then out of time)."""
    return any(f.check == "rhat" for f in found) and after - 1 > 0.7 * (before - 1)


def _set_all(forms: dict, changes: dict) -> dict:
    for part, value in changes.items():
        forms = _set(forms, part, value)
    return forms


def _attempt(number, action, settings, pooled, forms, seconds, idata, table, found) -> Attempt:
    v = verdict(idata, table)
    return Attempt(
        number=number,
        action=action,
        settings=settings,
        pooled=pooled,
        forms={k: float(np.mean(v_)) for k, v_ in forms.items()},
        seconds=seconds,
        verdict=v["verdict"],
        problems=v["problems"],
        max_rhat=v["max_rhat"],
        min_ess_hyper=v["min_ess_hyper"],
        divergences=v["divergences"],
    )
