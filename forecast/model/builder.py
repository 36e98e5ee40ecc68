"""The hierarchical demand model: a pure builder, ``build_model(design, priors) -> pm.Model``.

log E[demand] for product p in period t:

    eta = alpha_p                                   product level, pooled under its groups
        + s_g(t)                                    Fourier seasonality of p's pooling group g
        + v_g . events(t)                           calendar events and their lead/lag windows, by group
                                                    (in the horizon, columns the history never had: drawn
                                                    as large as the seen ones, ``_unseen_events``)
        + b_g * years(t)                            trend, pooled by group
        + e_g * log(price / reference price)        price elasticity, pooled by group
        + l_g * promo                               promotion lift, pooled by group

    alpha_p ~ Normal(mu + sum_a u_a[level_a(p)], sigma_product)
    u_a     ~ ZeroSumNormal(sigma_a)      (within each parent level, for a nested attribute)
    c_g     ~ Normal(c_mu, c_sigma)  for c in s, v, b, e, l
    demand  ~ NegativeBinomial(exp(eta), alpha)                       ("negbin")
            or ZeroInflatedNegativeBinomial(1 - pi_g, exp(eta), alpha)  ("zinb": structural zeros)

How each part is written for the sampler (its *geometry*) is chosen from the data
(``forecast.model.forms``): every level-and-scale pair is partially centered, ``x = scale^(1 - a) *
w`` with ``w ~ Normal(0, scale^a)`` (``a = 1``: centered, ``a = 0``: non-centered), with ``a`` per
product, per attribute (per contrast of its effects where its levels are far apart in information:
``_contrast_effect``) and per pooled component, set from how strongly the data inform that part.
There the intercept is sampled plus the effects' information-weighted average
(``_weighted_effects``), so it is the level the rows pin, whatever a level's size.
The pooled components (seasonality, events, elasticity, promotion lift, trend, zero inflation) are written
through their groups' average ``c_avg`` (see ``_pooled_by_average``): an exact reparameterisation
in which ``c_mu`` is derived, so the data pin ``c_avg`` and the sampler is not asked to move the
mean against every group's offset. The exponents are shared variables on the history build, so a
run that retries with another geometry (``forecast.model.remedies``) samples the same compiled model.

``pooling="none"`` builds the same likelihood with independent wide priors and no hyperpriors: the
no-pooling model the hierarchical one is compared with.

``fixed`` holds quantities taken as known (a sharded fit's stage 2, ``forecast.shards``): scalars
and shared means by name (``intercept``, ``sigma_product``, ``sigma_brand``, ``log_alpha``,
``season_mu`` (per Fourier term), ``event_mu`` (per event column), ``trend_sigma``, ...), and
per-level values of effects and pooled coefficients as a Series (``effect_color``, ``trend``, ...)
or a level x term frame (``season`` by Fourier term, ``event`` by event column) indexed by level
key. A fixed quantity is a constant (``pm.Deterministic``, no free variable); the levels a Series
leaves out stay free, pooled under the fixed scales. With the intercept fixed a free
effect needs no sum-to-zero constraint, so in this mode free levels get ``Normal(0, sigma)`` (the
levels of a shard are a subset of the catalog's, and they need not sum to zero).

On the history build the rows' log-likelihood is one fused op (``forecast.model.likelihood.RowsLogLik``):
the effects go in as vectors (seasonality and events computed per (group, period) and flattened),
the rows sorted by product (``forecast.model.likelihood.rows_data``), and one pass gives the log-density and its
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

from forecast.model.forms import (
    choose_forms,
    effect_basis,
    pattern_columns,
    product_information,
    split_attributes,
    zero_sum_basis,
)
from forecast.model.likelihood import rows_data, rows_loglik
from forecast.model.priors import PRODUCT_EFFECTS
from forecast.prep.design import Design, Rows, first_periods, parent_groups

LIKELIHOODS = ("negbin", "zinb")
POOLING = ("partial", "none")

# The parts whose form can be chosen: the product levels, the attributes' effects ("groups") and
# the pooled components. A form is a centering exponent in [0, 1] (the default, from
# ``forecast.model.forms``: per product for "product", per attribute for "groups"), or one of the
# fixed forms the benchmarks compare: pooled components "centered" and "noncentered" (textbook),
# "average" and "partial" (through the groups' average, offsets non-centered or at
# PARTIAL_CENTERING); groups "auto" (centered where the smallest level holds CENTER_MIN_PRODUCTS
# products), "centered" or "noncentered"; product "centered". Measured: benchmarks/README.md
# ("Model: parameterisation", "the convergence corpus").
PARTS = ("product", "groups", "season", "event", "elasticity", "promo", "trend", "zero", "shocks")
POOLED_PARTS = {
    "season": "season",
    "event": "event",
    "trend": "trend",
    "elasticity": "elasticity",
    "promo": "promo",
    "zero": "logit_zero",
}
# The fixed forms of the model before its geometry came from the data (benchmarks compare them).
FORMS: dict[str, str] = {
    "product": "centered",
    "groups": "auto",
    "season": "centered",
    "event": "partial",
    "elasticity": "partial",
    "promo": "partial",
    "trend": "partial",
    "zero": "average",
}
PARTIAL_CENTERING = 0.5
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
    return pytensor.shared(np.asarray(values, dtype=dtype, order="C"), name=name, borrow=True)


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


def _exponent(form, name: str, shared: bool):
    """A centering exponent as data the graph reads (``centering_<name>``; see ``_data``)."""
    return _data(f"centering_{name}", np.asarray(form, dtype=float), shared)


def centering_data(forms: dict) -> dict[str, np.ndarray]:
    """The graph's centering exponents for ``forms``, by shared variable name (the fixed named
    forms have none)."""
    data = {}
    for part, form in forms.items():
        if part == "groups" and isinstance(form, dict):
            data |= {
                f"centering_effect_{a}": np.asarray(f, float)
                for a, f in form.items()
                if not isinstance(f, str)
            }
        elif not isinstance(form, (str, dict)):
            name = "alpha_product" if part == "product" else POOLED_PARTS[part]
            data[f"centering_{name}"] = np.asarray(form, float)
    return data


def _group_effects(
    design: Design,
    priors: dict[str, float],
    form,
    fixed: Fixed | None = None,
    shared: bool = True,
) -> pt.TensorVariable:
    """Sum over attributes of each product's group effects, per product (``shared``: see ``_data``).

    Effects sum to zero over an attribute's levels, so the intercept is the grand mean and not
    traded off against the average of every attribute's effects. ``form``: per attribute (a dict)
    or for all, one centering exponent (``effect = sigma^(1-a) * z``, ``z ~ ZeroSumNormal(sigma^a)``),
    a vector of them, one per zero-sum contrast (``_contrast_effect``, where
    ``forecast.model.forms.choose_forms`` finds the levels far apart in information), or
    "centered", "noncentered", "auto" (centered where the smallest level holds
    ``CENTER_MIN_PRODUCTS`` products). An attribute nested in earlier ones (brands in categories,
    ``forecast.prep.design.parent_groups``) sums to zero within each parent instead, so a parent's
    effect is its children's mean and their effects the deviations from it. With
    ``fixed`` (the intercept and the scales known), fixed levels are constants and free ones
    ``Normal(0, sigma)``.
    """
    total = pt.zeros(len(design.products))
    within = parent_groups(design)
    for attr in design.levels:
        index = _data(f"level_idx_{attr}", design.level_idx[attr], shared)
        if fixed:
            total = total + _fixed_mode_effect(design, attr, priors, fixed)[index]
            continue
        if len(design.levels[attr]) == 1 or (  # one level (or one per parent): zero on its own
            attr in within and len(np.unique(within[attr])) == len(design.levels[attr])
        ):
            pm.Deterministic(f"effect_{attr}", pt.zeros(len(design.levels[attr])), dims=attr)
            continue
        sigma = _scale(f"sigma_{attr}", priors["group_sigma"])
        f = form.get(attr, "auto") if isinstance(form, dict) else form
        if np.ndim(f) == 1:  # one exponent per contrast (forms.choose_forms: levels far apart)
            effect = _contrast_effect(attr, sigma, f, effect_basis(design, priors, attr), shared)
        elif attr in within:
            effect = _contrast_effect(attr, sigma, f, zero_sum_basis(within[attr]), shared)
        elif isinstance(f, str):
            per_level = np.bincount(design.level_idx[attr], minlength=len(design.levels[attr]))
            if f == "centered" or (f == "auto" and per_level.min() >= CENTER_MIN_PRODUCTS):
                effect = pm.ZeroSumNormal(f"effect_{attr}", sigma=sigma, dims=attr)
            else:
                z = pm.ZeroSumNormal(f"z_{attr}", sigma=1.0, dims=attr)
                effect = pm.Deterministic(f"effect_{attr}", sigma * z, dims=attr)
        else:
            a = _exponent(f, f"effect_{attr}", shared)
            z = pm.ZeroSumNormal(f"z_{attr}", sigma=sigma**a, dims=attr)
            effect = pm.Deterministic(f"effect_{attr}", sigma ** (1.0 - a) * z, dims=attr)
        total = total + effect[index]
    return total


def _contrast_effect(attr: str, sigma, form, basis: np.ndarray, shared: bool) -> pt.TensorVariable:
    """Effects on the zero-sum contrasts ``basis`` (``forecast.model.forms.effect_basis``): ``z_<attr>``
    (dims ``<attr>_contrast``) ``~ Normal(0, sigma^a)`` and ``effect = sigma^(1 - a) * basis @ z``,
    with a centering exponent ``a`` per contrast (``form``: a vector, one for all, or a named form:
    "centered" is 1, else 0); for every ``a`` a ``ZeroSumNormal(sigma)`` within each parent cell."""
    model = pm.modelcontext(None)
    dim = f"{attr}_contrast"
    if dim not in model.coords:
        model.add_coord(dim, np.arange(basis.shape[1]))
    if isinstance(form, str):
        form = 1.0 if form == "centered" else 0.0
    a = _exponent(form, f"effect_{attr}", shared)
    z = pm.Normal(f"z_{attr}", 0.0, sigma**a, dims=dim)
    # data, not constants: the levels' order follows their rows, which a new week may change
    basis = _data(f"contrasts_{attr}", basis, shared)
    return pm.Deterministic(f"effect_{attr}", pt.dot(basis, sigma ** (1.0 - a) * z), dims=attr)


def _product_levels(group_mean, sigma, form, shared: bool, shift=None) -> pt.TensorVariable:
    """Each product's level around its groups' mean: centered (``alpha ~ Normal(group_mean,
    sigma)``), or with centering exponents ``a`` per product, location and scale partially centered
    (Gorinova et al. 2020): ``w ~ Normal(a * group_mean, sigma^a)``, ``alpha = group_mean +
    sigma^(1-a) * (w - a * group_mean)`` (``a = 1``: ``w`` is the level itself; ``a = 0``: ``w`` is
    its standardised deviation). ``shift``: the levels are sampled plus it (``_shock_shifts``)."""
    if isinstance(form, str):
        if form != "centered":
            raise ValueError(f"unknown product form {form!r}: a centering exponent, or 'centered'")
        if shift is None:
            return pm.Normal("alpha_product", group_mean, sigma, dims="product")
        level = pm.Normal("alpha_product_total", group_mean + shift, sigma, dims="product")
        return pm.Deterministic("alpha_product", level - shift, dims="product")
    a = _exponent(form, "alpha_product", shared)
    mean = group_mean if shift is None else group_mean + shift
    w = pm.Normal("alpha_product_w", a * mean, sigma**a, dims="product")
    level = mean + sigma ** (1.0 - a) * (w - a * mean)
    return pm.Deterministic("alpha_product", level if shift is None else level - shift, dims="product")


def _shifted_normal(name: str, mu, sigma, shift, dims=None) -> pt.TensorVariable:
    """``Normal(mu, sigma)`` sampled plus ``shift`` (``_shock_shifts``, ``_weighted_effects``): the
    sampler moves ``<name>_total ~ Normal(mu + shift, sigma)``, the model reads ``<name> =
    <name>_total - shift``, whose density is its own prior's at every point (the shear has unit
    Jacobian, so the model is the same); without a shift, the plain normal."""
    if shift is None:
        return pm.Normal(name, mu, sigma, dims=dims)
    total = pm.Normal(f"{name}_total", mu + shift, sigma, dims=dims)
    return pm.Deterministic(name, total - shift, dims=dims)


def _fixed_mode_effect(design: Design, attr: str, priors: dict[str, float], fixed: Fixed):
    """One attribute's effects when the top level is fixed: non-centered free levels, constants."""
    sigma = _known(f"sigma_{attr}", fixed, lambda: _scale(f"sigma_{attr}", priors["group_sigma"]))
    levels = design.levels[attr]
    values, free_idx = _split_levels(levels, fixed.get(f"effect_{attr}"))
    free = None
    if len(free_idx):
        dim = _free_coords(pm.modelcontext(None), attr, levels, free_idx)
        free = sigma * pm.Normal(f"z_{attr}", 0.0, 1.0, dims=dim)
    return _partly_fixed(f"effect_{attr}", free, free_idx, values, attr)


