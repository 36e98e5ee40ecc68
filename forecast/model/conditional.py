"""Each product's level drawn given the top of the hierarchy: exact, vectorised over products.

With everything above the product level fixed at one posterior draw (the intercept, the group
effects and scales, each pooling group's seasonality, events, trend, price elasticity and promotion
lift, the dispersion), the default model's posterior factorises over products, and each product's
factor is one-dimensional: its level ``alpha``, with prior ``Normal(group mean, sigma_product)``
and its rows' negative binomial (or zero-inflated) likelihood, censored rows as lower bounds on
demand (``forecast.model.likelihood``). A one-dimensional density needs no Markov chain: per product
and draw of the top, ``_product_levels`` finds the mode by Newton's method on the product's rows
(in cache), lays a grid of ``GRID`` points over ``RANGE`` Laplace standard deviations either side
(moved and widened until both ends lie ``TAIL`` below the peak in log density, so no mass is left
outside), evaluates the exact log density there, and draws by the inverse CDF of the density that
is log-linear between grid points. The only error is that interpolation's, measured against fine
quadrature in the tests (``tests/forecast/model/test_conditional.py``).

This is stage 2 of the large-catalog path: given each of a set of the top's draws (stage 1's
posterior), every product's level is drawn ``per_draw`` times, so both the top's and the product's
uncertainty reach the forecast. The cost per draw of the top is a few dozen passes over the rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from forecast.contract.paths import SamplePaths
from forecast.model.effects import effects_table, shrinkage
from forecast.model.likelihood import nb_log_survival, rows_data
from forecast.model.predict import zero_discontinued
from forecast.model.vecmath import FASTMATH, softplus_sigmoid

GRID = 33  # grid points per product and draw
RANGE = 7.0  # the grid spans the mode +- RANGE Laplace standard deviations
TAIL = 20.0  # the grid's ends must lie this far below the peak (log density): e^-20 of it
NEWTON_STEPS = 40


@dataclass(frozen=True)
class TopDraws:
    """``D`` draws of the top of the hierarchy, as each product reads them.

    Per draw: ``group_mean`` (products), the product's prior mean (intercept plus its groups'
    effects); ``sigma_product``; ``season`` (season rows x history periods, the seasonality and
    events of each pooling group); per product ``trend``, ``elasticity``, ``promo``, ``log_alpha``
    (the dispersion) and ``zero`` (the logit of a structural zero; ``None`` for the negative
    binomial). With shared demand shocks (``forecast.model.builder._shared_shocks``), ``season``
    holds each group's shocks over the history too. ``future_offset`` (D, paths per draw, groups,
    horizon periods) is what each sample path adds to its groups' log mean over the horizon: the
    shocks' continuation, and the effects of event columns the history never saw
    (``forecast.model.builder._unseen_events``), drawn once for the catalog so that path ``i`` of
    every shard carries the same (``None`` without either).
    """

    group_mean: np.ndarray  # (D, P)
    sigma_product: np.ndarray  # (D,)
    season: np.ndarray  # (D, season rows, periods)
    trend: np.ndarray  # (D, P)
    elasticity: np.ndarray  # (D, P)
    promo: np.ndarray  # (D, P)
    log_alpha: np.ndarray  # (D, P)
    zero: np.ndarray | None = None  # (D, P)
    future_offset: np.ndarray | None = None  # (D, paths per draw, groups, horizon)

    @property
    def n_draws(self) -> int:
        return len(self.sigma_product)

    def subset(self, design, positions: np.ndarray) -> TopDraws:
        """The draws as the products at ``positions`` of ``design`` read them, for their subset
        design (``forecast.prep.design.subset_design``: its pooling groups are those its products
        use, in order)."""
        keep = np.unique(np.asarray(positions, dtype=np.int64))
        groups = np.unique(design.pool_idx[keep])

        def cut(x):
            return None if x is None else x[:, keep]

        return TopDraws(
            group_mean=cut(self.group_mean),
            sigma_product=self.sigma_product,
            season=self.season[:, groups],
            trend=cut(self.trend),
            elasticity=cut(self.elasticity),
            promo=cut(self.promo),
            log_alpha=cut(self.log_alpha),
            zero=cut(self.zero),
            future_offset=None if self.future_offset is None else self.future_offset[:, :, groups],
        )


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)
def _row_terms(x, r, ys, cens, la, a, zinb, z, want_grad):
    """The rows' log-likelihood at level ``x`` (less terms free of ``x``), with ``r`` the rest of
    each row's log mean; with ``want_grad``, also its first derivative and (an approximation of
    ``-``) the second: the uncensored negative binomial's curvature at every row."""
    total = g = h = 0.0
    if not zinb and len(cens) == 0:  # the common case, a loop LLVM vectorizes (no branches)
        base = x - la
        if want_grad:
            for j in range(len(ys)):
                yi = ys[j]
                sp, sg = softplus_sigmoid(base + r[j])
                total += yi * (base + r[j]) - (yi + a) * sp
                g += yi - (yi + a) * sg
                h += (yi + a) * sg * (1.0 - sg)
        else:
            for j in range(len(ys)):
                yi = ys[j]
                sp, _ = softplus_sigmoid(base + r[j])
                total += yi * (base + r[j]) - (yi + a) * sp
        return total, g, h
    log_pi = log_1m = 0.0
    if zinb:
        sp_z, _ = softplus_sigmoid(z)
        log_pi, log_1m = z - sp_z, -sp_z
    has_cens = len(cens) > 0
    for j in range(len(ys)):
        yi = ys[j]
        d = x + r[j] - la
        if has_cens and cens[j] > 0.0:
            if yi <= 0.0:  # at least zero: no information
                continue
            ls, de, _ = nb_log_survival(d, a, int(yi))
            total += ls + log_1m
            if want_grad:
                _, sg = softplus_sigmoid(d)
                g += de
                h += (yi + a) * sg * (1.0 - sg)
            continue
        sp, sg = softplus_sigmoid(d)
        nb = yi * d - (yi + a) * sp
        if zinb:
            if yi == 0.0:
                sp_t, w = softplus_sigmoid(log_1m + nb - log_pi)
                total += log_pi + sp_t
                if want_grad:
                    g += w * (yi - (yi + a) * sg)
                    h += w * (yi + a) * sg * (1.0 - sg)
                continue
            total += log_1m + nb
        else:
            total += nb
        if want_grad:
            g += yi - (yi + a) * sg
            h += (yi + a) * sg * (1.0 - sg)
    return total, g, h


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)
def _draw_from_grid(xs, lp, u, out):
    """Inverse-CDF draws (one per ``u``) from the density that is log-linear between grid points
    ``xs`` with log densities ``lp`` (any constant), zero outside them."""
    k = len(xs)
    top = lp[0]
    for i in range(1, k):
        top = max(top, lp[i])
    mass = np.empty(k - 1)
    total = 0.0
    for i in range(k - 1):
        w = xs[i + 1] - xs[i]
        l0, l1 = lp[i] - top, lp[i + 1] - top
        diff = l1 - l0
        if abs(diff) < 1e-10:
            m = w * math.exp(l0)
        else:
            m = w * (math.exp(l1) - math.exp(l0)) / diff
        mass[i] = m
        total += m
    for n in range(len(u)):
        target = u[n] * total
        i = 0
        while i < k - 2 and target > mass[i]:
            target -= mass[i]
            i += 1
        w = xs[i + 1] - xs[i]
        l0 = lp[i] - top
        slope = (lp[i + 1] - lp[i]) / w
        e0 = math.exp(l0)
        if abs(slope * w) < 1e-10:
            step = target / e0
        else:
            step = math.log1p(slope * target / e0) / slope
        out[n] = xs[i] + min(max(step, 0.0), w)


