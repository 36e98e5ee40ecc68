"""The observation likelihood, fused: one op gives the rows' log-density and its gradient.

Per row i (product p, period t, pooling group g = pool[p]):

    eta_i = alpha[p] + season[g, t] + trend[g] years_t + elasticity[g] log_price_i + promo[g] promo_i

and the negative binomial (or zero-inflated negative binomial) log-density of the count y_i. This
is most of the model's gradient. Built from PyTensor ops it is five gathers, their five
scatter-adds and an element-wise likelihood whose ``exp`` and ``log1p`` calls (the C library's,
10-20 ns a row each) do not vectorize. ``RowsLogLik`` runs in numba instead, over the rows grouped by
product (``rows_data``): per product, its group's coefficients are read once, the rows' log means
go into a buffer that stays in L1 cache, the density and its derivative in eta are computed
vectorized (``forecast.model.vecmath``), and the derivative's sums go into the product's and its group's
gradients once per product. A row carries only its period, log price, promotion and count. The
gradient is read off further outputs of the same node, so a sampler's logp + gradient runs the
kernel once. Measured in ``benchmarks/gradient.py``.

The count constant (the ``lgamma`` terms, which do not depend on eta) is summed over the distinct
values of y, not every row, by a second small op, ``CountConstant``, with its own digamma: PyTensor's
calls SciPy through a function pointer, and one such call keeps numba from caching the compiled
model, so every process would compile it again (``benchmarks/compile.py``).

``negbin_loglik`` and ``zinb_loglik`` are the same densities as plain PyTensor expressions of eta:
the reference the fused op is tested against.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numba
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import grad_undefined
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key
from scipy.special import gammaln

import forecast.model.vecmath
from forecast.model.vecmath import FASTMATH, softplus_sigmoid

FAMILIES = ("negbin", "zinb")
# alpha, season (flat), trend, elasticity, promo, log_alpha (per product), zero (per product), offset
# (per row, or none)
N_EFFECTS = 8
# The data inputs of the op, in its order (``rows_data``'s keys).
ROW_FIELDS = ("starts", "season_row", "time_idx", "years", "log_price", "promo", "y", "censored")
# PyTensor's numba cache keys an op's compiled code by the op's class and props alone, so a kernel
# changed by an upgrade or an edit would load the old code: the kernels' source goes into the key.
KERNEL_VERSION = zlib.crc32(
    Path(forecast.model.vecmath.__file__).read_bytes(), zlib.crc32(Path(__file__).read_bytes())
)
# A censored row's survival is summed from the head of the distribution while that stays below
# this probability; past it, from the tail (no cancellation in 1 - head).
_HEAD_MAX = 0.9


@numba.njit(cache=True, error_model="numpy")
def _log_pmf_terms(k, a, log_q, log_1mq, lgamma_a):
    """log P(Y = k) for the negative binomial of dispersion ``a`` and mean ``a q / (1 - q)``."""
    return math.lgamma(k + a) - lgamma_a - math.lgamma(k + 1.0) + a * log_1mq + k * log_q


@numba.njit(cache=True, error_model="numpy")
def nb_log_survival(d, a, y):
    """log P(Y >= y) for y >= 1, and its derivatives in eta and in log a, for the negative binomial
    with log mean ``eta = d + log a`` and dispersion ``a``: a stock-out period's sales are a lower
    bound on its demand (censored).

    Per term, d log p(k) / d eta = k - (k + a) q and d log p(k) / d log a = a (H_k - softplus(d) + 1)
    - (k + a)(1 - q), with q = sigmoid(d) and H_k = psi(k + a) - psi(a) = sum_{j<k} 1 / (a + j).
    The head ``1 - sum_{k<y} p(k)`` while the head's sum stays under ``_HEAD_MAX``, else the tail
    ``sum_{k>=y} p(k)`` until its terms no longer count; terms scaled by the largest (log space),
    so neither underflows.
    """
    sp = max(d, 0.0) + math.log1p(math.exp(-abs(d)))
    log_q, log_1mq = d - sp, -sp
    q = math.exp(log_q)
    lgamma_a = math.lgamma(a)
    # the head: the largest log term first (the pmf is unimodal: its mode or an end)
    mode = max(0.0, math.floor((a - 1.0) * math.exp(min(d, 700.0))))  # q / (1 - q) = exp(d)
    top = _log_pmf_terms(min(mode, y - 1.0), a, log_q, log_1mq, lgamma_a)
    s = s_eta = s_la = 0.0
    h = 0.0
    for k in range(y):
        w = math.exp(_log_pmf_terms(k, a, log_q, log_1mq, lgamma_a) - top)
        s += w
        s_eta += w * (k - (k + a) * q)
        s_la += w * (a * (h - sp + 1.0) - (k + a) * (1.0 - q))
        h += 1.0 / (a + k)
    head = s * math.exp(top)
    if head < _HEAD_MAX:
        scale = math.exp(top) / (1.0 - head)
        return math.log1p(-head), -s_eta * scale, -s_la * scale
    # the tail, from y on, until a term is below 1e-17 of the sum past the mode
    top = _log_pmf_terms(max(mode, float(y)), a, log_q, log_1mq, lgamma_a)
    s = s_eta = s_la = 0.0
    k = y
    while True:
        w = math.exp(_log_pmf_terms(k, a, log_q, log_1mq, lgamma_a) - top)
        s += w
        s_eta += w * (k - (k + a) * q)
        s_la += w * (a * (h - sp + 1.0) - (k + a) * (1.0 - q))
        h += 1.0 / (a + k)
        k += 1
        if (k > mode and w < 1e-17 * s) or k > y + 10_000_000:
            break
    return math.log(s) + top, s_eta / s, s_la / s


@numba.njit(cache=True, error_model="numpy")
def _censored_product(d, ys, cens, a, la, zinb, z):
    """One product's rows when some are censored: per row the density (``y`` observed) or the
    survival (``y`` a lower bound), scalar code. ``d`` holds eta - log a and gets each row's
    derivative in eta. Returns the log-likelihood and its derivatives in log a and in the logit of
    a structural zero."""
    total = g_la = gz = 0.0
    log_pi = log_1m = pi = 0.0
    if zinb:
        sp_z, pi = softplus_sigmoid(z)
        log_pi, log_1m = z - sp_z, -sp_z
    for j in range(len(ys)):
        yi = ys[j]
        if cens[j] > 0.0:
            if yi <= 0.0:  # demand of at least zero: no information
                d[j] = 0.0
                continue
            ls, de, dla = nb_log_survival(d[j], a, int(yi))
            total += ls + (log_1m if zinb else 0.0)
            g_la += dla
            gz -= pi
            d[j] = de
            continue
        sp, sg = softplus_sigmoid(d[j])
        nb = yi * d[j] - (yi + a) * sp
        de = yi - (yi + a) * sg
        if zinb:
            sp_t, w = softplus_sigmoid(log_1m + nb - log_pi)
            zero_count = yi == 0.0
            w = w if zero_count else 1.0
            total += (log_pi + sp_t) if zero_count else (log_1m + nb)
            g_la += w * (-de - a * sp)
            gz += 1.0 - w - pi
            de *= w
        else:
            total += nb
            g_la += -de - a * sp
        d[j] = de
    return total, g_la, gz


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)
def _rows_loglik(
    alpha,
    season,
    trend,
    elasticity,
    promo,
    log_alpha,
    zero,
    offset,
    starts,
    season_row,
    t_idx,
    years,
    lp,
    pr,
    y,
    censored,
    zinb,
):
    """Sum of per-row log-densities (without the count constant) and the gradient of every input.

    Rows come sorted by product: product p's rows are ``starts[p]:starts[p + 1]``, its coefficients
    (trend, elasticity, promotion, log dispersion, logit of a structural zero) ``trend[p]`` ...,
    its seasonality ``season[season_row[p] * periods:][:periods]`` (its group's row, or its own).
    ``offset`` (per row, or empty) adds to a row's log mean; ``censored`` (per row, or empty) marks
    rows whose count is a lower bound (their survival, not their density). A product's rows usually
    cover consecutive periods (the design's panel runs from its launch to the end of the
    history): then its seasonal cells and years are read as slices and its seasonal gradient added
    as one, with no gather or scatter-add per row; otherwise they are gathered into buffers first
    and scattered back after. Per product, two passes over its rows, all in L1 cache: the log mean
    (less log a); then the density and its derivative in eta, vectorized
    (``forecast.model.vecmath``), with the derivative's sums into the product's gradients. A product
    with censored rows takes a scalar path (``_censored_product``).
    """
    n_periods = len(years)
    has_offset = len(offset) > 0
    has_censored = len(censored) > 0
    longest = 0
    for p in range(len(starts) - 1):
        longest = max(longest, starts[p + 1] - starts[p])
    d = np.empty(longest)
    seas_buf = np.empty(longest)
    years_buf = np.empty(longest)
    total = 0.0
    g_alpha = np.zeros_like(alpha)
    g_season = np.zeros_like(season)
    g_trend = np.zeros_like(trend)
    g_elasticity = np.zeros_like(elasticity)
    g_promo = np.zeros_like(promo)
    g_log_alpha = np.zeros_like(log_alpha)
    g_zero = np.zeros_like(zero)
    g_offset = np.zeros_like(offset)
    for p in range(len(starts) - 1):
        s, m = starts[p], starts[p + 1] - starts[p]
        if m == 0:
            continue
        la = log_alpha[p]
        a = math.exp(la)
        base = alpha[p] - la
        b, e, c = trend[p], elasticity[p], promo[p]
        s0 = season_row[p] * n_periods
        ts, lps, prs, ys = t_idx[s : s + m], lp[s : s + m], pr[s : s + m], y[s : s + m]
        t0 = ts[0]
        consecutive = ts[m - 1] - t0 == m - 1  # sorted and distinct: then t0, t0 + 1, ...
        if consecutive:
            seas = season[s0 + t0 : s0 + t0 + m]
            yrs = years[t0 : t0 + m]
        else:
            seas, yrs = seas_buf[:m], years_buf[:m]
            for j in range(m):
                seas[j] = season[s0 + ts[j]]
                yrs[j] = years[ts[j]]
        for j in range(m):
            d[j] = base + seas[j] + b * yrs[j] + e * lps[j] + c * prs[j]
        if has_offset:
            for j in range(m):
                d[j] += offset[s + j]
        any_censored = False
        if has_censored:
            for j in range(m):
                any_censored = any_censored or censored[s + j] > 0.0
        sa = st = se = sc = g_la = 0.0
        if any_censored:
            t_p, g_la, gz = _censored_product(d[:m], ys, censored[s : s + m], a, la, zinb, zero[p])
            total += t_p
            g_zero[p] += gz
            for j in range(m):
                de = d[j]
                sa += de
                st += de * yrs[j]
                se += de * lps[j]
                sc += de * prs[j]
        elif zinb:
            # log pi, log(1 - pi) and pi, with pi = P(structural zero) of the product.
            z = zero[p]
            sp_z, pi = softplus_sigmoid(z)
            log_pi, log_1m = z - sp_z, -sp_z
            gz = 0.0
            for j in range(m):
                yi = ys[j]
                sp, sg = softplus_sigmoid(d[j])
                nb = yi * d[j] - (yi + a) * sp
                de = yi - (yi + a) * sg
                # y = 0: log(pi + (1 - pi) NB(0)); w = the share of that probability from the NB part.
                sp_t, w = softplus_sigmoid(log_1m + nb - log_pi)
                zero_count = yi == 0.0
                w = w if zero_count else 1.0
                total += (log_pi + sp_t) if zero_count else (log_1m + nb)
                g_la += w * (-de - a * sp)
                gz += 1.0 - w - pi  # d log p / d logit pi
                de *= w
                d[j] = de
                sa += de
                st += de * yrs[j]
                se += de * lps[j]
                sc += de * prs[j]
            g_zero[p] += gz
        else:
            for j in range(m):
                yi = ys[j]
                sp, sg = softplus_sigmoid(d[j])
                # a log a + y eta - (y + a) log(exp(eta) + a) = y d - (y + a) softplus(d), d = eta - log a
                total += yi * d[j] - (yi + a) * sp
                de = yi - (yi + a) * sg
                g_la += -de - a * sp
                d[j] = de
                sa += de
                st += de * yrs[j]
                se += de * lps[j]
                sc += de * prs[j]
        if consecutive:
            g_seas = g_season[s0 + t0 : s0 + t0 + m]
            for j in range(m):
                g_seas[j] += d[j]
        else:
            for j in range(m):
                g_season[s0 + ts[j]] += d[j]
        if has_offset:
            for j in range(m):
                g_offset[s + j] = d[j]
        g_alpha[p] += sa
        g_trend[p] += st
        g_elasticity[p] += se
        g_promo[p] += sc
        g_log_alpha[p] += g_la
    out = np.empty((), dtype=np.float64)
    out[()] = total
    return out, g_alpha, g_season, g_trend, g_elasticity, g_promo, g_log_alpha, g_zero, g_offset


class RowsLogLik(Op):
    """Summed log-density over rows, and as further outputs its gradient with respect to each effect.

    Inputs: alpha, trend, elasticity, promo, log_alpha and zero (the logit of a structural zero,
    ignored by ``negbin``), each per product; season (rows of periods, flattened); offset (per row,
    or empty); then the data (``rows_data``): the rows' offsets per product, each product's season
    row, each row's period, the years per period, each row's log price, promotion and count, and
    which rows are censored (or empty).
    """

    __props__ = ("family",)

    def __init__(self, family: str):
        if family not in FAMILIES:
            raise ValueError(f"unknown family '{family}'")
        self.family = family

    def make_node(self, *inputs):
        effects = [pt.as_tensor_variable(x).astype("float64") for x in inputs[:N_EFFECTS]]
        data = [pt.as_tensor_variable(x) for x in inputs[N_EFFECTS:]]
        outputs = [pt.dscalar()] + [x.type() for x in effects]
        return Apply(self, effects + data, outputs)

    def perform(self, node, inputs, output_storage):
        results = _rows_loglik(*[np.asarray(x) for x in inputs], self.family == "zinb")
        for storage, value in zip(output_storage, results, strict=True):
            storage[0] = value

    def L_op(self, inputs, outputs, output_grads):
        from pytensor.gradient import DisconnectedType

        if any(not isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            raise NotImplementedError("RowsLogLik has no second derivatives")
        g = output_grads[0]
        effects = [g * outputs[1 + k] for k in range(N_EFFECTS)]
        return effects + [grad_undefined(self, k, x) for k, x in enumerate(inputs) if k >= N_EFFECTS]


@register_funcify_default_op_cache_key(RowsLogLik)
def _numba_rows_loglik(op, node=None, **kwargs):
    zinb = op.family == "zinb"

    @numba.njit
    def rows_loglik(
        alpha,
        season,
        trend,
        elasticity,
        promo,
        log_alpha,
        zero,
        offset,
        starts,
        season_row,
        t_idx,
        years,
        lp,
        pr,
        y,
        censored,
    ):
        return _rows_loglik(
            alpha,
            season,
            trend,
            elasticity,
            promo,
            log_alpha,
            zero,
            offset,
            starts,
            season_row,
            t_idx,
            years,
            lp,
            pr,
            y,
            censored,
            zinb,
        )

    return rows_loglik, KERNEL_VERSION


def count_constant(log_alpha: pt.TensorVariable, y: np.ndarray) -> pt.TensorVariable:
    """Sum over rows of lgamma(y + a) - lgamma(a) - lgamma(y + 1), through the histogram of ``y``.

    With one dispersion ``a`` for all rows these terms depend on ``y`` only through its distinct
    values (a few hundred), so they are summed over those instead of every row. PyTensor form: the
    reference ``CountConstant`` is tested against.
    """
    values, counts = np.unique(y, return_counts=True)
    alpha = pt.exp(log_alpha)
    const = pt.sum(counts * pt.gammaln(values + alpha)) - len(y) * pt.gammaln(alpha)
    return const - float(np.sum(counts * gammaln(values + 1.0)))


@numba.njit(cache=True, error_model="numpy")
def _digamma(x):
    """psi(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1 / x up to x >= 10, then the
    asymptotic series to x**-14 (truncation error below 1e-17)."""
    r = 0.0
    while x < 10.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (
        -1.0 / 12.0
        + f
        * (
            1.0 / 120.0
            + f * (-1.0 / 252.0 + f * (1.0 / 240.0 + f * (-1.0 / 132.0 + f * (691.0 / 32760.0 - f / 12.0))))
        )
    )
    return r + math.log(x) - 0.5 / x + series


@numba.njit(cache=True, error_model="numpy")
def _count_constant(log_alpha, values, counts):
    """``count_constant`` and its derivative in log a, from the histogram of the counts."""
    a = math.exp(log_alpha[()])
    total = 0.0
    d_sum = 0.0
    n = 0.0
    for i in range(len(values)):
        v, c = values[i], counts[i]
        total += c * (math.lgamma(v + a) - math.lgamma(v + 1.0))
        d_sum += c * _digamma(v + a)
        n += c
    out = np.empty((), dtype=np.float64)
    out[()] = total - n * math.lgamma(a)
    grad = np.empty((), dtype=np.float64)
    grad[()] = a * (d_sum - n * _digamma(a))
    return out, grad


class _ValueAndGradient(Op):
    """An op whose ``kernel`` returns a value and, as a second output read only by the gradient, its
    derivative in the first input (log a); the other inputs are data."""

    __props__ = ()
    kernel = None

    def perform(self, node, inputs, output_storage):
        for storage, value in zip(output_storage, type(self).kernel(*inputs), strict=True):
            storage[0] = value

    def L_op(self, inputs, outputs, output_grads):
        from pytensor.gradient import DisconnectedType

        if not isinstance(output_grads[1].type, DisconnectedType):
            raise NotImplementedError(f"{type(self).__name__} has no second derivative")
        return [
            output_grads[0] * outputs[1],
            *(grad_undefined(self, k, x) for k, x in enumerate(inputs) if k),
        ]


class CountConstant(_ValueAndGradient):
    """``count_constant`` as one op: inputs log a, the distinct counts and how often each occurs;
    outputs the sum and, read by the gradient, its derivative in log a.

    In numba, with its own digamma: PyTensor's goes through a SciPy function pointer, which keeps
    numba from caching the compiled model (``benchmarks/compile.py``).
    """

    kernel = staticmethod(_count_constant)

    def make_node(self, log_alpha, values, counts):
        log_alpha = pt.as_tensor_variable(log_alpha).astype("float64")
        inputs = [log_alpha, pt.as_tensor_variable(values), pt.as_tensor_variable(counts)]
        return Apply(self, inputs, [pt.dscalar(), pt.dscalar()])


@register_funcify_default_op_cache_key(CountConstant)
def _numba_count_constant(op, node=None, **kwargs):
    @numba.njit
    def count_constant_op(log_alpha, values, counts):
        return _count_constant(log_alpha, values, counts)

    return count_constant_op, KERNEL_VERSION


@numba.njit(cache=True, error_model="numpy")
def _product_count_constant(log_alpha, starts, values, counts):
    """``count_constant`` with a dispersion per product, and its gradient (per product), from each
    product's histogram of counts (``starts[p]:starts[p + 1]`` of ``values`` and ``counts``, values
    ascending). lgamma(v + a) - lgamma(a) for a small count is the sum of log(a + j), j < v, built up
    along the product's values (and its digamma difference the sum of 1 / (a + j)); a large count
    takes lgamma and digamma. The lgamma(y + 1) terms are left out (constant)."""
    total = 0.0
    grad = np.zeros_like(log_alpha)
    for p in range(len(starts) - 1):
        if starts[p + 1] == starts[p]:
            continue
        a = math.exp(log_alpha[p])
        lg_a = math.lgamma(a)
        psi_a = 0.0
        have_psi = False  # digamma(a), computed when first needed
        cum_log = cum_inv = 0.0
        j = 0
        t = g = 0.0
        for i in range(starts[p], starts[p + 1]):
            v, c = values[i], counts[i]
            if v <= 32.0:
                while j < v:
                    cum_log += math.log(a + j)
                    cum_inv += 1.0 / (a + j)
                    j += 1
                t += c * cum_log
                g += c * cum_inv
            else:
                if not have_psi:
                    psi_a, have_psi = _digamma(a), True
                t += c * (math.lgamma(v + a) - lg_a)
                g += c * (_digamma(v + a) - psi_a)
        total += t
        grad[p] = a * g
    out = np.empty((), dtype=np.float64)
    out[()] = total
    return out, grad


class ProductCountConstant(_ValueAndGradient):
    """``count_constant`` with a dispersion per product: inputs the products' log a, then their
    histograms (``product_histograms``); outputs the sum (less the constant lgamma(y + 1) terms) and,
    read by the gradient, its derivative in each product's log a."""

    kernel = staticmethod(_product_count_constant)

    def make_node(self, log_alpha, starts, values, counts):
        log_alpha = pt.as_tensor_variable(log_alpha).astype("float64")
        inputs = [log_alpha, *(pt.as_tensor_variable(x) for x in (starts, values, counts))]
        return Apply(self, inputs, [pt.dscalar(), log_alpha.type()])


@register_funcify_default_op_cache_key(ProductCountConstant)
def _numba_product_count_constant(op, node=None, **kwargs):
    @numba.njit
    def product_count_constant_op(log_alpha, starts, values, counts):
        return _product_count_constant(log_alpha, starts, values, counts)

    return product_count_constant_op, KERNEL_VERSION


def product_histograms(starts: np.ndarray, y: np.ndarray, observed: np.ndarray) -> dict[str, np.ndarray]:
    """Per product (rows ``starts[p]:starts[p + 1]``), the distinct counts of its ``observed`` rows
    (ascending) and how often each occurs: ``starts`` into ``values`` and ``counts``."""
    n = len(starts) - 1
    product = np.repeat(np.arange(n), np.diff(starts))[observed]
    pairs, counts = np.unique(np.column_stack([product, y[observed]]), axis=0, return_counts=True)
    pairs = pairs.reshape(-1, 2)
    return {
        "starts": np.searchsorted(pairs[:, 0], np.arange(n + 1)).astype(np.int64),
        "values": np.ascontiguousarray(pairs[:, 1], dtype=np.float64),
        "counts": counts.astype(np.float64),
    }


def sorted_positions(product_idx: np.ndarray, time_idx: np.ndarray) -> np.ndarray:
    """Where each row lands in ``rows_data``'s order (by product, then period)."""
    order = np.lexsort((np.asarray(time_idx), np.asarray(product_idx)))
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order))
    return pos


