"""Scale-out: a catalog split into shards fitted apart, one hierarchy shared by all of them.

Two stages keep the model hierarchical across shards:

1. **Stage 1** fits the full model on a stratified sample of products (every brand and every level
   of every attribute that has sales is in it). Its posterior means of everything above the product
   level are the *shared values*: the intercept, the group scales (``sigma_category``, ...), every
   group level's effect, each pooling group's seasonality, trend, price elasticity and promotion lift
   with their shared means and scales, and the dispersion.
2. **Stage 2** fits each shard with those values fixed (``build_model(..., fixed=...)``): only the
   product levels stay free (plus the effects of group levels stage 1 never saw, pooled under the
   fixed scales). A product is pooled toward the same group means whichever shard it sits in.

With the top fixed, the stage-2 posterior factorises over products, hence over shards: draw *i* of
shard A next to draw *i* of shard B is a draw of the joint posterior, so sums across shards stay
coherent. What is given up is the uncertainty of the shared values (fixed at their means) and
what the products left out of stage 1 would have taught the group effects.

Stage 2 by **conditional sampling** (``ShardConfig.stage2``; the default where the model's only
per-product part is the level): given each of ``TOP_DRAWS`` draws of stage 1's posterior (not its
means), every product's level is drawn exactly from its one-dimensional conditional posterior
(``forecast.model.conditional``), with no Markov chain and no model to compile, and the horizon's
paths drawn from those: the top's uncertainty reaches the forecast too. Path *i* of every shard
reads the same draw of the top, so sums across shards stay draws of the total.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import __version__, runs
from forecast.config.options import NO_SHARDED_SHOCKS, ForecastConfig
from forecast.contract.paths import SamplePaths
from forecast.model import conditional
from forecast.model.effects import posterior_mean, product_effects
from forecast.model.predict import sample_paths, summarise, thin
from forecast.prep.design import Design, subset_design
from forecast.runs import Fitted, Prepared, configured, fit_model, model_for, save_posterior

SCALARS = ("intercept", "sigma_product", "log_alpha")
STAGE2 = ("auto", "conditional", "nuts")
# Draws of the top a conditional stage 2 reads: each gets sample_paths / TOP_DRAWS levels per
# product. Its cost is a few dozen passes over the rows per draw (benchmarks/README.md).
TOP_DRAWS = 50
# A default run (no task runner named) on a catalog of at least LARGE_CATALOG products takes the
# large-catalog path by itself (``large_catalog``): stage 1 on LARGE_STAGE1_PRODUCTS sampled
# products, then stage 2 by conditional sampling in shards of at most LARGE_SHARD_PRODUCTS. Below
# it the single model: at 5,000 products x 104 weeks it took 10 minutes, where stage 2 by
# conditional sampling takes seconds and matches it per product (benchmarks/README.md, "stage 2
# by conditional sampling"); the sample is large enough that the totals lose little.
LARGE_CATALOG = 5000
LARGE_STAGE1_PRODUCTS = 1000
LARGE_SHARD_PRODUCTS = 10_000
# The large-catalog path lets stage 1's attempts take at least this many times its first (the
# run's ``attempt_budget`` when larger): stage 1 is the run's one costly step (stage 2 and the write
# take about a minute at 30,490 products). Measured on the M5-shaped catalog (benchmarks/README.md,
# "the M5-shaped catalog"): at 2.5 stage 1 ran out of time one remedy short of its checks; at 6,
# seeds 1 and 2 passed on their sixth attempt, each with the budget all but spent (642 of 642 s;
# the last attempt of seed 2 cut to the 2 chains the time left allowed); at 10, seed 3 passed on a
# sixth attempt that 6 would not have started. 10 keeps the whole run inside half an hour on 2
# cores (a first attempt of 107 to 125 s: stage 1 at most about 21 minutes, the rest about 1.5).
LARGE_STAGE1_BUDGET = 10.0
# per pooling group; "season" (per Fourier term) and "event" (per event column) are frames
POOLED = ("trend", "elasticity", "promo", "logit_zero", "ramp")


@dataclass(frozen=True)
class ShardConfig:
    """How a catalog is split: ``n_shards`` balanced shards, or one per level of attribute ``by``
    (packed into ``n_shards`` shards when both are given); ``sample_products`` fit stage 1."""

    n_shards: int | None = None
    by: str | None = None
    sample_products: int = 200
    stage2: str = "auto"  # "conditional", "nuts", or "auto": conditional wherever it applies
    stage1_budget: float | None = None  # the least attempt budget of stage 1 (``stage1_config``)

    def __post_init__(self) -> None:
        if self.stage2 not in STAGE2:
            raise ValueError(f"unknown stage 2 '{self.stage2}': choose one of {', '.join(STAGE2)}")
        if self.n_shards is None and self.by is None:
            raise ValueError("say how to shard: a number of shards, an attribute, or both")
        if self.n_shards is not None and self.n_shards < 1:
            raise ValueError(f"shards must be at least 1, got {self.n_shards}")
        if self.sample_products < 1:
            raise ValueError(f"the stage-1 sample needs at least 1 product, got {self.sample_products}")
        if self.stage1_budget is not None and self.stage1_budget < 1:
            raise ValueError(f"stage 1's attempt budget must be at least 1, got {self.stage1_budget}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Shard:
    index: int
    design: Design
    positions: np.ndarray | None = None  # the products' positions in the catalog's design


@dataclass
class Stage1:
    fitted: Fitted
    shared: dict  # name -> value, the fixed top of the hierarchy for stage 2
    sample: np.ndarray  # product ids fitted in stage 1
    seconds: float
    top: conditional.TopDraws | None = None  # for a conditional stage 2: the catalog's draws of the top


@dataclass
class ShardResult:
    index: int
    forecasts: pd.DataFrame
    paths: SamplePaths  # its ``values`` None once written (``Gathered.add``): products and dates kept
    effects: pd.DataFrame
    parameters: pd.DataFrame
    diagnostics: dict
    seconds: float
    posterior_path: str | None = None
    attempts: list[dict] = field(default_factory=list)


def configured_sharded(config: ForecastConfig, sharding: ShardConfig) -> dict:
    """``runs.configured`` with the sharding in the config and in its hash: a sharded run's
    results differ from the single model's, so they must not share a hash."""
    record = configured(config)
    record["config"] = record["config"] | {"sharding": sharding.to_dict()}
    payload = json.dumps({"config": record["config"], "version": __version__}, sort_keys=True, default=str)
    record["config_hash"] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return record