@numba.njit(cache=True, parallel=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)
def _product_levels(
    group_mean,
    sigma,
    season,
    trend,
    elasticity,
    promo,
    log_alpha,
    zero,
    starts,
    season_row,
    t_idx,
    years,
    lp,
    pr,
    y,
    censored,
    zinb,
    u,
    grid,
    width,
    tail,
    out,
    widened,
    refined,
):
    """Per product with history rows and per draw of the top: the level's mode by Newton's method,
    then ``grid`` points over ``width`` Laplace sds either side (recentred on the peak and widened
    until both ends are ``tail`` below it), then ``u.shape[1]`` inverse-CDF draws into ``out[draw,
    :, product]``. ``widened[draw, product]`` counts the times a grid was widened."""
    n_draws, n_products = group_mean.shape
    has_cens = len(censored) > 0
    for p in numba.prange(n_products):
        s, m = starts[p], starts[p + 1] - starts[p]
        if m == 0:
            continue
        r = np.empty(m)
        xs = np.empty(grid)
        lps = np.empty(grid)
        ends = np.empty(2)
        ys = y[s : s + m]
        cens = censored[:0]
        if has_cens:
            for j in range(m):
                if censored[s + j] > 0.0:
                    cens = censored[s : s + m]
                    break
        sum_y = 0.0
        for j in range(m):
            sum_y += ys[j]
        for i in range(n_draws):
            b, e, c = trend[i, p], elasticity[i, p], promo[i, p]
            row0 = season_row[p]
            sum_mu = 0.0
            for j in range(m):
                t = t_idx[s + j]
                r[j] = season[i, row0, t] + b * years[t] + e * lp[s + j] + c * pr[s + j]
                sum_mu += math.exp(min(r[j], 700.0))
            la = log_alpha[i, p]
            a = math.exp(la)
            z = zero[i, p] if zinb else 0.0
            mu0, sd0 = group_mean[i, p], sigma[i]
            prec0 = 1.0 / (sd0 * sd0)
            # start: the Poisson estimate log(sum y / sum exp(r)) shrunk to the prior mean
            n_info = sum_y + 0.5
            x = (n_info * math.log((sum_y + 0.5) / max(sum_mu, 1e-300)) + prec0 * mu0) / (n_info + prec0)
            curv = prec0
            for _ in range(NEWTON_STEPS):
                _, g, h = _row_terms(x, r, ys, cens, la, a, zinb, z, True)
                g -= (x - mu0) * prec0
                curv = h + prec0
                step = g / curv
                step = min(max(step, -1.0), 1.0)
                x += step
                if abs(step) < 1e-6 / math.sqrt(curv):
                    break
            # the bracket: from ``width`` Laplace sds either side of the mode, each end moved out
            # along its tangent until it lies ``tail`` below the mode in log density (for a
            # log-concave density one move is enough: it falls at least as fast as its tangent)
            ll, _, _ = _row_terms(x, r, ys, cens, la, a, zinb, z, False)
            peak = ll - 0.5 * (x - mu0) ** 2 * prec0
            for side in range(2):
                sign = -1.0 if side == 0 else 1.0
                at = x + sign * width / math.sqrt(curv)
                for _ in range(12):
                    ll, g, _ = _row_terms(at, r, ys, cens, la, a, zinb, z, True)
                    drop = ll - 0.5 * (at - mu0) ** 2 * prec0 - peak
                    if drop < -tail:
                        break
                    widened[i, p] += 1
                    slope = -sign * (g - (at - mu0) * prec0)  # how fast it falls outwards
                    reach = (tail + drop) / slope if slope > 0.0 else abs(at - x)
                    at += sign * min(max(1.05 * reach, 0.1 / math.sqrt(curv)), 4.0 * abs(at - x))
                ends[side] = at
            for again in range(2):
                for k in range(grid):
                    xs[k] = ends[0] + (ends[1] - ends[0]) * (k / (grid - 1.0))
                    ll, _, _ = _row_terms(xs[k], r, ys, cens, la, a, zinb, z, False)
                    lps[k] = ll - 0.5 * (xs[k] - mu0) ** 2 * prec0
                # where an end overshot (a third of the points beyond the tail), lay the grid
                # again over the points within it and their outer neighbours
                best = lps.max()
                first, last = 0, grid - 1
                while lps[first + 1] < best - tail:
                    first += 1
                while lps[last - 1] < best - tail:
                    last -= 1
                if again == 1 or 3 * (last - first) > 2 * (grid - 1):
                    break
                ends[0], ends[1] = xs[first], xs[last]
                refined[i, p] += 1
            _draw_from_grid(xs, lps, u[i, :, p], out[i, :, p])