def rows_data(
    product_idx, time_idx, log_price, promo, y, season_row, years, censored=None
) -> dict[str, np.ndarray]:
    """The rows as the fused op reads them: sorted by product then period, with each product's rows
    at ``starts[p]:starts[p + 1]`` (empty for a product without history).

    ``season_row`` (per product) is the row of the seasonality each product reads (its pooling
    group's, or its own), ``years`` (per period) the trend's time; per row only the period index,
    log price, promotion and count remain (28 bytes a row), and with ``censored`` (per row, True
    where the count is a lower bound) that flag; without censored rows ``censored`` is empty.
    """
    product_idx, time_idx = np.asarray(product_idx), np.asarray(time_idx)
    n_products, n_periods = len(season_row), len(years)
    # the kernel runs without bounds checks: an index out of range must stop here
    if len(product_idx) and not (
        product_idx.min() >= 0
        and product_idx.max() < n_products
        and time_idx.min() >= 0
        and time_idx.max() < n_periods
    ):
        raise ValueError("row product or period index out of range of the products or periods given")
    order = np.lexsort((time_idx, product_idx))
    sorted_p, sorted_t = product_idx[order], time_idx[order]
    # the kernel reads a product's consecutive periods as one slice: each (product, period) once
    if np.any((sorted_p[1:] == sorted_p[:-1]) & (sorted_t[1:] == sorted_t[:-1])):
        raise ValueError("more than one row for the same product and period")
    cens = np.zeros(0)
    if censored is not None and np.any(censored):
        cens = np.asarray(censored, dtype=np.float64)[order]
    fields = {
        "starts": np.searchsorted(sorted_p, np.arange(n_products + 1)),
        "season_row": season_row,
        "time_idx": sorted_t,
        "years": years,
        "log_price": np.asarray(log_price)[order],
        "promo": np.asarray(promo)[order],
        "y": np.asarray(y)[order],
        "censored": cens,
    }
    dtypes = {"starts": np.int64, "season_row": np.int64, "time_idx": np.int32}
    return {k: np.ascontiguousarray(fields[k], dtype=dtypes.get(k, np.float64)) for k in ROW_FIELDS}