def _scale(name: str, typical: float) -> pt.TensorVariable:
    """A boundary-avoiding Gamma(2, 2 / s) prior (mean s, zero density at 0) on a scale across
    groups or products: Chung et al. (2013). A half-normal's mass at zero let the sampler fall into
    the funnel's neck where the levels barely differ, or where a few levels cannot tell (six
    products, two brands): benchmarks/README.md ("the convergence corpus")."""
    return pm.Gamma(name, alpha=2.0, beta=2.0 / typical)


def _group_scale(name: str, group_sigma: float) -> pt.TensorVariable:
    """The scale of a pooled component across its groups (``_scale``)."""
    return _scale(f"{name}_sigma", group_sigma)


def _pooled(
    name: str,
    mu: float,
    sigma: float,
    group_sigma: float,
    dims: str | tuple[str, ...],
    form,
    pooling: str = "partial",
    fixed: Fixed | None = None,
    levels: pd.Index | None = None,
    shared: bool = True,
    shift=None,
) -> pt.TensorVariable:
    """A coefficient per pooling group around a shared, learned mean and scale.

    ``dims`` may add trailing dims (Fourier terms). With ``pooling="none"`` each group gets an
    independent ``Normal(mu, sigma)``: nothing is learned across groups. ``fixed`` may hold the
    mean (``<name>_mu``), the scale (``<name>_sigma``) and some groups' values (``<name>``, by the
    group keys in ``levels``); the other groups stay free around the (fixed) mean and scale.
    ``form``: a centering exponent, "average" or "partial" (``_pooled_by_average``), "centered" or
    "noncentered" (textbook); the textbook non-centered form where part of the component is fixed.
    A single group has nothing to pool with: its coefficient is the shared mean itself.
    ``shift``: the groups' mean is sampled plus it where the form writes it apart (the average's
    and the single group's; ``_shock_shifts``).
    """
    dims = (dims,) if isinstance(dims, str) else dims
    if pooling == "none":
        return pm.Normal(name, mu, sigma, dims=dims)
    fixed = fixed or {}
    own = (name, f"{name}_mu", f"{name}_sigma")
    mean_dims = dims[1:] or None
    if not any(k in fixed for k in own):
        if len(pm.modelcontext(None).coords[dims[0]]) == 1:
            mean = _shifted_normal(f"{name}_mu", mu, sigma, shift, mean_dims)
            return pm.Deterministic(name, pt.shape_padleft(mean), dims=dims)
        if not isinstance(form, str) or form in ("average", "partial"):
            if form == "partial":
                form = PARTIAL_CENTERING
            centering = 0.0 if form == "average" else _exponent(form, name, shared)
            return _pooled_by_average(name, mu, sigma, group_sigma, dims, centering, shift)
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
    name: str,
    mu: float,
    sigma: float,
    group_sigma: float,
    dims: tuple[str, ...],
    centering: float = 0.0,
    shift=None,
):
    """Pooled groups written through their average: the same model, better geometry.

    ``c_g = c_mu + scale * z_g`` with ``z_g ~ Normal(0, 1)`` splits exactly into the groups' average
    ``c_avg = c_mu + scale * mean(z)``, pinned by the data, and offsets ``scale * w_g`` with
    ``w = z - mean(z) ~ ZeroSumNormal(1)``. Given ``scale``, ``c_avg ~ Normal(mu, sqrt(sigma^2 +
    tau^2))`` with ``tau^2 = scale^2 / G`` (``G`` groups), and ``c_mu`` given ``c_avg`` is normal
    (the conjugate update), drawn here non-centered from ``c_mu_z ~ Normal(0, 1)``. The written
    form left ``c_mu`` able to move only with all of the groups' ``z`` at once (lowest ESS of
    the model); this one gives it 1.5 to 6 times the ESS at 1,000 products (benchmarks/README.md).

    ``centering`` ``a`` (a number, or the graph's exponent) writes the offsets as ``scale^(1 - a) *
    w`` with ``w ~ ZeroSumNormal(scale^a)``, the same offsets for every ``a``. Non-centered (0), the
    data pin ``scale * w`` and leave the scale on a curved ridge against every ``w``; centered (1),
    a scale near zero pulls the offsets into a funnel. ``forecast.model.forms`` sets ``a`` from how
    strongly the data inform the groups' differences. ``shift``: the average is sampled plus it
    (``_shifted_normal``).
    """
    groups = len(pm.modelcontext(None).coords[dims[0]])
    mean_dims = dims[1:] or None
    scale = _group_scale(name, group_sigma)
    tau2 = scale**2 / groups
    var = sigma**2 + tau2
    avg = _shifted_normal(f"{name}_avg", mu, pt.sqrt(var), shift, mean_dims)
    mu_z = pm.Normal(f"{name}_mu_z", 0.0, 1.0, dims=mean_dims)
    pm.Deterministic(
        f"{name}_mu", mu + sigma**2 / var * (avg - mu) + pt.sqrt(sigma**2 * tau2 / var) * mu_z, dims=mean_dims
    )
    # ZeroSumNormal sums over its last axis: the groups go last, then back in front.
    last = (*dims[1:], dims[0])
    if isinstance(centering, float) and centering == 0.0:
        offsets = scale * pm.ZeroSumNormal(f"{name}_z", sigma=1.0, dims=last)
    else:
        offsets = scale ** (1.0 - centering) * pm.ZeroSumNormal(
            f"{name}_w", sigma=scale**centering, dims=last
        )
    return pm.Deterministic(name, avg + (offsets.T if len(dims) > 1 else offsets), dims=dims)


