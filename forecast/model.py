"""The hierarchical demand model: a pure builder, ``build_model(design, priors) -> pm.Model``.

log E[demand] for product p in period t:

    eta = alpha_p                                   product level, pooled under its groups
        + s_g(t)                                    Fourier seasonality of p's pooling group g
        + b_g * years(t)                            trend, pooled by group
        + e_g * log(price / reference price)        price elasticity, pooled by group
        + l_g * promo                               promotion lift, pooled by group

    alpha_p ~ Normal(mu + sum_a u_a[level_a(p)], sigma_product)       (centered)
    u_a     ~ ZeroSumNormal(sigma_a)                                   (centered where every level
              or u_a = sigma_a * z_a, z_a ~ ZeroSumNormal(1)            holds 30+ products, else not)
    c_g     ~ Normal(c_mu, c_sigma)  for c in s, b, e, l               (per component, see FORMS)
    demand  ~ NegativeBinomial(exp(eta), alpha)                       ("negbin")
            or ZeroInflatedNegativeBinomial(1 - pi_g, exp(eta), alpha)  ("zinb": structural zeros)

Elasticity, promotion lift and trend are written through their groups' average ``c_avg`` with
half-centered offsets (see ``_pooled_by_average``): an exact reparameterisation of the same model
in which ``c_mu`` is derived, so the data pin ``c_avg`` and the sampler is not asked to move the
mean against every group's offset, nor the scale against every offset.

``pooling="none"`` builds the same likelihood with independent wide priors and no hyperpriors: the
no-pooling model the hierarchical one is compared with.

``fixed`` holds quantities taken as known (a sharded fit's stage 2, ``forecast.shards``): scalars
and shared means by name (``intercept``, ``sigma_product``, ``sigma_brand``, ``log_alpha``,
``season_mu`` (per Fourier term), ``trend_sigma``, ...), and per-level values of effects and pooled
coefficients as a Series (``effect_color``, ``trend``, ...) or a level x Fourier frame (``season``)
indexed by level key. A fixed quantity is a constant (``pm.Deterministic``, no free variable); the
levels a Series leaves out stay free, pooled under the fixed scales. With the intercept fixed a free
effect needs no sum-to-zero constraint, so in this mode free levels get ``Normal(0, sigma)`` (the
levels of a shard are a subset of the catalog's, and they need not sum to zero).

On the history build the rows' log-likelihood is one fused op (``forecast.likelihood.RowsLogLik``):
the effects go in as vectors (seasonality computed per (group, period) and flattened), the rows
sorted by product (``forecast.likelihood.rows_data``), and one pass gives the log-density and its
gradient. The horizon build writes the same log mean with PyTensor gathers for
``pm.NegativeBinomial`` to draw from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt

from forecast.design import Design, Rows
from forecast.likelihood import rows_data, rows_loglik

LIKELIHOODS = ("negbin", "zinb")
POOLING = ("partial", "none")

# How each part is written (the same model, a different geometry for the sampler). Pooled
# components: "centered" where each group's coefficient is pinned by thousands of rows
# (seasonality); written through the groups' average with offsets "partial"ly centered
# (PARTIAL_CENTERING) where the data pin the groups' average but their differences only partly
# (elasticity, promotion lift, trend); "average" is the same with non-centered offsets, and
# "noncentered" the textbook form, both kept for comparison. Group effects: "auto" centers an
# attribute where its smallest level holds CENTER_MIN_PRODUCTS products. Measured:
# benchmarks/README.md ("Model: parameterisation").
FORMS: dict[str, str] = {
    "groups": "auto",
    "season": "centered",
    "elasticity": "partial",
    "promo": "partial",
    "trend": "partial",
    "zero": "average",  # the zero-inflated model's form as its backtest measured it
}
# The "partial" form's offsets: scale^(1 - a) * w with w ~ ZeroSumNormal(scale^a), a this exponent
# (0: non-centered, 1: centered). Measured: 0, 0.3, 0.5, 0.7 and 1 at 1,000 products, 0 and 0.5 at 200.
PARTIAL_CENTERING = 0.5
# A group effect is centered where each level is pinned by this many products' levels (a
# non-centered effect with well-informed levels leaves its scale on a ridge), non-centered where a
# level holds fewer (a funnel): measured at 200, 500 and 1,000 products, benchmarks/README.md.
CENTER_MIN_PRODUCTS = 30


Fixed = Mapping[str, "float | np.ndarray | pd.Series | pd.DataFrame"]


def _data(name: str, values: np.ndarray, shared: bool) -> pt.TensorVariable:
    """Data the graph reads: on the history build a shared variable rather than a constant (a
    constant's values go into numba's cache key, so a model on new data of the same shape would
    compile again); on the horizon build a constant, since ``pm.sample_posterior_predictive``
    takes a shared variable it has no record of as changed data and would draw everything that
    depends on it (the product levels) afresh from the priors."""
    values = np.asarray(values)
    if not shared:
        return pt.as_tensor(values)
    dtype = np.int64 if values.dtype.kind in "iu" else np.float64
    return pytensor.shared(np.ascontiguousarray(values, dtype=dtype), name=name, borrow=True)


def _known(name: str, fixed: Fixed, make: Callable[[], pt.TensorVariable], dims=None) -> pt.TensorVariable:
    """``fixed[name]`` as a constant (kept in the trace as a deterministic), else ``make()``."""
    if name not in fixed:
        return make()
    value = np.asarray(fixed[name], dtype=float)
    return pm.Deterministic(name, pt.as_tensor(value), dims=dims)


def _split_levels(levels: pd.Index, given, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Constant values for the levels ``given`` fixes (zeros elsewhere) and the free levels' positions."""
    shape = (len(levels),) if width is None else (len(levels), width)
    values = np.zeros(shape)
    if given is None:
        return values, np.arange(len(levels))
    pos = levels.get_indexer(pd.Index(given.index))
    inside = pos >= 0
    values[pos[inside]] = np.asarray(given, dtype=float)[inside]
    free = np.setdiff1d(np.arange(len(levels)), pos[inside])
    return values, free


