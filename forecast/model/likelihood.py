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
N_EFFECTS = 6  # alpha, season (flat), trend, elasticity, promo, log_alpha
# The data inputs of the op, in its order (``rows_data``'s keys).
ROW_FIELDS = ("starts", "pool", "time_idx", "years", "log_price", "promo", "y")
# PyTensor's numba cache keys an op's compiled code by the op's class and props alone, so a kernel
# changed by an upgrade or an edit would load the old code: the kernels' source goes into the key.
KERNEL_VERSION = zlib.crc32(
    Path(forecast.model.vecmath.__file__).read_bytes(), zlib.crc32(Path(__file__).read_bytes())
)


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)
def _rows_loglik(
    alpha, season, trend, elasticity, promo, log_alpha, zero, starts, pool, t_idx, years, lp, pr, y, zinb
):
    """Sum of per-row log-densities (without the count constant) and the gradient of every input.

    Rows come sorted by product: product p's rows are ``starts[p]:starts[p + 1]``, its pooling
    group ``pool[p]``, its seasonality ``season[pool[p] * periods:][:periods]``. A product's rows
    usually cover consecutive periods (the design's panel runs from its first sale to the end of
    the history): then its seasonal cells and years are read as slices and its seasonal gradient
    added as one, with no gather or scatter-add per row; otherwise they are gathered into buffers
    first and scattered back after. Per product, two passes over its rows, all in L1 cache: the
    log mean (less log a); then the density and its derivative in eta, vectorized
    (``forecast.model.vecmath``), with the derivative's sums into the product's and its group's
    gradients.
    """
    n_periods = len(years)
    la = log_alpha[()]
    a = math.exp(la)
    longest = 0
    for p in range(len(starts) - 1):
        longest = max(longest, starts[p + 1] - starts[p])
    d = np.empty(longest)
    seas_buf = np.empty(longest)
    years_buf = np.empty(longest)
    total = 0.0
    g_la = 0.0
    g_alpha = np.zeros_like(alpha)
    g_season = np.zeros_like(season)
    g_trend = np.zeros_like(trend)
    g_elasticity = np.zeros_like(elasticity)
    g_promo = np.zeros_like(promo)
    g_zero = np.zeros_like(zero)
    for p in range(len(starts) - 1):
        s, m = starts[p], starts[p + 1] - starts[p]
        if m == 0:
            continue
        g = pool[p]
        base = alpha[p] - la
        b, e, c = trend[g], elasticity[g], promo[g]
        s0 = g * n_periods
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
        sa = st = se = sc = 0.0
        if zinb:
            # log pi, log(1 - pi) and pi, with pi = P(structural zero) of the product's group.
            z = zero[g]
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
            g_zero[g] += gz
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
        g_alpha[p] += sa
        g_trend[g] += st
        g_elasticity[g] += se
        g_promo[g] += sc
    out = np.empty((), dtype=np.float64)
    out[()] = total
    g_log_alpha = np.empty((), dtype=np.float64)
    g_log_alpha[()] = g_la
    return out, g_alpha, g_season, g_trend, g_elasticity, g_promo, g_log_alpha, g_zero


class RowsLogLik(Op):
    """Summed log-density over rows, and as further outputs its gradient with respect to each effect.

    Inputs: alpha (products), season (groups x periods, flattened), trend, elasticity, promo
    (groups), log_alpha (scalar), zero (groups; the logit of a structural zero, ignored by
    ``negbin``), then the data (``rows_data``): the rows' offsets per product and each product's
    group, each row's period, the years per period, and each row's log price, promotion and count.
    """

    __props__ = ("family",)

    def __init__(self, family: str):
        if family not in FAMILIES:
            raise ValueError(f"unknown family '{family}'")
        self.family = family

    def make_node(self, *inputs):
        effects = [pt.as_tensor_variable(x).astype("float64") for x in inputs[: N_EFFECTS + 1]]
        data = [pt.as_tensor_variable(x) for x in inputs[N_EFFECTS + 1 :]]
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
        effects = [g * outputs[1 + k] for k in range(N_EFFECTS + 1)]
        return effects + [grad_undefined(self, k, x) for k, x in enumerate(inputs) if k > N_EFFECTS]


