"""How each part of the model is written for the sampler, chosen from how strongly the data inform it.

Every level-and-scale pair of the model (a product's level around its groups, an attribute's
effects, a pooled component's groups around their average) is written partially centered,
``x = scale^(1 - a) * w`` with ``w ~ Normal(0, scale^a)``: the same model for every ``a``, a
different geometry for NUTS. Where the data pin ``x`` (many rows, many products in a level) the
centered form (``a = 1``) samples well and the non-centered one leaves the scale on a ridge; where
the data say little (a product with no history, a price that never changed, groups that do not
differ) the centered form is a funnel and the non-centered one samples well.

For a normal level ``x ~ Normal(m, tau^2)`` observed with Fisher information ``I``, the best
partial centering puts ``a = kappa / (1 + kappa)`` with ``kappa = tau^2 * I``: the share of ``x``'s
posterior precision that its data provide (Papaspiliopoulos, Roberts and Skold 2007; Gorinova,
Moore and Hoffman 2020). Both come from the rows before any fit:

- ``I``: negative binomial weights ``mu / (1 + mu / alpha)`` at each product's average sales, times
  the squared regressor with each product's own mean taken out (its level absorbs it), given the
  group's other regressors (a promotion's price cut informs elasticity and lift together);
- ``tau``, the spread of the levels, from a quick pre-fit (``pilot_scales``): one Fisher-scoring
  step per pooling group from the no-effect model, and the groups' spread of those estimates less
  their noise (a method-of-moments variance component, as in meta-analysis); products' and
  attributes' spreads likewise from each product's crude log level. So seasonality that does not
  differ between categories, or a catalog without seasonality, gets a scale near zero and a
  non-centered form, however many rows inform it.

An attribute's effects and a pooled component share one exponent over their levels (the
zero-sum constraint couples them): a low percentile of their levels' exponents. But where that one
exponent is near zero because of a few hardly known levels while the others are well known (a size
sold as one product beside sizes of thirty: ``SPLIT_BELOW``, ``SPLIT_ABOVE``), an attribute's
effects are written on zero-sum contrasts, the levels taken from the most informed to the least
(``effect_basis``), each contrast with the exponent its own information asks for
(``contrast_exponents``). Measured on the convergence corpus
(``benchmarks/geometry.py``, ``benchmarks/corpus.py``; benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from forecast.prep.design import Design, parent_groups

COMPONENTS = {
    "season": "season",
    "event": "event",
    "trend": "trend",
    "elasticity": "elasticity",
    "promo": "promo",
    "zero": "zero",
}
# The range a pre-fit's spread may take, as shares of the prior scale: a moment estimate of zero
# from a handful of groups is not proof that they do not differ, and one far above the prior is
# noise the posterior will not follow.
MIN_SCALE_SHARE = 0.05
MAX_SCALE_SHARE = 2.0
LOW_QUANTILE = 0.01
# Levels that share one scale share one exponent: the 10th percentile of theirs, so the least
# informed levels (the ones a centered form would trap in a funnel) decide; measured against their
# mean on the corpus (benchmarks/geometry.py).
LEVEL_SUMMARY: float | str = 0.1
# An attribute's effects are written on contrasts, each with its own exponent, where the one
# exponent would be under SPLIT_BELOW (non-centered in effect) while a contrast among its best known
# levels asks for SPLIT_ABOVE or more: the real shop's sizes (0.006 against 0.17; the chains then
# found 0.43), where one exponent left the well-known sizes on a ridge with their scale. Where the
# one exponent is moderate, it served better than per-contrast ones (the test catalog's 0.27-0.32
# against contrasts of 0.2-0.84: 8 of 8 seeds passed against 4 of 8). benchmarks/README.md,
# "Contrasts per level".
SPLIT_BELOW = 0.05
SPLIT_ABOVE = 0.15
# A product's information is its own rows' (not its deviation from its groups' mean, which the
# corpus measured as no better).
PRODUCT_INFORMATION_OF = "rows"
# Degrees of freedom of a scale taken as known (``exponent_at``): its low plausible value is itself.
SURE_DF = 1e9


def _exponent(kappa: np.ndarray) -> np.ndarray:
    return kappa / (1.0 + kappa)


def product_means(design: Design) -> np.ndarray:
    """Each product's average units per period of history (smoothed: a product with no sales or
    no rows gets a small positive mean)."""
    rows = design.train
    n = np.bincount(rows.product_idx, minlength=len(design.products))
    units = np.bincount(rows.product_idx, weights=rows.y, minlength=len(design.products))
    return (units + 0.5) / (n + 1.0)


def row_weights(design: Design, priors: dict[str, float]) -> np.ndarray:
    """Each history row's Fisher weight for the log mean, at its product's average sales."""
    mean = product_means(design)
    alpha = np.exp(priors["log_alpha_mu"])
    return (mean / (1.0 + mean / alpha))[design.train.product_idx]


def product_information(design: Design, priors: dict[str, float]) -> np.ndarray:
    """Fisher information of each product's log level from its own rows (0 for a new product)."""
    return np.bincount(
        design.train.product_idx, weights=row_weights(design, priors), minlength=len(design.products)
    )