def rows_loglik(family: str, effects: dict[str, pt.TensorVariable], data: dict[str, np.ndarray]):
    """The fused log-likelihood of the rows (count constant included), a scalar.

    ``data``: from ``rows_data``. ``effects["season"]``: rows of periods, flattened; ``trend``,
    ``elasticity``, ``promo`` and ``zero`` per product; ``log_alpha`` a scalar (one dispersion: the
    count constant over the catalog's histogram of counts) or per product (over each product's
    histogram); ``offset`` per row in ``rows_data``'s order, or absent. The data go in as shared
    variables (``rows_<name>``), not constants: PyTensor's numba backend copies every constant array
    on each call, which doubled the time of a gradient (``benchmarks/gradient.py``); shared arrays
    are passed by reference, to nutpie as well.
    """
    n_products = len(data["starts"]) - 1
    log_alpha = pt.as_tensor_variable(effects["log_alpha"])
    per_product = log_alpha.ndim == 1
    zero = effects.get("zero")
    if zero is None:
        zero = pt.zeros(n_products)
    offset = effects.get("offset")
    if offset is None:
        offset = pt.zeros(0)
    rows = [pytensor.shared(data[k], name=f"rows_{k}", borrow=True) for k in ROW_FIELDS]
    node_out = RowsLogLik(family)(
        effects["alpha"],
        effects["season"],
        effects["trend"],
        effects["elasticity"],
        effects["promo"],
        log_alpha if per_product else pt.broadcast_to(log_alpha, (n_products,)),
        zero,
        offset,
        *rows,
    )
    # censored rows' survival is whole in the kernel: the count constant is over the others
    observed = data["censored"] == 0 if len(data["censored"]) else np.ones(len(data["y"]), bool)
    y = data["y"][observed]
    constant = -float(np.sum(gammaln(y + 1.0)))
    if per_product:
        hist = product_histograms(data["starts"], data["y"], observed)
        shared = [pytensor.shared(hist[k], name=f"rows_hist_{k}", borrow=True) for k in hist]
        return node_out[0] + ProductCountConstant()(log_alpha, *shared)[0] + constant
    values, counts = np.unique(y, return_counts=True)
    histogram = [
        pytensor.shared(x.astype(np.float64), name=f"rows_y_{k}", borrow=True)
        for k, x in (("values", values), ("counts", counts))
    ]
    return node_out[0] + CountConstant()(log_alpha, *histogram)[0]