# ------------------------------------------------------------------------------------- splitting


def _weights(design: Design) -> np.ndarray:
    """Work per product: its history rows (plus one, so products without sales count too)."""
    return design.n_obs.astype(float) + 1.0


def assign(design: Design, config: ShardConfig) -> list[np.ndarray]:
    """Product positions per shard, deterministic, every product in exactly one shard.

    Groups of products (one per level of ``by``, or single products) are packed, heaviest first,
    into the lightest shard, so shards carry similar numbers of history rows.
    """
    weight = _weights(design)
    if config.by is not None:
        if config.by not in design.level_idx:
            raise ValueError(
                f"cannot shard by '{config.by}': not an attribute of the hierarchy "
                f"({', '.join(design.level_idx)})"
            )
        idx = design.level_idx[config.by]
        groups = [np.flatnonzero(idx == level) for level in range(len(design.levels[config.by]))]
        groups = [g for g in groups if len(g)]
    else:
        groups = [np.array([p]) for p in range(len(design.products))]
    k = min(config.n_shards or len(groups), len(groups))
    loads, bins = np.zeros(k), [[] for _ in range(k)]
    for g in sorted(groups, key=lambda g: (-weight[g].sum(), g[0])):
        target = int(np.argmin(loads))
        bins[target].append(g)
        loads[target] += weight[g].sum()
    parts = [np.sort(np.concatenate(b)) for b in bins]
    return sorted(parts, key=lambda p: p[0])