def _deviations(name: str, priors: dict[str, float], fixed: Fixed, extra_dim: str | None = None):
    """Per product (and per ``extra_dim`` term), deviations ``<name>_product_sigma * z`` with ``z ~
    Normal(0, 1)``: non-centered, since most products' rows inform their own price response or
    dispersion only weakly, and a product without history gets its group's value give or take the
    scale. The scale is shared by the catalog (a top-level value: ``fixed`` may hold it)."""
    scale = _known(
        f"{name}_product_sigma",
        fixed,
        lambda: _scale(f"{name}_product_sigma", priors[f"{name}_product_sigma"]),
    )
    dims = "product" if extra_dim is None else ("product", extra_dim)
    return scale * pm.Normal(f"{name}_product_z", 0.0, 1.0, dims=dims)


def _per_product(name: str, value, pool_idx: np.ndarray, own: bool, priors, fixed) -> pt.TensorVariable:
    """A pooled component per product: its group's value, plus with ``own`` the product's deviation
    (``<name>_product``): a product with two years of history and its own price response gets it,
    a new one its group's."""
    base = value[pool_idx]
    if not own:
        return base
    return pm.Deterministic(f"{name}_product", base + _deviations(name, priors, fixed), dims="product")


def _period_years(design: Design) -> float:
    """One period's length in years (the design has at least two periods)."""
    return float(design.years[1] - design.years[0])