def row_arrays(design, censor: bool = True) -> dict[str, np.ndarray]:
    """The history rows as the sampler reads them (``forecast.model.likelihood.rows_data``: by
    product, then period), each product reading its pooling group's seasonal row; with ``censor``,
    stock-out rows as lower bounds (the ``stockouts`` option's ``censored``)."""
    rows = design.train
    return rows_data(
        rows.product_idx,
        rows.time_idx,
        rows.log_price,
        rows.promo,
        rows.y,
        design.pool_idx,
        design.years,
        rows.censored if censor else None,
    )


def sample_levels(
    data: dict[str, np.ndarray],
    top: TopDraws,
    per_draw: int,
    seed: int,
    grid: int = GRID,
    width: float = RANGE,
) -> tuple[np.ndarray, dict[str, int]]:
    """Every product's level, ``per_draw`` times for each draw of the top: ``(D, per_draw, P)``.

    ``data``: the history rows (``row_arrays``). A product without history rows is drawn from its
    prior. Also returns how many (draw, product) grids had to be widened past the first (a grid
    too narrow is found and widened, never used)."""
    zinb = top.zero is not None
    n_draws, n_products = top.group_mean.shape
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(n_draws, per_draw, n_products))
    out = top.group_mean[:, None, :] + top.sigma_product[:, None, None] * rng.standard_normal(
        (n_draws, per_draw, n_products)
    )  # the prior: kept for products without rows, overwritten for the others
    widened = np.zeros((n_draws, n_products), dtype=np.int64)
    refined = np.zeros((n_draws, n_products), dtype=np.int64)
    f64 = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
    _product_levels(
        f64(top.group_mean),
        f64(top.sigma_product),
        f64(top.season),
        f64(top.trend),
        f64(top.elasticity),
        f64(top.promo),
        f64(top.log_alpha),
        f64(top.zero if zinb else np.zeros((n_draws, n_products))),
        data["starts"],
        data["season_row"],
        data["time_idx"],
        data["years"],
        data["log_price"],
        data["promo"],
        data["y"],
        data["censored"],
        zinb,
        u,
        int(grid),
        float(width),
        TAIL,
        out,
        widened,
        refined,
    )
    return out, {"widened": int(np.count_nonzero(widened)), "refined": int(np.count_nonzero(refined))}