@register_funcify_default_op_cache_key(RowsLogLik)
def _numba_rows_loglik(op, node=None, **kwargs):
    zinb = op.family == "zinb"

    @numba.njit
    def rows_loglik(
        alpha, season, trend, elasticity, promo, log_alpha, zero, starts, pool, t_idx, years, lp, pr, y
    ):
        return _rows_loglik(
            alpha,
            season,
            trend,
            elasticity,
            promo,
            log_alpha,
            zero,
            starts,
            pool,
            t_idx,
            years,
            lp,
            pr,
            y,
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


class CountConstant(Op):
    """``count_constant`` as one op: inputs log a, the distinct counts and how often each occurs;
    outputs the sum and, read by the gradient, its derivative in log a.

    In numba, with its own digamma: PyTensor's goes through a SciPy function pointer, which keeps
    numba from caching the compiled model (``benchmarks/compile.py``).
    """

    __props__ = ()

    def make_node(self, log_alpha, values, counts):
        log_alpha = pt.as_tensor_variable(log_alpha).astype("float64")
        inputs = [log_alpha, pt.as_tensor_variable(values), pt.as_tensor_variable(counts)]
        return Apply(self, inputs, [pt.dscalar(), pt.dscalar()])

    def perform(self, node, inputs, output_storage):
        for storage, value in zip(output_storage, _count_constant(*inputs), strict=True):
            storage[0] = value

    def L_op(self, inputs, outputs, output_grads):
        from pytensor.gradient import DisconnectedType

        if not isinstance(output_grads[1].type, DisconnectedType):
            raise NotImplementedError("CountConstant has no second derivative")
        return [
            output_grads[0] * outputs[1],
            *(grad_undefined(self, k, x) for k, x in enumerate(inputs) if k),
        ]


@register_funcify_default_op_cache_key(CountConstant)
def _numba_count_constant(op, node=None, **kwargs):
    @numba.njit
    def count_constant_op(log_alpha, values, counts):
        return _count_constant(log_alpha, values, counts)

    return count_constant_op, KERNEL_VERSION


def rows_data(product_idx, time_idx, log_price, promo, y, product_pool, years) -> dict[str, np.ndarray]:
    """The rows as the fused op reads them: sorted by product then period, with each product's rows
    at ``starts[p]:starts[p + 1]`` (empty for a product without history).

    ``product_pool`` (per product) is each product's pooling group, ``years`` (per period) the
    trend's time; per row only the period index, log price, promotion and count remain: 28 bytes a
    row, against 56 with a product, seasonal-cell and group index and the years on every row.
    """
    product_idx, time_idx = np.asarray(product_idx), np.asarray(time_idx)
    n_products, n_periods = len(product_pool), len(years)
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
    fields = {
        "starts": np.searchsorted(sorted_p, np.arange(n_products + 1)),
        "pool": product_pool,
        "time_idx": sorted_t,
        "years": years,
        "log_price": np.asarray(log_price)[order],
        "promo": np.asarray(promo)[order],
        "y": np.asarray(y)[order],
    }
    dtypes = {"starts": np.int64, "pool": np.int64, "time_idx": np.int32}
    return {k: np.ascontiguousarray(fields[k], dtype=dtypes.get(k, np.float64)) for k in ROW_FIELDS}


def rows_loglik(family: str, effects: dict[str, pt.TensorVariable], data: dict[str, np.ndarray]):
    """The fused log-likelihood of the rows (count constant included), a scalar.

    ``data``: from ``rows_data``. ``effects["season"]``: groups x periods, flattened. The data go
    in as shared variables (``rows_<name>``), not constants: PyTensor's numba backend copies every
    constant array on each call, which doubled the time of a gradient (``benchmarks/gradient.py``);
    shared arrays are passed by reference, to nutpie as well.
    """
    zero = effects.get("zero")
    if zero is None:
        zero = pt.zeros_like(effects["trend"])
    rows = [pytensor.shared(data[k], name=f"rows_{k}", borrow=True) for k in ROW_FIELDS]
    node_out = RowsLogLik(family)(
        effects["alpha"],
        effects["season"],
        effects["trend"],
        effects["elasticity"],
        effects["promo"],
        effects["log_alpha"],
        zero,
        *rows,
    )
    values, counts = np.unique(data["y"], return_counts=True)
    histogram = [
        pytensor.shared(x.astype(np.float64), name=f"rows_y_{k}", borrow=True)
        for k, x in (("values", values), ("counts", counts))
    ]
    return node_out[0] + CountConstant()(effects["log_alpha"], *histogram)[0]


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