def _partly_fixed(name: str, free, free_idx: np.ndarray, values: np.ndarray, dims) -> pt.TensorVariable:
    """A per-level vector (or level x term matrix): fixed values, with the free levels set in."""
    if len(free_idx) == 0:
        return pm.Deterministic(name, pt.as_tensor(values), dims=dims)
    return pm.Deterministic(name, pt.set_subtensor(pt.as_tensor(values)[free_idx], free), dims=dims)


def _free_coords(model: pm.Model, dim: str, levels: pd.Index, free_idx: np.ndarray) -> str:
    """A coordinate naming the free levels of ``dim`` (``<dim>_free``)."""
    name = f"{dim}_free"
    if name not in model.coords:
        model.add_coord(name, [str(v) for v in levels[free_idx]])
    return name


def _group_effects(
    design: Design,
    priors: dict[str, float],
    form: str,
    fixed: Fixed | None = None,
    shared: bool = True,
) -> pt.TensorVariable:
    """Sum over attributes of each product's group effects, per product (``shared``: see ``_data``).

    Effects sum to zero over an attribute's levels, so the intercept is the grand mean and not
    traded off against the average of every attribute's effects. ``form``: "centered",
    "noncentered", or "auto" (per attribute: centered where its smallest level holds
    ``CENTER_MIN_PRODUCTS`` products). With ``fixed`` (the intercept and the scales known), fixed
    levels are constants and free ones ``Normal(0, sigma)``.
    """
    total = pt.zeros(len(design.products))
    for attr in design.levels:
        if fixed:
            total = (
                total
                + _fixed_mode_effect(design, attr, priors, fixed)[
                    _data(f"level_idx_{attr}", design.level_idx[attr], shared)
                ]
            )
            continue
        sigma = pm.HalfNormal(f"sigma_{attr}", priors["group_sigma"])
        per_level = np.bincount(design.level_idx[attr], minlength=len(design.levels[attr]))
        if form == "centered" or (form == "auto" and per_level.min() >= CENTER_MIN_PRODUCTS):
            effect = pm.ZeroSumNormal(f"effect_{attr}", sigma=sigma, dims=attr)
        else:
            z = pm.ZeroSumNormal(f"z_{attr}", sigma=1.0, dims=attr)
            effect = pm.Deterministic(f"effect_{attr}", sigma * z, dims=attr)
        total = total + effect[_data(f"level_idx_{attr}", design.level_idx[attr], shared)]
    return total