# Options whose parts are per product or per row (not the top of the hierarchy): the conditional
# sampler draws only the product's level, so a run with any of them fits its shards with NUTS.
NOT_CONDITIONAL = ("product_effects", "launch_ramp", "level_drift")


def _per_sample(post, name: str) -> np.ndarray:
    """A variable's values with the draws first (``post`` stacked to one ``sample`` dimension)."""
    var = post[name]
    return var.transpose("sample", ...).to_numpy()


def _by_level(post, name: str, dim: str, levels, fill) -> np.ndarray:
    """``name``'s values per draw for each of ``levels`` (the design's keys of dimension ``dim``),
    from the posterior's own levels by key; levels the posterior lacks get ``fill(missing)``, an
    array (draws, missing, ...) of draws from their prior."""
    var = post[name].transpose("sample", dim, ...)
    known = pd.Index(var[dim].to_numpy())
    at = known.get_indexer(pd.Index(levels))
    values = var.to_numpy()
    out = np.empty((values.shape[0], len(levels), *values.shape[2:]))
    out[:, at >= 0] = values[:, at[at >= 0]]
    if np.any(at < 0):
        out[:, at < 0] = fill(int(np.sum(at < 0)))
    return out


def paths_per_draw(sample_paths: int, n_draws: int) -> int:
    """How many levels (and sample paths) each draw of the top gets: ``sample_paths`` in all."""
    return -(-sample_paths // n_draws)


def _future_shocks(
    post, last: np.ndarray, horizon: int, rng: np.random.Generator, per_draw: int
) -> np.ndarray:
    """Each path's shocks over the horizon (draws, ``per_draw``, groups, periods): per draw of the
    posterior, the AR(1)s go on from ``last`` (draws, groups: the last history period's shocks)
    with fresh innovations, the catalog's plus each group's own (summing to zero over the groups),
    as the horizon model draws them (``forecast.model.builder._shared_shocks``)."""
    n, groups = last.shape
    phi = _per_sample(post, "shock_phi")[:, None, None]
    sigma = _per_sample(post, "shock_sigma")[:, None, None]
    own_sigma = _per_sample(post, "shock_group_sigma")[:, None, None] if "shock_group_sigma" in post else 0.0
    x = np.repeat(last[:, None, :], per_draw, axis=1)
    out = np.empty((n, per_draw, groups, horizon))
    for h in range(horizon):
        own = rng.standard_normal(x.shape)
        own -= own.mean(axis=2, keepdims=True)  # ZeroSumNormal over the groups
        x = phi * x + sigma * rng.standard_normal((n, per_draw, 1)) + own_sigma * own
        out[..., h] = x
    return out


def _unseen_events(
    coef: np.ndarray, columns: np.ndarray, groups: int, rng: np.random.Generator, per_draw: int
) -> np.ndarray:
    """Each path's effects of the event columns the history never saw, over the horizon (draws,
    ``per_draw``, groups, periods), as the horizon model draws them
    (``forecast.model.builder._unseen_events``): per column ``tau * z`` for every group plus a
    group's own ``tau_g * z_g``, ``tau`` and ``tau_g`` the root mean squares of the seen columns'
    effects ``coef`` (draws, the posterior's groups, columns) averaged over the groups and of the
    groups' deviations from that average. ``columns``: the unseen columns over the horizon."""
    n = coef.shape[0]
    common = coef.mean(axis=1)
    tau = np.sqrt(np.mean(common**2, axis=1))[:, None, None, None]
    effect = tau * rng.standard_normal((n, per_draw, 1, columns.shape[1]))
    if groups > 1:
        own = np.sqrt(np.mean((coef - common[:, None]) ** 2, axis=(1, 2)))[:, None, None, None]
        effect = effect + own * rng.standard_normal((n, per_draw, groups, columns.shape[1]))
    else:
        effect = np.broadcast_to(effect, (n, per_draw, groups, columns.shape[1]))
    return effect @ columns.T


def top_draws(
    post, design, rng: np.random.Generator, likelihood: str = "negbin", per_draw: int = 1
) -> TopDraws:
    """The top of the hierarchy, per draw of ``post`` (a posterior stacked to ``sample``, e.g. stage
    1's, fitted on a sample of the catalog), as every product of ``design`` reads it.

    Levels of an attribute or pooling groups the posterior does not hold (no product of theirs was
    in the sample) are drawn from their prior given the draw: an effect ``sigma_<attr> * N(0, 1)``,
    a pooled coefficient ``<name>_mu + <name>_sigma * N(0, 1)``, as the sharded model writes them.
    With shared shocks or unseen event columns, ``per_draw`` paths' horizon offsets per draw (``TopDraws``)."""
    n = post.sizes["sample"]
    scalar = {k: _per_sample(post, k) for k in ("intercept", "sigma_product", "log_alpha")}
    group_mean = np.repeat(scalar["intercept"][:, None], len(design.products), axis=1)
    for attr, levels in design.levels.items():
        if f"sigma_{attr}" in post:
            sd = _per_sample(post, f"sigma_{attr}")
            fill = lambda k, sd=sd: sd[:, None] * rng.standard_normal((n, k))  # noqa: E731
        else:  # one level (or one per parent): its effect is zero
            fill = lambda k: np.zeros((n, k))  # noqa: E731
        group_mean += _by_level(post, f"effect_{attr}", attr, levels, fill)[:, design.level_idx[attr]]
    pool_dim = design.pool or "pool"
    pools = design.levels[design.pool] if design.pool is not None else pd.Index(["all"])

    def pooled(name: str) -> np.ndarray:
        if name not in post:
            return None
        mu, sd = _per_sample(post, f"{name}_mu"), _per_sample(post, f"{name}_sigma")

        def fill(k):
            shape = (n, k, *mu.shape[1:])
            return mu[:, None] + sd.reshape(n, *([1] * (len(shape) - 1))) * rng.standard_normal(shape)

        if f"{name}_sigma" not in post:  # one group: its coefficient is the shared mean
            return _by_level(post, name, pool_dim, pools, lambda k: np.repeat(mu[:, None], k, axis=1))
        return _by_level(post, name, pool_dim, pools, fill)

    season = np.zeros((n, len(pools), len(design.dates)))
    if (coef := pooled("season")) is not None:  # (draws, groups, terms)
        terms = list(post["season"]["fourier"].to_numpy())
        if terms != list(design.fourier_names):
            raise ValueError("the posterior's seasonal terms are not the design's")
        season += coef @ design.fourier.T
    if (coef := pooled("event")) is not None:
        if list(post["event"]["events"].to_numpy()) != list(design.event_names):
            raise ValueError("the posterior's event columns are not the design's")
        season += coef @ design.events.T
    future = []  # each path's own horizon offsets
    if "shock" in post:  # the history's shocks join the season; the horizon's are drawn per path
        mean = lambda k: np.repeat(  # noqa: E731  groups the sample lacks: the catalog's shock
            post["shock"].mean(pool_dim).transpose("sample", ...).to_numpy()[:, None], k, axis=1
        )
        history = _by_level(post, "shock", pool_dim, pools, mean)  # (draws, groups, periods)
        season[:, :, : design.n_train] += history
        future.append(_future_shocks(post, history[:, :, -1], len(design.future_dates), rng, per_draw))
    if design.unseen_event_names and "event" in post:
        coef = post["event"].transpose("sample", pool_dim, "events").to_numpy()
        future.append(_unseen_events(coef, design.unseen_events[design.n_train :], len(pools), rng, per_draw))
    pool_idx = design.pool_idx
    per_product = {}
    for name in ("trend", "elasticity", "promo"):
        per_product[name] = pooled(name)[:, pool_idx]
    zero = None
    if likelihood == "zinb":
        zero = pooled("logit_zero")[:, pool_idx]
    return TopDraws(
        group_mean=group_mean,
        sigma_product=scalar["sigma_product"],
        season=season,
        log_alpha=np.repeat(scalar["log_alpha"][:, None], len(design.products), axis=1),
        zero=zero,
        future_offset=sum(future) if future else None,
        **per_product,
    )


def horizon_log_mean(design, top: TopDraws, draw: int, levels: np.ndarray) -> np.ndarray:
    """The log mean of every horizon cell, ``(len(levels), products, periods)``, for the top's draw
    ``draw`` and the product levels ``levels`` (``(n, products)``): the horizon model's
    (``build_model(..., predict=True)``) log mean, computed directly."""
    rows = design.future
    n_products, horizon = len(design.products), len(design.future_dates)
    p, t = rows.product_idx, rows.time_idx
    rest = (
        top.season[draw, design.pool_idx[p], t]
        + top.trend[draw, p] * design.years[t]
        + top.elasticity[draw, p] * rows.log_price
        + top.promo[draw, p] * rows.promo
    ).reshape(n_products, horizon)  # horizon rows are product-major (forecast.prep.design)
    out = levels[:, :, None] + rest[None]
    if top.future_offset is not None:  # each path's own shocks and unseen events, shared by its products
        out = out + top.future_offset[draw][: len(levels)][:, design.pool_idx, :]
    return out


def horizon_paths(design, top: TopDraws, levels: np.ndarray, seed: int) -> SamplePaths:
    """Sample paths over the horizon from ``levels`` (``sample_levels``: draws of the top x draws of
    the levels x products): path ``d * per_draw + s`` reads the top's draw ``d`` and its ``s``-th
    levels, and every product of a path the same draw of the top, so sums across products are
    draws of the total. Demand is negative binomial (zero-inflated where ``top.zero`` is given), 0
    where the product is off sale (``forecast.model.predict.zero_discontinued``)."""
    n_draws, per_draw, n_products = levels.shape
    rng = np.random.default_rng(seed)
    values = np.empty((n_draws * per_draw, n_products, len(design.future_dates)), dtype=np.int64)
    for d in range(n_draws):
        mu = np.exp(np.minimum(horizon_log_mean(design, top, d, levels[d]), 700.0))
        a = np.exp(top.log_alpha[d])[None, :, None]
        counts = rng.poisson(rng.gamma(a, mu / a))
        if top.zero is not None:  # a structural zero with probability sigmoid(logit_zero)
            zero = rng.uniform(size=counts.shape) < 1.0 / (1.0 + np.exp(-top.zero[d]))[None, :, None]
            counts = np.where(zero, 0, counts)
        values[d * per_draw : (d + 1) * per_draw] = counts
    values = zero_discontinued(values, design.off_sale)
    return SamplePaths(values=values, products=design.products.to_numpy(), dates=design.future_dates)


def level_tables(design, top: TopDraws, levels: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The products' tables from their levels' draws (``sample_levels``): ``product_effects``
    (``forecast.model.effects``: pooled level, groups' mean, no-pooling estimate, shrinkage, at the
    draws' means) and ``fit_diagnostics`` rows ``alpha_product[<product>]`` (mean, sd, 90% HDI;
    R-hat and ESS are left empty: the draws are independent given the top, there are no chains)."""
    flat = levels.reshape(-1, levels.shape[-1])
    pooled, pooled_sd = flat.mean(axis=0), flat.std(axis=0)
    rows = design.train
    p, t = rows.product_idx, rows.time_idx
    rest = (
        top.season.mean(axis=0)[design.pool_idx[p], t]
        + top.trend.mean(axis=0)[p] * design.years[t]
        + top.elasticity.mean(axis=0)[p] * rows.log_price
        + top.promo.mean(axis=0)[p] * rows.promo
    )
    shrink = shrinkage(
        float(top.sigma_product.mean()),
        pooled[p] + rest,
        top.log_alpha.mean(axis=0),
        p,
        len(design.products),
    )
    effects = effects_table(design, pooled, pooled_sd, top.group_mean.mean(axis=0), rest, shrink)
    n = len(flat)
    k = max(1, int(np.ceil(0.9 * n)))
    ordered = np.sort(flat, axis=0)
    widths = ordered[k - 1 :] - ordered[: n - k + 1]
    lo = np.argmin(widths, axis=0)
    cols = np.arange(flat.shape[1])
    names = np.char.add(np.char.add("alpha_product[", design.products.to_numpy().astype(str)), "]")
    parameters = pd.DataFrame(
        {
            "parameter": names,
            "mean": pooled,
            "sd": pooled_sd,
            "hdi_05": ordered[lo, cols],
            "hdi_95": ordered[lo + k - 1, cols],
            "mcse_mean": np.nan,
            "ess_bulk": np.nan,
            "ess_tail": np.nan,
            "r_hat": np.nan,
            "variable": "alpha_product",
            "hyperparameter": False,
            "role": "product",
        }
    )
    return effects, parameters