# How long after its launch a product's rows read the ramp: a ramp of half a year (tau) is within
# 2% of its mature level after two.
RAMP_YEARS = 2.0


def launch_rows(design: Design, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    """The rows within ``RAMP_YEARS`` of their product's launch inside the data
    (``Design.launch_period``: a product selling from the first period may be any age, and is read as
    established), and their age in years, the launch period counting as one period old."""
    if design.launch_period is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    step = _period_years(design)
    launch = design.launch_period[rows.product_idx]  # len(dates): a launch date after the horizon
    age = design.years[rows.time_idx] - design.years[np.clip(launch, 0, len(design.years) - 1)] + step
    at = np.flatnonzero((launch > 0) & (launch < len(design.years)) & (age > 0) & (age <= RAMP_YEARS))
    return at, age[at]


def _launch_ramp(design: Design, priors, fixed: Fixed, rows: Rows):
    """Demand as a function of a product's age: a launched product sells ``1 - exp(-age / tau)`` of
    its mature level, ``tau`` (years) per pooling group, log-normal around a catalog-wide mean
    (non-centered). Returns the rows it applies to (``launch_rows``) and their log multipliers; None
    when no product was launched inside the data."""
    at, age = launch_rows(design, rows)
    if not len(design.train) or not (launch_rows(design, design.train)[0].size):
        return None
    pool = design.pool or "pool"
    mu = _known("ramp_mu", fixed, lambda: pm.Normal("ramp_mu", priors["ramp_mu"], priors["ramp_sigma"]))
    scale = _known("ramp_group_sigma", fixed, lambda: _scale("ramp_group_sigma", priors["ramp_group_sigma"]))
    if "ramp" in fixed:  # by pooling group; a group the fixed values do not name gets the mean
        given = fixed["ramp"]
        if isinstance(given, pd.Series):
            levels = design.levels[design.pool] if design.pool is not None else pd.Index(["all"])
            given = given.reindex(levels).fillna(float(np.asarray(fixed.get("ramp_mu", priors["ramp_mu"]))))
        log_tau = pm.Deterministic("ramp", pt.as_tensor(np.asarray(given, float)), dims=pool)
    else:
        log_tau = pm.Deterministic("ramp", mu + scale * pm.Normal("ramp_z", 0.0, 1.0, dims=pool), dims=pool)
    tau = pt.exp(log_tau[design.pool_idx[rows.product_idx[at]]])
    return at, pt.log(-pt.expm1(-age / tau))


def drift_knots(design: Design) -> tuple[int, np.ndarray]:
    """The level drift's knot spacing (periods: about a quarter of a year) and, per product, how
    many knots its history spans, counted back from the last history period (knot 0) past its
    first row, one more to interpolate against (none for a product without history)."""
    step = _period_years(design)
    spacing = max(1, round(0.25 / step))
    first = first_periods(design.train, len(design.products))
    span = design.n_train - 1 - first
    return spacing, np.where(first >= 0, span // spacing + 2, 0)


def _level_drift(
    design: Design, priors, fixed: Fixed, rows: Rows, predict: bool, own_scale: bool = False
) -> pt.TensorVariable:
    """Each product's log level walks (a random walk, ``drift_sigma`` per year): real series drift
    (a remand population, a brand going out of fashion), and a static level with a linear trend
    puts each forecast where the history averaged, with intervals one period's noise wide.

    In the history the walk is anchored at 0 in the last period, so ``alpha_product`` is the
    product's current level (pooled under its groups), and walks back in steps at knots a quarter of
    a year apart (``drift_knots``), linear between them; only the knots a product's history spans are
    parameters (``drift_z``, non-centered). In the horizon it walks on from 0, a step a period, drawn
    afresh in every sample path (``drift_future_z`` is not in the posterior): the forecast's spread
    grows with the horizon as a drifting series' does. With ``own_scale`` (``product_effects``
    "drift") each product walks at its own scale, log-normal around the catalog's: a remand
    population drifts faster than a sentenced one. Returns the rows' log-level offsets."""
    sigma = _known("drift_sigma", fixed, lambda: _scale("drift_sigma", priors["drift_sigma"]))
    if own_scale:
        sigma = pm.Deterministic(
            "drift_sigma_product", sigma * pt.exp(_deviations("drift", priors, fixed)), dims="product"
        )
    else:
        sigma = pt.broadcast_to(sigma, (len(design.products),))
    step_years = _period_years(design)
    if predict:
        horizon = len(design.dates) - design.n_train
        model = pm.modelcontext(None)
        if "horizon_step" not in model.coords:
            model.add_coord("horizon_step", np.arange(horizon))
        z = pm.Normal("drift_future_z", 0.0, 1.0, dims=("product", "horizon_step"))
        walk = pt.cumsum(sigma[:, None] * np.sqrt(step_years) * z, axis=1)
        return walk[rows.product_idx, rows.time_idx - design.n_train]
    spacing, knots = drift_knots(design)
    steps = np.maximum(knots - 1, 0)  # per product: knot 0 is fixed at 0
    model = pm.modelcontext(None)
    model.add_coord("drift_step", np.arange(int(steps.sum())))
    z = pm.Normal("drift_z", 0.0, 1.0, dims="drift_step")
    step_owner = np.repeat(np.arange(len(knots)), steps)
    cum = pt.concatenate([pt.zeros(1), pt.cumsum(sigma[step_owner] * np.sqrt(spacing * step_years) * z)])
    step_start = np.concatenate([[0], np.cumsum(steps)[:-1]])  # each product's first step in z
    knot_start = np.concatenate([[0], np.cumsum(knots)[:-1]])  # each product's knot 0 in the levels
    owner = np.repeat(np.arange(len(knots)), knots)
    j = np.arange(int(knots.sum())) - knot_start[owner]
    levels = cum[step_start[owner] + j] - cum[step_start[owner]]  # sum of the product's first j steps
    u = (design.n_train - 1 - rows.time_idx) / spacing
    k = np.floor(u).astype(np.int64)
    w = u - k
    at = knot_start[rows.product_idx] + k
    return (1.0 - w) * levels[at] + w * levels[at + 1]


def _unseen_events(design: Design, coef: pt.TensorVariable, pool: str) -> pt.TensorVariable:
    """The horizon's unseen event columns' effects (``Design.unseen_events``: on in the horizon, in
    no history period; a shop's first Christmas), as a (periods, groups) matrix for the seasonal one.

    Nothing in the history says which way such a day goes, so its effect is drawn afresh in every
    sample path, as large as the seen columns' effects are in that posterior draw: each unseen
    column gets ``tau * z`` for every group, ``tau`` the root mean square of the seen columns'
    effects averaged over the groups, plus a group's own ``tau_g * z_g``, ``tau_g`` the root mean
    square of the groups' deviations from that average (``event_unseen_z``,
    ``event_unseen_group_z``: not in the posterior). A catalog whose holidays hardly move its demand
    gets hardly wider intervals on its first Christmas; one whose holidays double it, much wider.
    ``coef``: the seen columns' effects, (groups, events)."""
    model = pm.modelcontext(None)
    model.add_coord("unseen_events", design.unseen_event_names)
    common = coef.mean(axis=0)
    effect = pt.sqrt(pt.mean(pt.sqr(common))) * pm.Normal("event_unseen_z", 0.0, 1.0, dims="unseen_events")
    effect = pt.shape_padleft(effect)
    if design.n_pool > 1:
        own = pt.sqrt(pt.mean(pt.sqr(coef - common)))
        effect = effect + own * pm.Normal("event_unseen_group_z", 0.0, 1.0, dims=(pool, "unseen_events"))
    return pt.dot(design.unseen_events, effect.T)


# An AR series whose centering exponent is under this (its periods' rows inform it less than its
# prior does) is written by its standardized innovations (``_ar_series``).
AR_INNOVATIONS_BELOW = 0.5


def ar_matrix(phi, n: int) -> pt.TensorVariable:
    """The (n, n) lower-triangular matrix of an AR(1)'s impulse responses: ``x = L @ e`` is
    ``x_t = phi * x_(t-1) + e_t`` from ``x_0 = e_0``."""
    lag = np.subtract.outer(np.arange(n), np.arange(n))
    return pt.where(lag >= 0, phi ** np.maximum(lag, 0), 0.0)


def _ar_series(
    name: str, phi, scale, exponent: float, dims: tuple[str, ...], prior: bool
) -> pt.TensorVariable:
    """AR(1) series along the first dimension (periods) with innovations of sd ``scale``, from 0.

    Where the periods' rows pin the series (``exponent`` at least ``AR_INNOVATIONS_BELOW``), it is
    written partially centered: ``x = scale^(1 - a) * w`` with ``w_t - phi * w_(t-1) ~ Normal(0,
    scale^a)`` (the same process for every ``a``; its density is a sum over the periods, no matrix).
    Where they barely do, by its standardized innovations: ``x = scale * L(phi) @ z``, ``z ~
    Normal(0, 1)`` (``ar_matrix``), so neither the scale nor ``phi`` shapes the parameters' prior:
    written centered in ``phi``, weakly informed shocks follow ``phi`` a priori and ``phi`` mixes
    only as fast as they do."""
    if exponent < AR_INNOVATIONS_BELOW:
        z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
        n = len(pm.modelcontext(None).coords[dims[0]])
        return scale * pt.dot(ar_matrix(phi, n), z)
    w = pm.Flat(f"{name}_w", dims=dims)
    innovations = w - pt.concatenate([pt.zeros_like(w[:1]), phi * w[:-1]], axis=0)
    sd = scale**exponent  # the normal density written out (pm.logp's parameter check fails in nutpie)
    density = -0.5 * pt.sum((innovations / sd) ** 2) - innovations.size * (
        pt.log(sd) + 0.5 * np.log(2 * np.pi)
    )
    if prior:  # the history build (the horizon build reads w from the posterior)
        pm.Potential(f"{name}_prior", density)
    return scale ** (1.0 - exponent) * w


def _shared_shocks(
    design: Design, priors, fixed: Fixed, predict: bool, exponents: dict[str, float]
) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """Demand shocks shared by every product in a period: a hot week, a slow month, a local event
    moves a whole catalog, or a whole category, together. Summed, independent products' draws know
    nothing of it, so totals got intervals far too narrow and products' too wide (the shared
    variation read as product noise).

    The shock of pooling group g in period t is a catalog-wide shock plus g's own (the groups' own
    sum to zero in every period, so the two do not trade off: written on an orthonormal basis of
    such vectors), each an AR(1) in time from 0, ``x_t = phi * x_(t-1) + sigma * e_t``, with one
    ``shock_phi``: a shock carries over to the next periods, so the shocks also follow a level shift
    that lasts. Each is written for how strongly a period's rows pin it (``exponents``, the forms'
    ``shocks``: ``forecast.model.forms.shock_exponents`` at the pre-fit's scales; ``_ar_series``). The history's shocks are parameters; in the horizon
    they go on from the last period's, drawn afresh in every sample path (``shock_future_z``,
    ``shock_group_future_z``: not in the posterior) and shared by every product of the path, so a
    draw's products move together and the totals' intervals carry the shared uncertainty. Returns
    the (periods, groups) matrix of shocks, added to the seasonal matrix (zeros in the horizon on the
    history build, where no row reads them), and the catalog-wide shocks over the history."""
    model = pm.modelcontext(None)
    n, horizon, groups = design.n_train, len(design.dates) - design.n_train, design.n_pool
    pool = design.pool or "pool"
    a_common, a_own = exponents["common"], exponents["own"]
    phi = _known(
        "shock_phi", fixed, lambda: pm.Beta("shock_phi", priors["shock_phi_alpha"], priors["shock_phi_beta"])
    )
    sigma = _known("shock_sigma", fixed, lambda: _scale("shock_sigma", priors["shock_sigma"]))
    model.add_coord("shock_period", np.arange(n))
    # (n, 1); a coordinate of one string level made nutpie's initialisation fail
    common = _ar_series("shock", phi, sigma, a_common, ("shock_period",), not predict)
    shocks = common[:, None]
    own = groups > 1
    if own:
        group_sigma = _known(
            "shock_group_sigma", fixed, lambda: _scale("shock_group_sigma", priors["shock_group_sigma"])
        )
        model.add_coord("shock_basis", np.arange(groups - 1))
        basis = zero_sum_basis(np.zeros(groups, dtype=np.int64))  # (groups, groups - 1)
        coords = _ar_series(
            "shock_group", phi, group_sigma, a_own, ("shock_period", "shock_basis"), not predict
        )
        shocks = shocks + pt.dot(coords, basis.T)
    else:
        shocks = shocks + pt.zeros((n, groups))
    if not predict:
        shocks = pm.Deterministic("shock", shocks, dims=("shock_period", pool))
        return pt.concatenate([shocks, pt.zeros((horizon, groups))], axis=0), common
    if "horizon_step" not in model.coords:
        model.add_coord("horizon_step", np.arange(horizon))
    step = sigma * pm.Normal("shock_future_z", 0.0, 1.0, dims="horizon_step")[:, None]
    if own:
        step = step + group_sigma * pm.ZeroSumNormal(
            "shock_group_future_z", sigma=1.0, dims=("horizon_step", pool)
        )
    carried = (phi ** np.arange(1, horizon + 1))[:, None] * shocks[-1][None, :]
    future = carried + pt.dot(ar_matrix(phi, horizon), step)
    return pt.concatenate([pt.zeros((n, groups)), future], axis=0), common


def _shock_shifts(design: Design, common) -> dict[str, pt.TensorVariable]:
    """The catalog-wide shocks' least-squares coefficients on a constant, the trend's years and the
    seasonal terms over the history: how far the shocks move the level, the trend and the season.

    The likelihood reads the shocks and those parts only through their sum, so a shock series
    with a mean, a slope or a yearly cycle trades off with the intercept, the products' levels,
    the trend and the season: a ridge along which every product's level moves with the shocks
    (measured: the trend's ESS 45 of 4,000 draws, the levels' R-hat 1.05, with a diagonal mass
    matrix; benchmarks/README.md). Those parts are sampled plus these coefficients instead
    (``_shifted_normal``, ``_product_levels``): the same model, the ridge now along coordinates
    the data do not read, where only the priors act."""
    coef = pt.dot(np.linalg.pinv(pattern_columns(design, events=False)), common)
    return {"intercept": coef[0], "trend": coef[1], "season": coef[2:] if design.fourier.shape[1] else None}


def _weighted_effects(
    design: Design, priors: dict[str, float], form, shared: bool
) -> pt.TensorVariable | None:
    """The effects of the attributes written on contrasts per level (``form``: the attributes'
    forms, a vector of exponents for those), averaged over their levels, each weighed by the
    information behind it (its products' rows, each capped by the products' prior spread): the
    intercept is sampled plus it (``_shifted_normal``); ``None`` where no attribute is.

    The effects sum to zero over an attribute's levels, so the intercept is the mean of the levels'
    means, however few products a level holds: a size sold as one product moves it as much as a
    size of thirty. Where levels' information differs that much, the intercept moved with every
    well-known level's effect (measured on the real shop: correlation -0.86 with each of three
    sizes, the intercept's ESS the model's lowest; benchmarks/README.md). Sampled plus this
    average, it is the level the rows pin; the model is the same (the shear has unit Jacobian and
    the prior is read at the intercept itself). The weights are data (``shared``: see
    ``_data``)."""
    model = pm.modelcontext(None)
    total = None
    split = split_attributes(form)
    for attr in design.level_idx:  # in the design's order: the sum the same in every process
        name = f"effect_{attr}"
        if attr not in split or name not in model.named_vars or len(design.levels[attr]) == 1:
            continue
        weights = _data(f"level_weights_{attr}", level_weights(design, priors, attr), shared)
        part = pt.dot(weights, model[name])
        total = part if total is None else total + part
    return total


def level_weights(design: Design, priors: dict[str, float], attr: str) -> np.ndarray:
    """Each level's share of the information behind an attribute's levels: its products' rows'
    (``forecast.model.forms.product_information``), each product's capped at the prior spread of
    products around their groups (a level is known no better than its products' mean); equal
    shares where no product has rows."""
    info = product_information(design, priors)
    through = info / (1.0 + priors["product_sigma"] ** 2 * info)
    w = np.bincount(design.level_idx[attr], weights=through, minlength=len(design.levels[attr]))
    return w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))