def _negbin_rows(eta, log_alpha, y: np.ndarray):
    """Per-row part of the log-density: a log a + y eta - (y + a) log(exp(eta) + a)."""
    alpha = pt.exp(log_alpha)
    return alpha * log_alpha + y * eta - (y + alpha) * pt.logaddexp(eta, log_alpha)


def negbin_loglik(eta, log_alpha, y: np.ndarray):
    """Summed negative binomial log-likelihood of counts ``y`` with log mean ``eta`` (PyTensor form).

    The same density as ``pm.NegativeBinomial(mu=exp(eta), alpha)``:

        log p(y) = lgamma(y + a) - lgamma(a) - lgamma(y + 1) + a log a + y eta - (y + a) log(exp(eta) + a)
    """
    return count_constant(log_alpha, y) + pt.sum(_negbin_rows(eta, log_alpha, y))


def zinb_loglik(eta, log_alpha, logit_zero, y: np.ndarray):
    """Zero-inflated negative binomial: a structural zero with probability sigmoid(logit_zero).

    log p(0) = log(pi + (1 - pi) NB(0)),  log p(y > 0) = log(1 - pi) + log NB(y); the gamma terms
    of NB(0) vanish, so the histogram form of the count constant carries over unchanged.
    """
    nb = _negbin_rows(eta, log_alpha, y)
    log_pi, log_1m_pi = -pt.softplus(-logit_zero), -pt.softplus(logit_zero)
    rows = pt.switch(np.equal(y, 0), pt.logaddexp(log_pi, log_1m_pi + nb), log_1m_pi + nb)
    return count_constant(log_alpha, y) + pt.sum(rows)