def _fixed_mode_effect(design: Design, attr: str, priors: dict[str, float], fixed: Fixed):
    """One attribute's effects when the top level is fixed: non-centered free levels, constants."""
    sigma = _known(f"sigma_{attr}", fixed, lambda: pm.HalfNormal(f"sigma_{attr}", priors["group_sigma"]))
    levels = design.levels[attr]
    values, free_idx = _split_levels(levels, fixed.get(f"effect_{attr}"))
    free = None
    if len(free_idx):
        dim = _free_coords(pm.modelcontext(None), attr, levels, free_idx)
        free = sigma * pm.Normal(f"z_{attr}", 0.0, 1.0, dims=dim)
    return _partly_fixed(f"effect_{attr}", free, free_idx, values, attr)


def _group_scale(name: str, group_sigma: float) -> pt.TensorVariable:
    """A boundary-avoiding Gamma(2, 2 / s) prior (mean s, zero density at 0) on the scale across a
    handful of groups: Chung et al. (2013). A half-normal's mass at zero let the sampler fall into
    the funnel's neck where the groups barely differ (measured: benchmarks/README.md)."""
    return pm.Gamma(f"{name}_sigma", alpha=2.0, beta=2.0 / group_sigma)


def _pooled(
    name: str,
    mu: float,
    sigma: float,
    group_sigma: float,
    dims: str | tuple[str, ...],
    form: str,
    pooling: str = "partial",
    fixed: Fixed | None = None,
    levels: pd.Index | None = None,
) -> pt.TensorVariable:
    """A coefficient per pooling group around a shared, learned mean and scale.

    ``dims`` may add trailing dims (Fourier terms). With ``pooling="none"`` each group gets an
    independent ``Normal(mu, sigma)``: nothing is learned across groups. ``fixed`` may hold the
    mean (``<name>_mu``), the scale (``<name>_sigma``) and some groups' values (``<name>``, by the
    group keys in ``levels``); the other groups stay free around the (fixed) mean and scale.
    ``form``: "centered", "noncentered", "average" or "partial" (``_pooled_by_average``; the textbook
    non-centered form where part of the component is fixed or there is a single group).
    """
    dims = (dims,) if isinstance(dims, str) else dims
    if pooling == "none":
        return pm.Normal(name, mu, sigma, dims=dims)
    fixed = fixed or {}
    own = (name, f"{name}_mu", f"{name}_sigma")
    if (
        form in ("average", "partial")
        and not any(k in fixed for k in own)
        and len(pm.modelcontext(None).coords[dims[0]]) > 1
    ):
        return _pooled_by_average(
            name, mu, sigma, group_sigma, dims, PARTIAL_CENTERING if form == "partial" else 0.0
        )
    mean_dims = dims[1:] or None
    mean = _known(f"{name}_mu", fixed, lambda: pm.Normal(f"{name}_mu", mu, sigma, dims=mean_dims), mean_dims)
    scale = _known(f"{name}_sigma", fixed, lambda: _group_scale(name, group_sigma))
    if fixed.get(name) is not None:
        given, width = fixed[name], None
        if len(dims) > 1:  # a level x term frame, its columns in the model's term order
            terms = list(pm.modelcontext(None).coords[dims[1]])
            given, width = given.reindex(columns=terms), len(terms)
        values, free_idx = _split_levels(levels, given, width)
        free = None
        if len(free_idx):
            free_dims = (_free_coords(pm.modelcontext(None), dims[0], levels, free_idx), *dims[1:])
            if form == "centered":
                free = pm.Normal(f"{name}_free", mean, scale, dims=free_dims)
            else:
                free = mean + scale * pm.Normal(f"{name}_z", 0.0, 1.0, dims=free_dims)
        return _partly_fixed(name, free, free_idx, values, dims)
    if form == "centered":
        return pm.Normal(name, mean, scale, dims=dims)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, mean + scale * z, dims=dims)