def zero_sum_basis(groups: np.ndarray, rank: np.ndarray | None = None) -> np.ndarray:
    """An orthonormal basis (levels x free coordinates) of the vectors that sum to zero within each
    group: per group of ``n`` levels, the ``n - 1`` Helmert contrasts, each level (in the order of
    ``rank``, default the levels' own) against the mean of the group's levels before it. ``basis @
    v`` with ``v ~ Normal(0, sigma)`` is, group by group, ``ZeroSumNormal(sigma)`` (covariance
    ``sigma^2 (I - 11'/n)``); a group of one level has no free coordinate and its effect is zero."""
    groups = np.asarray(groups)
    order = np.arange(len(groups)) if rank is None else np.argsort(rank, kind="stable")
    n_free = len(groups) - len(np.unique(groups))
    basis = np.zeros((len(groups), n_free))
    col = 0
    for g in np.unique(groups):
        members = order[groups[order] == g]
        for k in range(1, len(members)):
            basis[members[:k], col] = 1.0 / np.sqrt(k * (k + 1))
            basis[members[k], col] = -k / np.sqrt(k * (k + 1))
            col += 1
    return basis


def effect_basis(design: Design, priors: dict[str, float], attr: str) -> np.ndarray:
    """The free coordinates of an attribute's effects (levels x contrasts): zero-sum contrasts
    within each parent cell (``parent_groups``; the whole catalog where it nests in none), the
    levels taken from the most informed (the most rows' weight behind them) to the least. Each
    contrast then sets one level against the better-known levels before it, so contrasts among
    well-known levels are pinned and the last ones carry the little-known levels' uncertainty:
    each gets the centering its own information asks for (``choose_forms``). A size sold as one
    product next to sizes of thirty is the case: one exponent for all its levels left the
    well-known ones non-centered on a ridge with their scale (measured on the real shop,
    benchmarks/README.md)."""
    idx, n = design.level_idx[attr], len(design.levels[attr])
    info = np.bincount(idx, weights=product_information(design, priors), minlength=n)
    groups = parent_groups(design).get(attr, np.zeros(n, dtype=np.int64))
    return zero_sum_basis(groups, rank=-info)


def contrast_exponents(basis: np.ndarray, level_info: np.ndarray, tau: float) -> np.ndarray:
    """Each contrast's centering exponent at scale ``tau``: its information is the inverse of its
    estimate's variance, ``sum_l basis_lk^2 / I_l`` for levels informed ``I_l``."""
    # A level without rows is as good as uninformed (not infinitely so: 0 * inf would spoil the
    # contrasts that do not hold it).
    variance = (basis**2).T @ (1.0 / np.maximum(level_info, 1e-200))
    return _exponent(tau**2 / variance)


