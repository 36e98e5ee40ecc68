"""Where a gradient's time goes: the fused likelihood against the same model built from PyTensor ops.

    uv run python benchmarks/gradient.py [n_products ...]

For each catalog size, times logp + gradient (numba backend, as nutpie compiles it; the compiled
function called directly) of

- the model as built (``forecast.model.likelihood.RowsLogLik``: the rows grouped by product, forward and
  backward together),
- the same model with the rows' likelihood written as PyTensor ops (five 1-D gathers by per-row
  indices, their scatter-adds, the histogram form of the negative binomial), swapped in for the
  fused op,
- the likelihood alone as a function of every row's log mean: PyMC's textbook ``NegativeBinomial``
  and the histogram form,

and the fused op's kernel alone on the model's rows: as built (``forecast.model.vecmath``: exp and log1p
that vectorize), with the C library's ``exp`` and ``log1p`` instead, and with plain arithmetic in
their place (what the gathers, scatter-adds and memory traffic cost by themselves); and the op in a
compiled PyTensor function with the row data as constants (copied on every call by the numba
backend) and as shared variables (passed by reference; what the model does).
"""

from __future__ import annotations

import math
import sys
import time

import numba
import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from _common import prepared, save
from pymc.blocking import DictToArrayBijection

from forecast.model.likelihood import RowsLogLik, _rows_loglik, count_constant, negbin_loglik
from forecast.model.priors import DEFAULT_PRIORS


def _timed(fn, *args, reps: int = 200) -> float:
    fn(*args)
    start = time.perf_counter()
    for _ in range(reps):
        fn(*args)
    return (time.perf_counter() - start) / reps * 1e3


def time_model(model: pm.Model, reps: int = 300) -> float:
    """ms per logp + gradient: the numba-compiled function, called directly as a sampler does."""
    f = model.logp_dlogp_function(mode="NUMBA", ravel_inputs=True)
    f.set_extra_values({})
    ip = model.initial_point()
    x = DictToArrayBijection.map({v.name: ip[v.name] for v in model.value_vars}).data
    fn = f._pytensor_function
    fn.trust_input = True
    return _timed(fn, x, reps=reps)


def unfused(model: pm.Model) -> pm.Model:
    """The same model with the fused op's node replaced by the PyTensor-ops likelihood."""
    from pymc.model.fgraph import fgraph_from_model, model_from_fgraph

    fg, _ = fgraph_from_model(model)
    node = next(n for n in fg.apply_nodes if isinstance(n.op, RowsLogLik))
    alpha, season, trend, elasticity, promo, log_alpha, _zero, *rows = node.inputs
    starts, pool_of, t, years, lp, pr, y = (x.get_value() for x in rows)
    prod = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    pool = pool_of[prod]
    # per-row indices and data as shared arrays: the layout of a gather-based likelihood
    arrays = {
        "prod": prod,
        "sidx": pool * len(years) + t,
        "pool": pool,
        "years": years[t],
        "lp": lp,
        "pr": pr,
    }
    prod, sidx, pool, row_years, lp, pr = (
        pytensor.shared(x, name=f"unfused_{k}", borrow=True) for k, x in arrays.items()
    )
    eta = alpha[prod] + season[sidx] + trend[pool] * row_years + elasticity[pool] * lp + promo[pool] * pr
    replacement = negbin_loglik(eta, log_alpha, y) - count_constant(log_alpha, y)
    fg.replace(node.outputs[0], replacement, import_missing=True)
    return model_from_fgraph(fg, mutate_fgraph=True)


def _kernel(softplus_sigmoid):
    """The fused kernel's own code, compiled with another softplus/sigmoid in place of vecmath's."""
    import types

    import forecast.model.likelihood as likelihood
    from forecast.model.vecmath import FASTMATH

    source = likelihood._rows_loglik.py_func
    swapped = types.FunctionType(source.__code__, {**vars(likelihood), "softplus_sigmoid": softplus_sigmoid})
    return numba.njit(fastmath=FASTMATH, error_model="numpy", boundscheck=False)(swapped)