def split(prepared: Prepared, config: ShardConfig) -> list[Shard]:
    return [
        Shard(i, subset_design(prepared.design, p), p) for i, p in enumerate(assign(prepared.design, config))
    ]


def large_catalog(n_products: int, config: ForecastConfig) -> ShardConfig | None:
    """How a default run shards a catalog of ``n_products``: ``None`` (the single model) under
    ``LARGE_CATALOG`` products, or where the options need stage 2 by NUTS (which is no faster than
    the single model on one machine: benchmarks/README.md, "sharded fits on Dask")."""
    sharding = ShardConfig(
        n_shards=-(-n_products // LARGE_SHARD_PRODUCTS),
        sample_products=LARGE_STAGE1_PRODUCTS,
        stage2="conditional",
        stage1_budget=LARGE_STAGE1_BUDGET,
    )
    if n_products < LARGE_CATALOG:
        return None
    if stage2_method(config, replace(sharding, stage2="auto")) != "conditional":
        return None
    return sharding


def stage2_method(config: ForecastConfig, sharding: ShardConfig) -> str:
    """``conditional`` or ``nuts``: conditional sampling draws only the products' levels, so it
    applies to the partially pooled model without per-product or per-row parts."""
    blocked = [
        name
        for name, on in (
            ("product_effects", bool(config.product_effect_list)),
            ("launch_ramp", config.launch_ramp == "on"),
            ("level_drift", config.level_drift == "on"),
            ("pooling", config.pooling != "partial"),
        )
        if on
    ]
    if sharding.stage2 == "nuts" or (sharding.stage2 == "auto" and blocked):
        if config.shared_shocks == "on":  # each shard would fit and draw its own shocks
            raise ValueError(NO_SHARDED_SHOCKS + (f" ({', '.join(blocked)} need it)" if blocked else ""))
        return "nuts"
    if blocked:
        raise ValueError(
            f"stage 2 by conditional sampling draws the products' levels only: {', '.join(blocked)} "
            "need stage 2 by NUTS (stage2='nuts')"
        )
    return "conditional"


def stage1_sample(design: Design, size: int, innermost: str | None, seed: int) -> np.ndarray:
    """A stratified sample of product positions for stage 1.

    Products with sales only (a product without history teaches the shared values nothing).
    Each level of ``innermost`` (the last nested attribute, e.g. brand) gets its share of ``size``,
    at least one; then one product is added for each level of any attribute still missing.
    """
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(design.n_obs > 0)
    if len(candidates) == 0:
        candidates = np.arange(len(design.products))
    if size >= len(candidates):
        return candidates
    strata = (
        design.level_idx[innermost][candidates]
        if innermost in design.level_idx
        else np.zeros(len(candidates))
    )
    share = size / len(candidates)
    chosen: list[int] = []
    for level in np.unique(strata):
        members = candidates[strata == level]
        take = max(1, int(round(share * len(members))))
        chosen.extend(rng.choice(members, size=min(take, len(members)), replace=False).tolist())
    picked = set(chosen)
    for idx in design.level_idx.values():
        covered = set(idx[list(picked)].tolist())
        for level in np.unique(idx[candidates]):
            if level not in covered:
                members = candidates[idx[candidates] == level]
                picked.add(int(rng.choice(members)))
                covered.add(level)
    return np.array(sorted(picked), dtype=np.int64)


# ------------------------------------------------------------------------------------ the stages


def shared_values(fitted: Fitted, design: Design) -> dict:
    """Posterior means of everything above the product level, keyed as ``build_model``'s ``fixed``."""
    post = fitted.idata.posterior
    if "intercept" not in post:
        raise ValueError("sharding needs the partially pooled model (no intercept in the posterior)")
    shared: dict = {}
    for name in post.data_vars:
        hyper = name.startswith("sigma_") or name.endswith(("_mu", "_sigma")) or name in SCALARS
        if hyper and not name.endswith(("_z", "__")):
            value = posterior_mean(post, name)
            shared[name] = float(value) if value.ndim == 0 else value
    for attr, levels in design.levels.items():
        shared[f"effect_{attr}"] = pd.Series(posterior_mean(post, f"effect_{attr}"), index=levels)
    pool_levels = design.levels[design.pool] if design.pool is not None else pd.Index(["all"])
    for name in POOLED:
        if name in post:
            shared[name] = pd.Series(posterior_mean(post, name), index=pool_levels)
    for name, terms in (("season", design.fourier_names), ("event", design.event_names)):
        if name in post:
            shared[name] = pd.DataFrame(posterior_mean(post, name), index=pool_levels, columns=terms)
    return shared


def stage1_prepared(prepared: Prepared, config: ForecastConfig, sharding: ShardConfig) -> Prepared:
    """The stratified sample stage 1 fits (``stage1_sample``), as its own prepared design: all a
    worker fitting stage 1 needs of the catalog."""
    innermost = config.hierarchy.nested[-1] if config.hierarchy.nested else None
    sample = stage1_sample(prepared.design, sharding.sample_products, innermost, config.seed)
    return Prepared(subset_design(prepared.design, sample), prepared.frequency, prepared.horizon)


def stage1_config(config: ForecastConfig, sharding: ShardConfig) -> ForecastConfig:
    """The run's configuration as stage 1 fits with it: its attempt budget at least
    ``sharding.stage1_budget``; with stage 2 by NUTS, no shared shocks unless set on (which
    ``stage2_method`` refuses)."""
    if sharding.stage2 == "nuts" and config.shared_shocks == "auto":
        config = replace(config, shared_shocks="off")  # its shards could not share them
    if sharding.stage1_budget is None or config.attempt_budget >= sharding.stage1_budget:
        return config
    return replace(config, attempt_budget=sharding.stage1_budget)


def shocks_line(sample: Prepared, config: ForecastConfig, sharding: ShardConfig) -> str:
    """The run record's word on a sharded run's shared shocks: stage 1 decides them, on its sample
    (``stage1_prepared``), not the catalog."""
    stage1 = stage1_config(config, sharding)
    if stage1.shared_shocks != config.shared_shocks:  # auto, set off for stage 2 by NUTS
        return "shared shocks off (auto: shards fitted by NUTS cannot share them)"
    return "stage 1: " + runs.shocks_line(sample.design, stage1)


def fit_sample(sub: Prepared, config: ForecastConfig, progressbar=False) -> Stage1:
    """Fit the full model on stage 1's sample (``stage1_prepared``) and take its shared values."""
    start = time.perf_counter()
    fitted = fit_model(sub, config, progressbar=progressbar)
    return Stage1(
        fitted=fitted,
        shared=shared_values(fitted, sub.design),
        sample=sub.design.products.to_numpy(),
        seconds=time.perf_counter() - start,
    )


def with_top(stage1: Stage1, design: Design, config: ForecastConfig, sharding: ShardConfig) -> Stage1:
    """For a conditional stage 2, ``stage1`` with ``TOP_DRAWS`` of its posterior's draws of the top
    as the catalog's products (``design``) read them; else as it is."""
    if stage2_method(config, sharding) != "conditional":
        return stage1
    n_draws = min(TOP_DRAWS, config.sample_paths)
    draws = thin(stage1.fitted.idata.posterior, n_draws, config.seed)
    top = conditional.top_draws(
        draws.stack(sample=("chain", "draw")),
        design,
        np.random.default_rng([config.seed, 2]),
        config.likelihood,
        per_draw=conditional.paths_per_draw(config.sample_paths, n_draws),
    )
    return replace(stage1, top=top)


def fit_stage1(
    prepared: Prepared, config: ForecastConfig, sharding: ShardConfig, progressbar=False
) -> Stage1:
    """Stage 1 in this process: fit the full model on a stratified sample, take its shared values
    and, for a conditional stage 2, its draws of the top."""
    sub = stage1_prepared(prepared, config, sharding)
    return with_top(fit_sample(sub, config, progressbar), prepared.design, config, sharding)


def fit_shard(
    shard: Shard,
    shared: dict,
    config: ForecastConfig,
    posterior_folder: str | None = None,
    run_id: str | None = None,
) -> ShardResult:
    """Stage 2 for one shard: fit its products under the fixed shared values, then forecast.

    Shard ``k`` samples with seed ``config.seed + 1 + k``, so a run is reproducible whatever order
    the shards finish in.
    """
    start = time.perf_counter()
    config = config.with_(seed=config.seed + 1 + shard.index)
    design = shard.design
    prepared = Prepared(design, None, len(design.future_dates))
    fitted = fit_model(prepared, config, progressbar=False, fixed=shared)
    horizon_model = model_for(design, config, predict=True, fixed=shared, forms=fitted.forms)
    paths = sample_paths(horizon_model, design, fitted.idata, config.sample_paths, config.seed)
    path = None
    if posterior_folder is not None:
        path = str(save_posterior(fitted, Path(posterior_folder), f"{run_id}-shard{shard.index}", config))
    return ShardResult(
        index=shard.index,
        forecasts=summarise(paths),
        paths=paths,
        effects=product_effects(fitted.idata, design),
        parameters=fitted.parameters,
        diagnostics=fitted.diagnostics,
        seconds=time.perf_counter() - start,
        posterior_path=path,
        attempts=fitted.attempts,
    )


def fit_shard_conditional(shard: Shard, top: conditional.TopDraws, config: ForecastConfig) -> ShardResult:
    """Stage 2 for one shard by conditional sampling: ``top`` is the catalog's draws of the top as
    the shard's products read them (``TopDraws.subset``). Path ``d * k + s`` reads the top's draw
    ``d`` (``k`` levels per draw), so every shard's path ``i`` shares its draw of the top. Seeded
    like ``fit_shard``."""
    start = time.perf_counter()
    seed = config.seed + 1 + shard.index
    design = shard.design
    per_draw = conditional.paths_per_draw(config.sample_paths, top.n_draws)
    levels, grids = conditional.sample_levels(
        conditional.row_arrays(design, censor=config.stockouts == "censored"), top, per_draw, seed
    )
    paths = conditional.horizon_paths(design, top, levels, seed)
    paths.values = paths.values[: config.sample_paths]
    effects, parameters = conditional.level_tables(design, top, levels)
    diagnostics = {
        "verdict": "converged",  # exact draws given the top: stage 1's checks are the run's
        "problems": "",
        "divergences": 0,
        "grids_widened": grids["widened"],
    }
    return ShardResult(
        index=shard.index,
        forecasts=summarise(paths),
        paths=paths,
        effects=effects,
        parameters=parameters,
        diagnostics=diagnostics,
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------------------------------------------- combining


def combine_diagnostics(parts: list[tuple[str, dict]]) -> dict:
    """One run's diagnostics from its stages: the worst values, and every stage's problems."""

    def pick(key, how):
        values = [d[key] for _, d in parts if d.get(key) is not None and np.isfinite(d[key])]
        return how(values) if values else None

    verdicts = [d["verdict"] for _, d in parts]
    if "not converged" in verdicts:
        overall = "not converged"
    elif "approximate" in verdicts:
        overall = "approximate"
    else:
        overall = "converged"
    return {
        "max_rhat": pick("max_rhat", max),
        "min_ess_bulk": pick("min_ess_bulk", min),
        "min_ess_tail": pick("min_ess_tail", min),
        "min_ess_hyper": pick("min_ess_hyper", min),
        "divergences": int(sum(d.get("divergences") or 0 for _, d in parts)),
        "min_bfmi": pick("min_bfmi", min),
        "verdict": overall,
        "problems": "; ".join(f"{label}: {d['problems']}" for label, d in parts if d.get("problems")),
    }


class Gathered:
    """The shards' results as they arrive, in any order: each is checked against those before it
    (the same dates, the same number of sample paths, no product in two shards), its sample paths
    handed to ``write`` (e.g. ``storage.RunWriter.add_draws``) and then dropped, so that a run's
    paths are held one shard at a time; the rest is kept for ``combine``."""

    def __init__(self) -> None:
        self.results: list[ShardResult] = []
        self.dates: pd.DatetimeIndex | None = None
        self.n_paths: int | None = None
        self.products: set = set()

    def add(self, result: ShardResult, write: Callable[[SamplePaths], object]) -> ShardResult:
        """Check ``result``, ``write`` its sample paths, drop their values (in place: whatever else
        holds the result, a task's future, lets go of them too) and keep it."""
        paths = result.paths
        if paths.values is None:
            raise ValueError(f"shard {result.index}'s sample paths were written already")
        if self.dates is None:
            self.dates, self.n_paths = paths.dates, paths.values.shape[0]
        if not paths.dates.equals(self.dates):
            raise ValueError("shards forecast different dates")
        if paths.values.shape[0] != self.n_paths:
            raise ValueError("shards drew different numbers of sample paths")
        products = set(paths.products.tolist())
        if len(products) != len(paths.products) or products & self.products:
            raise ValueError("a product was forecast by more than one shard")
        write(paths)
        self.products |= products
        result.paths = SamplePaths(values=None, products=paths.products, dates=paths.dates)
        self.results.append(result)
        return result


def combine(stage1: Stage1, results: list[ShardResult]) -> tuple[pd.DataFrame, dict, dict]:
    """The run's forecasts, per-run tables and diagnostics, from all shards (their sample paths
    are written as they arrive: ``Gathered``).

    Shards go in index order whatever order they finished in. ``fit_diagnostics`` holds stage 1's
    parameters above the product level (the shared values' posteriors), every product's level from
    its shard, and other stage-2 parameters prefixed with their shard (``shard2/z_brand[...]``).
    """
    results = sorted(results, key=lambda r: r.index)
    products = np.concatenate([r.paths.products for r in results])
    if len(set(products.tolist())) != len(products):
        raise ValueError("a product was forecast by more than one shard")
    forecasts = pd.concat([r.forecasts for r in results], ignore_index=True)
    stage1_params = stage1.fitted.parameters
    stage1_params = stage1_params[stage1_params["variable"] != "alpha_product"]
    shard_params = []
    for r in results:
        p = r.parameters.copy()
        own = p["variable"] != "alpha_product"
        p.loc[own, "parameter"] = f"shard{r.index}/" + p.loc[own, "parameter"]
        shard_params.append(p)
    tables = {
        "product_effects": pd.concat([r.effects for r in results], ignore_index=True),
        "fit_diagnostics": pd.concat([stage1_params, *shard_params], ignore_index=True),
    }
    diagnostics = combine_diagnostics(
        [("stage 1", stage1.fitted.diagnostics)] + [(f"shard {r.index}", r.diagnostics) for r in results]
    )
    return forecasts, tables, diagnostics


def attempts(stage1: Stage1, results: list[ShardResult]) -> list[dict]:
    """Every sampling attempt of the run, stage 1's and each shard's, labelled by stage."""
    out = [{"stage": "stage 1", **a} for a in stage1.fitted.attempts]
    for r in sorted(results, key=lambda r: r.index):
        out += [{"stage": f"shard {r.index}", **a} for a in r.attempts]
    return out


def describe(stage1: Stage1, results: list[ShardResult]) -> tuple[str, dict[str, float]]:
    """For the run record: a line on the split, and seconds per stage 2 shard (timings)."""
    results = sorted(results, key=lambda r: r.index)
    sizes = ", ".join(str(len(r.paths.products)) for r in results)
    how = "conditional sampling" if stage1.top is not None else "NUTS"
    line = (
        f"sharded: stage 1 on {len(stage1.sample)} sampled products ({stage1.seconds:.0f} s), "
        f"{len(results)} shards of {sizes} products by {how}"
    )
    return line, {f"shard{r.index}": round(r.seconds, 2) for r in results}