def pattern_columns(design: Design, events: bool = True) -> np.ndarray:
    """The time patterns the model's other parts carry over the history (history periods x k): a
    constant (the intercept), the trend's years, the seasonal terms and (``events``) the events'
    columns."""
    n = design.n_train
    columns = [np.ones(n), design.years[:n], design.fourier[:n]] + ([design.events[:n]] if events else [])
    return np.column_stack(columns).astype(float)


def history_patterns(design: Design) -> np.ndarray:
    """An orthonormal basis of ``pattern_columns``. The shock pre-fit (``shock_scales``) leaves them
    out of the periods' residuals, so that a season is not read as shocks."""
    u, s, _ = np.linalg.svd(pattern_columns(design), full_matrices=False)
    return u[:, s > 1e-8 * s[0]]


# A cell whose largest products hold more than this share of its weight (one or two products)
# cannot tell its rows' scatter from what they share: its noise is read about the products'
# averages instead (``_shock_cells``).
WITHIN_CELL_SHARE = 0.5


def _shock_cells(design: Design, priors: dict[str, float]) -> tuple[np.ndarray, ...]:
    """Per (history period, pooling group): the rows' Fisher weights ``W`` (also what the
    no-effect model expects of the next sum); their weighted units sold relative to each
    product's average (``sum(w * y / m)``: over ``W``, the cell's ratio of sold to expected); and
    that sum's sampling noise.

    Each row counts by its Fisher weight ``w = m / (1 + m / alpha)`` (``row_weights``, at its
    product's average ``m``), not by its units: a product selling 20 a week tells a period's
    shock little more than one selling 3 (its negative binomial noise grows with its square), and
    read by units it drowned the shocks of a catalog led by a few such products (a 200-product
    catalog's 0.1 a week went unseen; benchmarks/README.md).

    The noise is the rows' weighted scatter about what their cell shares, ``sum(w^2 (y / m -
    ratio)^2)`` over ``1 - sum(w^2) / W^2`` (unbiased where a row's variance of ``y / m`` is
    ``1 / w``, as the negative binomial's): read about the products' averages instead, it held
    what the cell's products share (the group's season, the shocks themselves). Cells of one or
    two products (``WITHIN_CELL_SHARE``) keep the scatter about the products' averages."""
    rows = design.train
    shape = (design.n_train, design.n_pool)
    cell = rows.time_idx * design.n_pool + design.pool_idx[rows.product_idx]
    # a stock-out's or a closed day's sales say nothing of demand: left out
    full = np.ones(len(rows), dtype=bool) if rows.censored is None else ~rows.censored

    def summed(weights):
        return np.bincount(cell[full], weights=weights[full], minlength=shape[0] * shape[1]).reshape(shape)

    w = row_weights(design, priors)
    x = rows.y / product_means(design)[rows.product_idx]  # units relative to the product's average
    weight, sold = summed(w), summed(w * x)
    ratio = np.divide(sold, weight, out=np.ones(shape), where=weight > 0)
    share = np.divide(summed(w**2), weight**2, out=np.ones(shape), where=weight > 0)
    within = summed(w**2 * (x - ratio.ravel()[cell]) ** 2) / np.maximum(1.0 - share, 1e-12)
    about_average = summed(w**2 * (x - 1.0) ** 2)
    return weight, sold, np.where(share < WITHIN_CELL_SHARE, within, about_average)