@numba.njit(inline="always")
def _libm(d):
    e = math.exp(-abs(d))
    return max(d, 0.0) + math.log1p(e), (1.0 if d >= 0 else e) / (1.0 + e)


@numba.njit(inline="always")
def _arithmetic_only(d):
    return d * d, 0.5 * d


def kernels(model: pm.Model) -> dict[str, float]:
    """ms per pass over the model's rows: the fused kernel, the same with the C library's exp and
    log1p, and with arithmetic in their place (what gathers, scatters and memory cost alone)."""
    from pymc.model.fgraph import fgraph_from_model

    fg, _ = fgraph_from_model(model)
    node = next(n for n in fg.apply_nodes if isinstance(n.op, RowsLogLik))
    data = [x.get_value() for x in node.inputs[7:]]
    rng = np.random.default_rng(0)
    n_pool = int(data[1].max()) + 1
    effects = [
        rng.normal(0, 1, len(data[0]) - 1),
        rng.normal(0, 0.2, n_pool * len(data[3])),
        np.zeros(n_pool),
        -np.ones(n_pool),
        np.full(n_pool, 0.3),
    ]
    inputs = [pt.TensorType("float64", shape=(None,))() for _ in effects]
    scalars = [pt.dscalar(), pt.dvector()]

    def through_pytensor(rows):
        outs = RowsLogLik("negbin")(*inputs, *scalars, *rows)
        fn = pytensor.function([*inputs, *scalars], outs, mode="NUMBA")
        fn.trust_input = True
        return _timed(fn, *effects, np.array(1.0), np.zeros(n_pool), reps=500)

    as_constants = through_pytensor([pt.constant(x) for x in data])
    as_shared = through_pytensor([pytensor.shared(x, borrow=True) for x in data])
    fused = _timed(_rows_loglik, *effects, np.array(1.0), np.zeros(n_pool), *data, False, reps=500)
    rest = (np.array(1.0), np.zeros(n_pool), *data, False)
    libm = _timed(_kernel(_libm), *effects, *rest, reps=500)
    arith = _timed(_kernel(_arithmetic_only), *effects, *rest, reps=500)
    return {
        "kernel_fused_ms": fused,
        "kernel_libm_ms": libm,
        "kernel_arithmetic_only_ms": arith,
        "op_in_pytensor_data_as_constants_ms": as_constants,
        "op_in_pytensor_data_as_shared_ms": as_shared,
    }


def likelihood_only(y: np.ndarray) -> dict[str, float]:
    la = pt.dscalar("la")
    eta = pt.dvector("eta")
    ref = pm.logp(pm.NegativeBinomial.dist(mu=pt.exp(eta), alpha=pt.exp(la)), y).sum()
    new = negbin_loglik(eta, la, y)
    e = np.random.default_rng(0).normal(0, 1, len(y))
    out = {}
    for name, expr in (("textbook", ref), ("histogram", new)):
        fn = pytensor.function([eta, la], [expr, *pytensor.grad(expr, [eta, la])], mode="NUMBA")
        out[name] = _timed(fn, e, 1.0)
    return out


def measure(n: int) -> dict:
    from forecast.model.builder import build_model

    p = prepared(n)
    model = build_model(p.design, DEFAULT_PRIORS)
    fused = time_model(model)
    ops = time_model(unfused(build_model(p.design, DEFAULT_PRIORS)))
    lik = likelihood_only(p.design.train.y)
    k = kernels(model)
    return {
        "products": n,
        "rows": len(p.design.train.y),
        "model_fused_ms": round(fused, 3),
        "model_pytensor_ops_ms": round(ops, 3),
        "fused_speedup": round(ops / fused, 2),
        "likelihood_textbook_ms": round(lik["textbook"], 3),
        "likelihood_histogram_ms": round(lik["histogram"], 3),
        **{name: round(v, 3) for name, v in k.items()},
    }


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [500]
    results = [measure(n) for n in sizes]
    save("gradient", {"sizes": results})