def _pooled_by_average(
    name: str, mu: float, sigma: float, group_sigma: float, dims: tuple[str, ...], centering: float = 0.0
):
    """Pooled groups written through their average: the same model, better geometry.

    ``c_g = c_mu + scale * z_g`` with ``z_g ~ Normal(0, 1)`` splits exactly into the groups' average
    ``c_avg = c_mu + scale * mean(z)``, pinned by the data, and offsets ``scale * w_g`` with
    ``w = z - mean(z) ~ ZeroSumNormal(1)``. Given ``scale``, ``c_avg ~ Normal(mu, sqrt(sigma^2 +
    tau^2))`` with ``tau^2 = scale^2 / G`` (``G`` groups), and ``c_mu`` given ``c_avg`` is normal
    (the conjugate update), drawn here non-centered from ``c_mu_z ~ Normal(0, 1)``. The written
    form left ``c_mu`` able to move only with all of the groups' ``z`` at once (lowest ESS of
    the model); this one gives it 1.5 to 6 times the ESS at 1,000 products (benchmarks/README.md).

    ``centering`` ``a`` writes the offsets as ``scale^(1 - a) * w`` with ``w ~ ZeroSumNormal(scale^a)``,
    the same offsets for every ``a``. Non-centered (0), the data pin ``scale * w`` and leave the
    scale on a curved ridge against every ``w``; centered (1), a scale near zero pulls the offsets
    into a funnel. Half-way (``PARTIAL_CENTERING``) the scales over the six categories mixed best of
    the exponents measured (0, 0.3, 0.5, 0.7, 1 at 1,000 products: benchmarks/README.md).
    """
    groups = len(pm.modelcontext(None).coords[dims[0]])
    mean_dims = dims[1:] or None
    scale = _group_scale(name, group_sigma)
    tau2 = scale**2 / groups
    var = sigma**2 + tau2
    avg = pm.Normal(f"{name}_avg", mu, pt.sqrt(var), dims=mean_dims)
    mu_z = pm.Normal(f"{name}_mu_z", 0.0, 1.0, dims=mean_dims)
    pm.Deterministic(
        f"{name}_mu", mu + sigma**2 / var * (avg - mu) + pt.sqrt(sigma**2 * tau2 / var) * mu_z, dims=mean_dims
    )
    # ZeroSumNormal sums over its last axis: the groups go last, then back in front.
    last = (*dims[1:], dims[0])
    if centering == 0.0:
        offsets = scale * pm.ZeroSumNormal(f"{name}_z", sigma=1.0, dims=last)
    else:
        offsets = scale ** (1.0 - centering) * pm.ZeroSumNormal(
            f"{name}_w", sigma=scale**centering, dims=last
        )
    return pm.Deterministic(name, avg + (offsets.T if len(dims) > 1 else offsets), dims=dims)