def _shock_moments(
    residuals: np.ndarray, noise: np.ndarray, patterns: np.ndarray
) -> tuple[float, float, int]:
    """The per-period ``residuals`` (periods x series, sampling variances ``noise``) less their
    projection on ``patterns``: their variance beyond the noise (a moment estimate of the shocks'
    stationary variance), the noise's mean, and their degrees of freedom."""
    n, k = patterns.shape
    kept = residuals - patterns @ (patterns.T @ residuals)
    leverage = 1.0 - np.sum(patterns**2, axis=1)
    dof = (n - k) * residuals.shape[1]
    if dof < 2:
        return 0.0, 0.0, 0
    mean_noise = float(np.sum(leverage[:, None] * noise) / dof)
    return float(np.sum(kept**2)) / dof - mean_noise, mean_noise, dof


def _shock_spread(
    residuals: np.ndarray, noise: np.ndarray, patterns: np.ndarray, prior: float, phi: float
) -> Spread:
    """The innovation scale of AR(1) shocks behind per-period ``residuals`` (periods x series,
    sampling variances ``noise``), less their projection on ``patterns``: the residuals' variance
    less their noise's (a moment estimate of the shocks' stationary variance), at the prior's mean
    ``phi``."""
    excess, mean_noise, dof = _shock_moments(residuals, noise, patterns)
    if dof < 2:
        return Spread(prior, 0.0)
    variance = max(excess, 0.0)
    scale = _clip(float(np.sqrt(variance * (1.0 - phi**2))), prior)
    return Spread(scale, _df(dof + 1, mean_noise * (1.0 - phi**2), scale))