def build_model(
    design: Design,
    priors: dict[str, float],
    predict: bool = False,
    likelihood: str = "negbin",
    pooling: str = "partial",
    forms: dict | None = None,
    fixed: Fixed | None = None,
    product_effects: tuple[str, ...] = (),
    launch_ramp: bool = False,
    censor: bool = True,
    level_drift: bool = False,
    shared_shocks: bool = False,
) -> pm.Model:
    """Build the model on the history rows, or on the horizon rows when ``predict`` is true.

    ``product_effects``: the components (``PRODUCT_EFFECTS``) that get a deviation per product around
    its group's value (``_per_product``); ``launch_ramp``: demand ramps up with a product's age after
    its launch, its launch date or else its first sale (``_launch_ramp``); ``level_drift``: each
    product's level walks over time (``_level_drift``); ``shared_shocks``: demand shocks shared by
    the products of a period, catalog-wide and per group (``_shared_shocks``); ``censor``: rows marked censored
    (``Rows.censored``, out of stock for part of the period) count as lower bounds on demand, not as
    demand.

    Both builds share every parameter name and shape, so a posterior fitted on the history is used
    directly with ``pm.sample_posterior_predictive`` on the horizon build (pass the same ``fixed``
    and ``forms`` to both). ``fixed``: known quantities, see the module docstring. ``forms``: how
    each part is written (``PARTS``), over the forms ``forecast.model.forms.choose_forms`` takes from
    the data.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood '{likelihood}': choose one of {', '.join(LIKELIHOODS)}")
    if pooling not in POOLING:
        raise ValueError(f"unknown pooling '{pooling}': choose one of {', '.join(POOLING)}")
    unknown = set(product_effects) - set(PRODUCT_EFFECTS)
    if unknown:
        raise ValueError(
            f"unknown product effect(s) {sorted(unknown)}: choose from {', '.join(PRODUCT_EFFECTS)}"
        )
    if pooling == "none":  # every product's components are its own already
        product_effects = ()
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
    if design.event_names:  # no events: no coordinate, the model as without them
        coords["events"] = design.event_names  # (a dimension may not share its variable's name)
    if design.pool is None:
        coords["pool"] = ["all"]
    forms = choose_forms(design, priors) | (forms or {})
    allowed = {"groups": ("auto", "centered", "noncentered"), "product": ("centered",)}
    for part, form in forms.items():
        choices = allowed.get(part, ("centered", "noncentered", "average", "partial"))
        if part not in PARTS or (isinstance(form, str) and form not in choices):
            raise ValueError(f"unknown form {part}={form!r}: parts {PARTS}, named forms {choices}")
    pool_levels = design.levels[design.pool] if design.pool is not None else pd.Index(["all"])

    shifts: dict = {}  # the shocks' shear (``_shock_shifts``) where they are in the model

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
            not predict,
            shifts.get(name),
        )

    with pm.Model(coords=coords) as model:
        shocks = None
        if shared_shocks:  # per (period, group), as seasonality is: into the same matrix below
            shocks, common = _shared_shocks(design, priors, fixed, predict, forms["shocks"])
            if pooling == "partial" and "intercept" not in fixed:
                shifts = _shock_shifts(design, common)
        if pooling == "partial":
            effects = _group_effects(design, priors, forms["groups"], fixed, not predict)
            intercept_shift = shifts.get("intercept")
            if (
                "intercept" not in fixed
                and (weighted := _weighted_effects(design, priors, forms["groups"], not predict)) is not None
            ):
                intercept_shift = weighted if intercept_shift is None else intercept_shift + weighted
            intercept = _known(
                "intercept",
                fixed,
                lambda: _shifted_normal(
                    "intercept",
                    priors["intercept_mu"],
                    priors["intercept_sigma"],
                    intercept_shift,
                ),
            )
            sigma_product = _known(
                "sigma_product", fixed, lambda: _scale("sigma_product", priors["product_sigma"])
            )
            group_mean = intercept + effects
            alpha_p = _product_levels(
                group_mean, sigma_product, forms["product"], not predict, shifts.get("intercept")
            )
        else:
            alpha_p = pm.Normal(
                "alpha_product", priors["intercept_mu"], priors["intercept_sigma"], dims="product"
            )

        pool_idx = design.pool_idx
        if design.fourier.shape[1]:
            season_coef = pooled("season", 0.0, "season", (pool, "fourier"))
            fourier = _data("fourier", design.fourier, not predict)
            season = pt.dot(fourier, season_coef.T)  # (periods, groups)
        else:  # history shorter than any cycle (design.fourier_terms)
            fourier, season = None, pt.zeros((len(design.dates), design.n_pool))
        if design.event_names:
            # Events shift a group's log mean in the periods they touch, as seasonality does: added
            # to the (periods, groups) matrix, they reach the fused likelihood and the horizon alike.
            event_coef = pooled("event", 0.0, "event", (pool, "events"))
            season = season + pt.dot(_data("event_matrix", design.events, not predict), event_coef.T)
            if predict and design.unseen_event_names:
                season = season + _unseen_events(design, event_coef, pool)
        if shocks is not None:
            season = season + shocks
        season_row = pool_idx
        if "season" in product_effects and fourier is not None:
            # each product its own seasonal row: its group's plus its Fourier deviation
            season = season[:, pool_idx] + pt.dot(fourier, _deviations("season", priors, fixed, "fourier").T)
            season_row = np.arange(len(design.products))
        trend = pooled("trend", 0.0, "trend")
        elasticity = pooled("elasticity", priors["elasticity_mu"], "elasticity")
        promo = pooled("promo", priors["promo_mu"], "promo")
        log_alpha = _known(
            "log_alpha",
            fixed,
            lambda: pm.Normal("log_alpha", priors["log_alpha_mu"], priors["log_alpha_sigma"]),
        )
        per_product = {
            name: _per_product(name, value, pool_idx, name in product_effects, priors, fixed)
            for name, value in (("trend", trend), ("elasticity", elasticity), ("promo", promo))
        }
        if "dispersion" in product_effects:
            log_alpha = pm.Deterministic(
                "log_alpha_product", log_alpha + _deviations("dispersion", priors, fixed), dims="product"
            )
        logit_zero = pooled("logit_zero", priors["zero_mu"], "zero") if likelihood == "zinb" else None
        # Per-row additions to the log mean, in the rows' order: the launch ramp, the level's drift.
        row_offset = None
        if launch_ramp and (ramp := _launch_ramp(design, priors, fixed, rows)) is not None:
            at, values = ramp
            row_offset = pt.set_subtensor(pt.zeros(len(rows))[at], values)
        if level_drift:
            drift = _level_drift(design, priors, fixed, rows, predict, "drift" in product_effects)
            row_offset = drift if row_offset is None else row_offset + drift

        if not predict:
            # The fused one-pass likelihood and gradient (forecast.model.likelihood): most of a gradient.
            censored = rows.censored if censor else None
            data = rows_data(
                rows.product_idx,
                rows.time_idx,
                rows.log_price,
                rows.promo,
                rows.y,
                season_row,
                design.years,
                censored,
            )
            offset = None
            if row_offset is not None:  # into the kernel's order (by product, then period)
                offset = row_offset[np.lexsort((rows.time_idx, rows.product_idx))]
            effects = {
                "alpha": alpha_p,
                "season": season.T.flatten(),  # season rows x periods: each product's periods contiguous
                **per_product,
                "log_alpha": log_alpha,
                "zero": None if logit_zero is None else logit_zero[pool_idx],
                "offset": offset,
            }
            pm.Potential("demand_loglik", rows_loglik(likelihood, effects, data))
            return model
        # The horizon: the same log mean, gathered per row (drawn from, never differentiated).
        obs_pool = pool_idx[rows.product_idx]
        eta = (
            alpha_p[rows.product_idx]
            + season[rows.time_idx, np.asarray(season_row)[rows.product_idx]]
            + per_product["trend"][rows.product_idx] * design.years[rows.time_idx]
            + per_product["elasticity"][rows.product_idx] * rows.log_price
            + per_product["promo"][rows.product_idx] * rows.promo
        )
        if row_offset is not None:
            eta = eta + row_offset
        alpha = pt.exp(log_alpha[rows.product_idx] if "dispersion" in product_effects else log_alpha)
        if likelihood == "zinb":
            # Probability of a structural zero (not stocked, not listed), per pooling group.
            pm.ZeroInflatedNegativeBinomial(
                "demand", psi=pt.sigmoid(-logit_zero[obs_pool]), mu=pt.exp(eta), alpha=alpha, dims="obs"
            )
        else:
            pm.NegativeBinomial("demand", mu=pt.exp(eta), alpha=alpha, dims="obs")
    return model