def build_model(
    design: Design,
    priors: dict[str, float],
    predict: bool = False,
    likelihood: str = "negbin",
    pooling: str = "partial",
    forms: dict[str, str] | None = None,
    fixed: Fixed | None = None,
) -> pm.Model:
    """Build the model on the history rows, or on the horizon rows when ``predict`` is true.

    Both builds share every parameter name and shape, so a posterior fitted on the history is used
    directly with ``pm.sample_posterior_predictive`` on the horizon build (pass the same ``fixed``
    to both). ``fixed``: known quantities, see the module docstring. ``forms``: overrides of
    ``FORMS``, how each part is written (benchmarks compare them).
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood '{likelihood}': choose one of {', '.join(LIKELIHOODS)}")
    if pooling not in POOLING:
        raise ValueError(f"unknown pooling '{pooling}': choose one of {', '.join(POOLING)}")
    fixed = dict(fixed or {})
    if fixed and pooling != "partial":
        raise ValueError("fixed top-level quantities need the partially pooled model")
    rows: Rows = design.future if predict else design.train
    pool = design.pool or "pool"
    coords = {
        "product": design.products,
        **{attr: levels for attr, levels in design.levels.items()},
        "fourier": design.fourier_names,
        "obs": np.arange(len(rows)),
    }
    if design.pool is None:
        coords["pool"] = ["all"]
    forms = FORMS | (forms or {})
    allowed = {"groups": ("auto", "centered", "noncentered")}
    for part, form in forms.items():
        choices = allowed.get(part, ("centered", "noncentered", "average", "partial"))
        if part not in FORMS or form not in choices:
            raise ValueError(f"unknown form {part}={form!r}: parts {sorted(FORMS)}, forms {choices}")
    pool_levels = design.levels[design.pool] if design.pool is not None else pd.Index(["all"])

    def pooled(name: str, mu: float, component: str, dims=pool) -> pt.TensorVariable:
        return _pooled(
            name,
            mu,
            priors[f"{component}_sigma"],
            priors[f"{component}_group_sigma"],
            dims,
            forms[component],
            pooling,
            fixed,
            pool_levels,
        )

    with pm.Model(coords=coords) as model:
        if pooling == "partial":
            intercept = _known(
                "intercept",
                fixed,
                lambda: pm.Normal("intercept", priors["intercept_mu"], priors["intercept_sigma"]),
            )
            sigma_product = _known(
                "sigma_product", fixed, lambda: pm.HalfNormal("sigma_product", priors["product_sigma"])
            )
            group_mean = intercept + _group_effects(design, priors, forms["groups"], fixed, not predict)
            alpha_p = pm.Normal("alpha_product", group_mean, sigma_product, dims="product")
        else:
            alpha_p = pm.Normal(
                "alpha_product", priors["intercept_mu"], priors["intercept_sigma"], dims="product"
            )

        season_coef = pooled("season", 0.0, "season", (pool, "fourier"))
        season = pt.dot(_data("fourier", design.fourier, not predict), season_coef.T)  # (periods, groups)
        trend = pooled("trend", 0.0, "trend")
        elasticity = pooled("elasticity", priors["elasticity_mu"], "elasticity")
        promo = pooled("promo", priors["promo_mu"], "promo")
        log_alpha = _known(
            "log_alpha",
            fixed,
            lambda: pm.Normal("log_alpha", priors["log_alpha_mu"], priors["log_alpha_sigma"]),
        )

        logit_zero = pooled("logit_zero", priors["zero_mu"], "zero") if likelihood == "zinb" else None
        if not predict:
            # The fused one-pass likelihood and gradient (forecast.likelihood): most of a gradient.
            effects = {
                "alpha": alpha_p,
                "season": season.T.flatten(),  # groups x periods: each product's periods contiguous
                "trend": trend,
                "elasticity": elasticity,
                "promo": promo,
                "log_alpha": log_alpha,
                "zero": logit_zero,
            }
            data = rows_data(
                rows.product_idx,
                rows.time_idx,
                rows.log_price,
                rows.promo,
                rows.y,
                design.pool_idx,
                design.years,
            )
            pm.Potential("demand_loglik", rows_loglik(likelihood, effects, data))
            return model
        # The horizon: the same log mean, gathered per row (drawn from, never differentiated).
        obs_pool = design.pool_idx[rows.product_idx]
        eta = (
            alpha_p[rows.product_idx]
            + season[rows.time_idx, obs_pool]
            + trend[obs_pool] * design.years[rows.time_idx]
            + elasticity[obs_pool] * rows.log_price
            + promo[obs_pool] * rows.promo
        )
        alpha = pt.exp(log_alpha)
        if likelihood == "zinb":
            # Probability of a structural zero (not stocked, not listed), per pooling group.
            pm.ZeroInflatedNegativeBinomial(
                "demand", psi=pt.sigmoid(-logit_zero[obs_pool]), mu=pt.exp(eta), alpha=alpha, dims="obs"
            )
        else:
            pm.NegativeBinomial("demand", mu=pt.exp(eta), alpha=alpha, dims="obs")
    return model