def _common_residuals(
    design: Design, cells: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each history period's log ratio of units sold to the no-effect model's, its rows counted by
    their Fisher weights (0 in a period without rows); its sampling variance from the rows' own
    scatter (not the prior's dispersion, which a catalog noisier than it would read as shocks); and
    the patterns the other parts carry (``history_patterns``); ``cells``: ``_shock_cells``."""
    weight, sold, squares = (cell.sum(axis=1) for cell in cells)  # the periods: every group
    seen = weight > 0
    ratio = np.log((sold + 0.5) / (weight + 0.5))
    noise = squares / (weight + 0.5) ** 2
    return np.where(seen, ratio, 0.0), np.where(seen, noise, 0.0), history_patterns(design)


# ``shared_shocks=auto`` (the default) puts the shared shocks in the model where the pre-fit finds
# them: the periods' variance beyond their noise significant at SHOCK_SIGNIFICANCE (a chi-square
# test of the residuals against their noise) and a stationary sd of at least SHOCK_MATERIAL. Chosen
# on the convergence corpus (no shocks in its generator) and catalogs with shocks of 0.2 to 0.02 a
# week (benchmarks/README.md): catalogs without shocks still share a little (their prices'
# changes, launches), about 0.03 a period, which 1,000 products make significant at 1%; a
# false find costs fitting time and, with nothing to pin the shocks' phi, the checks.
SHOCK_SIGNIFICANCE = 0.001
SHOCK_MATERIAL = 0.04


def shared_shocks_found(design: Design, priors: dict[str, float]) -> dict:
    """The pre-fit's test for shared shocks (``SHOCK_SIGNIFICANCE``, ``SHOCK_MATERIAL``): whether
    they are there (``found``), their stationary sd beyond the noise (``sd``) and the test's
    p-value (``p``)."""
    residuals, noise, patterns = _common_residuals(design, _shock_cells(design, priors))
    excess, mean_noise, dof = _shock_moments(residuals[:, None], noise[:, None], patterns)
    if dof < 2 or mean_noise <= 0:
        return {"found": False, "sd": 0.0, "p": 1.0}
    p = float(stats.chi2.sf(dof * (excess + mean_noise) / mean_noise, dof))
    sd = float(np.sqrt(max(excess, 0.0)))
    return {"found": bool(p < SHOCK_SIGNIFICANCE and sd >= SHOCK_MATERIAL), "sd": round(sd, 4), "p": p}


def shock_scales(design: Design, priors: dict[str, float]) -> dict[str, Spread]:
    """The pre-fit of the shared shocks (``forecast.model.builder._shared_shocks``): each period's
    log ratio of units sold to the no-effect model's (rows by their Fisher weights), catalog-wide
    (``shock``) and each group's less the catalog's (``shock_group``), with the patterns the other
    parts carry projected out (``history_patterns``); their spread less the sampling noise's. A
    catalog without shared shocks gets a scale near zero (so a non-centered form, however many
    products a period has)."""
    cells = _shock_cells(design, priors)
    weight, sold, squares = cells
    common, noise, patterns = _common_residuals(design, cells)
    phi = priors["shock_phi_alpha"] / (priors["shock_phi_alpha"] + priors["shock_phi_beta"])  # its prior mean
    scales = {"shock": _shock_spread(common[:, None], noise[:, None], patterns, priors["shock_sigma"], phi)}
    cell_seen = weight > 0  # (a group's cell seen: its period too, where ``common`` is the log ratio)
    own = np.where(cell_seen, np.log((sold + 0.5) / (weight + 0.5)) - common[:, None], 0.0)
    own_noise = np.where(cell_seen, squares / (weight + 0.5) ** 2, 0.0)
    groups = design.n_pool
    spread = _shock_spread(own, own_noise, patterns, priors["shock_group_sigma"], phi)
    if groups > 1:  # a group's own shock is ZeroSumNormal: variance sigma^2 (G - 1) / G
        spread = Spread(
            _clip(spread.scale * np.sqrt(groups / (groups - 1)), priors["shock_group_sigma"]), spread.df
        )
    scales["shock_group"] = spread
    return scales


def shock_exponents(
    design: Design, priors: dict[str, float], scales: dict[str, Spread] | None = None
) -> dict[str, float]:
    """The partial centering of the shared shocks (``forecast.model.builder._shared_shocks``): the
    catalog-wide shock's (``common``) and the groups' own (``own``), from a period's information
    (the rows' Fisher weights summed over the period, or over a group's rows in it; the
    ``LEVEL_SUMMARY`` percentile over the periods) at the low plausible value of the pre-fit's
    scale (``shock_scales``; default: the prior's). A period of a thousand products that share
    shocks pins them (centered); a period of six products, or a catalog without shared shocks, does
    not (non-centered)."""
    if scales is None:
        scales = {
            "shock": Spread(priors["shock_sigma"], SURE_DF),
            "shock_group": Spread(priors["shock_group_sigma"], SURE_DF),
        }
    info = _shock_cells(design, priors)[0]
    common = low_scale(scales["shock"]) ** 2 * np.quantile(info.sum(axis=1), LEVEL_SUMMARY)
    own = low_scale(scales["shock_group"]) ** 2 * np.quantile(info, LEVEL_SUMMARY)
    return {"common": float(_exponent(common)), "own": float(_exponent(own))}


def _within_product(values: np.ndarray, weights: np.ndarray, product_idx: np.ndarray, n: int) -> np.ndarray:
    """``values`` minus their weighted mean within each product."""
    total = np.bincount(product_idx, weights=weights, minlength=n)
    mean = np.bincount(product_idx, weights=weights * values, minlength=n) / np.maximum(total, 1e-12)
    return values - mean[product_idx]


def _component_steps(design: Design, priors: dict[str, float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per pooled component: each pooling group's one-step estimate of its coefficient(s) from the
    no-effect model, and its conditional Fisher information (groups x terms each)."""
    rows = design.train
    w = row_weights(design, priors)
    mean = product_means(design)[rows.product_idx]
    residual = (rows.y - mean) / mean  # the working response of the log link at the no-effect model
    group = design.pool_idx[rows.product_idx]
    n_products, n_groups = len(design.products), design.n_pool
    n_terms, n_events = design.fourier.shape[1], design.events.shape[1]
    columns = (
        [design.years[rows.time_idx], rows.log_price, rows.promo]
        + [design.fourier[rows.time_idx, k] for k in range(n_terms)]
        + [design.events[rows.time_idx, k] for k in range(n_events)]
    )
    x = np.column_stack([_within_product(c, w, rows.product_idx, n_products) for c in columns])
    info = np.zeros((n_groups, x.shape[1]))
    step = np.zeros((n_groups, x.shape[1]))
    for g in range(n_groups):
        in_g = group == g
        xg, wg = x[in_g], w[in_g]
        m = (xg * wg[:, None]).T @ xg
        keep = np.diag(m) > 1e-9 * max(np.trace(m), 1e-300)  # regressors that vary in this group
        if keep.any():
            inv = np.linalg.pinv(m[np.ix_(keep, keep)])
            info[g, keep] = 1.0 / np.maximum(np.diag(inv), 1e-300)
            step[g, keep] = inv @ ((xg[:, keep] * wg[:, None]).T @ residual[in_g])
    parts = {"trend": [0], "elasticity": [1], "promo": [2]}
    if n_terms:  # no seasonality in a history shorter than a cycle (design.fourier_terms)
        parts["season"] = list(range(3, 3 + n_terms))
    if n_events:  # no calendar, no event columns (forecast.prep.events)
        parts["event"] = list(range(3 + n_terms, 3 + n_terms + n_events))
    out = {part: (step[:, cols], info[:, cols]) for part, cols in parts.items()}
    # Zero inflation: its information about a group's logit is of the order of the group's rows.
    zero_info = np.bincount(group, weights=w, minlength=n_groups)[:, None]
    out["zero"] = (np.full_like(zero_info, np.nan), zero_info)
    return out


def _spread(estimates: np.ndarray, noise: np.ndarray) -> float | None:
    """The spread of the true values behind noisy ``estimates`` (sampling variances ``noise``):
    the DerSimonian-Laird moment estimate, which weighs each estimate by its precision; ``None``
    with fewer than two usable estimates."""
    ok = np.isfinite(estimates) & np.isfinite(noise) & (noise > 0)
    if ok.sum() < 2:
        return None
    y, w = estimates[ok], 1.0 / noise[ok]
    mean = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mean) ** 2)
    denominator = np.sum(w) - np.sum(w**2) / np.sum(w)
    return float(np.sqrt(max((q - (ok.sum() - 1)) / denominator, 0.0))) if denominator > 0 else None


def _crude_levels(design: Design, priors: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each product's crude log level, its sampling variance, and which products have rows."""
    info = product_information(design, priors)
    seen = info > 0
    return np.log(product_means(design)), 1.0 / np.maximum(info, 1e-12), seen


@dataclass(frozen=True)
class Spread:
    """A part's spread across its levels, and how many levels' worth of information it rests on
    (its degrees of freedom: fewer than the levels where each level is itself uncertain)."""

    scale: float
    df: float


def _df(levels: int, noise: float, scale: float) -> float:
    """Effective degrees of freedom of a moment estimate of ``scale`` from ``levels`` noisy
    estimates of average sampling variance ``noise``: its relative variance is about
    ``2 / (levels - 1) * (1 + noise / scale^2)^2`` (a one-way variance component)."""
    return max(levels - 1, 0) / (1.0 + noise / scale**2) ** 2


def pilot_scales(design: Design, priors: dict[str, float]) -> dict[str, Spread]:
    """The quick pre-fit: the spread of each part's levels, by the method of moments (module
    docstring), within ``MIN_SCALE_SHARE`` and ``MAX_SCALE_SHARE`` of its prior scale; the prior
    scale where the data cannot tell (a single group, products with no rows)."""
    scales: dict[str, Spread] = {}
    level, noise, seen = _crude_levels(design, priors)
    for attr, idx in design.level_idx.items():
        prior = priors["group_sigma"]
        n_levels = len(design.levels[attr])
        count = np.bincount(idx[seen], minlength=n_levels)
        means = np.bincount(idx[seen], weights=level[seen], minlength=n_levels) / np.maximum(count, 1)
        within = level[seen] - means[idx[seen]]
        pooled_var = float(np.sum(within**2) / max(seen.sum() - n_levels, 1))
        scale = _clip(_spread(np.where(count > 0, means, np.nan), pooled_var / np.maximum(count, 1)), prior)
        used = count[count > 0]
        scales[f"groups:{attr}"] = Spread(
            scale, _df(len(used), pooled_var / max(used.mean(), 1), scale) if len(used) else 0.0
        )
    # Products around their groups: the spread left within the finest level (all attributes' cells).
    cell = np.zeros(len(design.products), dtype=np.int64)
    for idx in design.level_idx.values():
        cell = cell * (idx.max() + 1) + idx
    _, cell = np.unique(cell, return_inverse=True)
    count = np.bincount(cell[seen], minlength=cell.max() + 1)
    means = np.bincount(cell[seen], weights=level[seen], minlength=cell.max() + 1) / np.maximum(count, 1)
    repeated = seen & (count[cell] > 1)
    prior = priors["product_sigma"]
    dof = repeated.sum() - np.unique(cell[repeated]).size
    if dof > 1:
        within = level[repeated] - means[cell[repeated]]
        scale = _clip(float(np.sqrt(max(np.sum(within**2) / dof - np.mean(noise[repeated]), 0.0))), prior)
        scales["product"] = Spread(scale, _df(dof + 1, float(np.mean(noise[repeated])), scale))
    else:
        scales["product"] = Spread(prior, max(seen.sum() - 1, 0))
    for part, (estimates, info) in _component_steps(design, priors).items():
        prior = priors[f"{COMPONENTS[part]}_group_sigma"]
        noise_k = 1.0 / np.maximum(info, 1e-12)
        spreads = [_spread(estimates[:, k], noise_k[:, k]) for k in range(info.shape[1])]
        spreads = [s for s in spreads if s is not None]
        if not spreads:
            scales[part] = Spread(prior, max(design.n_pool - 1, 0))
            continue
        scale = _clip(float(np.sqrt(np.mean(np.square(spreads)))), prior)
        scales[part] = Spread(scale, _df(design.n_pool, float(np.median(noise_k)), scale))
    return scales | shock_scales(design, priors)


def _clip(spread: float | None, prior: float) -> float:
    if spread is None:
        return prior
    return float(np.clip(spread, MIN_SCALE_SHARE * prior, MAX_SCALE_SHARE * prior))


def low_scale(spread: Spread) -> float:
    """A low plausible value of a scale: its ``LOW_QUANTILE`` quantile if its estimate were a
    chi-square draw on its degrees of freedom. The funnel is where the scale is small, and where
    few levels (or noisy ones) inform it the posterior reaches far below the estimate."""
    if spread.df <= 0:
        return spread.scale * MIN_SCALE_SHARE
    share = np.sqrt(stats.chi2.ppf(LOW_QUANTILE, spread.df) / spread.df)
    return float(spread.scale * max(share, MIN_SCALE_SHARE))


def _summary(exponents: np.ndarray, how: float | str) -> float:
    """One exponent for levels that share a scale: their mean, or a low quantile of them."""
    return float(np.mean(exponents) if how == "mean" else np.quantile(exponents, how))


def choose_forms(
    design: Design,
    priors: dict[str, float],
    scales: dict[str, Spread] | None = None,
    level_summary: float | str = LEVEL_SUMMARY,
    product_information_of: str = PRODUCT_INFORMATION_OF,
    split: set[str] | None = None,
) -> dict:
    """The centering exponent of every part: per product, per attribute (a vector, one per
    contrast, for the attributes in ``split``; default: where ``SPLIT_BELOW`` and ``SPLIT_ABOVE``
    say), per pooled component, at the low plausible value (``low_scale``) of ``scales`` (default:
    ``pilot_scales``; pass the prior scales to compute the exponents from the rows alone)."""
    spreads = pilot_scales(design, priors) if scales is None else scales
    scales = {part: low_scale(spread) for part, spread in spreads.items()}
    info = product_information(design, priors)
    tau_product = scales["product"]
    # A level's effect is informed by its products' levels, each as precise as its rows and the
    # spread of products around their groups allow.
    through_products = info / (1.0 + tau_product**2 * info)
    forms: dict = {"groups": {}}
    group_mean_var = np.full(len(design.products), 1.0 / max(through_products.sum(), 1e-12))  # intercept
    for attr, idx in design.level_idx.items():
        level_info = np.bincount(idx, weights=through_products, minlength=len(design.levels[attr]))
        tau = scales[f"groups:{attr}"]
        one = _summary(_exponent(tau**2 * level_info), level_summary)
        per = contrast_exponents(effect_basis(design, priors, attr), level_info, tau)
        apart = per.size > 0 and one < SPLIT_BELOW and per.max() >= SPLIT_ABOVE
        forms["groups"][attr] = per if (apart if split is None else attr in split) else one
        group_mean_var += (1.0 / (1.0 / tau**2 + level_info))[idx]
    if product_information_of == "deviation":
        # A product's deviation from its groups' mean, known as well as its rows and that mean allow.
        info = np.where(info > 0, 1.0 / (1.0 / np.maximum(info, 1e-12) + group_mean_var), 0.0)
    forms["product"] = _exponent(tau_product**2 * info)
    for part, (_, part_info) in _component_steps(design, priors).items():
        forms[part] = _summary(_exponent(scales[part] ** 2 * part_info), level_summary)
    shocks = {k: spreads[k] for k in ("shock", "shock_group") if k in spreads}
    forms["shocks"] = shock_exponents(design, priors, shocks if len(shocks) == 2 else None)
    return forms


def prior_scales(design: Design, priors: dict[str, float]) -> dict[str, Spread]:
    """The prior scale of every part, on as many degrees of freedom as it has levels (the
    exponents the rows alone give, without the pre-fit)."""
    scales = {
        f"groups:{a}": Spread(priors["group_sigma"], len(design.levels[a]) - 1) for a in design.level_idx
    }
    scales["product"] = Spread(priors["product_sigma"], len(design.products) - 1)
    return (
        scales
        | {
            part: Spread(priors[f"{name}_group_sigma"], design.n_pool - 1)
            for part, name in COMPONENTS.items()
        }
        | {
            "shock": Spread(priors["shock_sigma"], design.n_train - 1),
            "shock_group": Spread(
                priors["shock_group_sigma"], (design.n_train - 1) * max(design.n_pool - 1, 1)
            ),
        }
    )


def split_attributes(groups) -> set[str]:
    """The attributes whose effects are written on contrasts per level: those with a vector of
    exponents in ``groups`` (the attributes' forms: ``choose_forms(...)["groups"]``)."""
    return {a for a, f in groups.items() if np.ndim(f) == 1} if isinstance(groups, dict) else set()


def exponent_at(
    design: Design,
    priors: dict[str, float],
    spreads: dict[str, Spread],
    part: str,
    scale: float,
    split: set[str] | None = None,
) -> float | np.ndarray:
    """``part``'s centering exponent were its scale ``scale`` (say, the posterior median a first
    attempt found), the other parts' spreads as ``spreads`` (``pilot_scales``). The attributes the
    model writes on contrasts per level (``split``; default: those ``choose_forms`` gives at
    ``spreads``) stay so: the model's structure is fixed."""
    if split is None:
        split = split_attributes(choose_forms(design, priors, scales=spreads)["groups"])
    forms = choose_forms(design, priors, scales={**spreads, part: Spread(scale, SURE_DF)}, split=split)
    return forms["groups"][part.split(":", 1)[1]] if part.startswith("groups:") else forms[part]
