"""Where a gradient's time goes, and what the likelihood form and BLAS threads cost.

    uv run python benchmarks/gradient.py [n_products]

Times logp+gradient of the model (numba backend, as nutpie compiles it) with the histogram form of
the negative binomial likelihood against PyMC's textbook NegativeBinomial, on the same design.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from _common import prepared, save
from pymc.blocking import DictToArrayBijection

from forecast.config import DEFAULT_PRIORS
from forecast.model import build_model


def time_grad(model: pm.Model, reps: int = 200) -> float:
    f = model.logp_dlogp_function(mode="NUMBA", ravel_inputs=True)
    f.set_extra_values({})
    ip = model.initial_point()
    x = DictToArrayBijection.map({v.name: ip[v.name] for v in model.value_vars}).data
    f(x)
    start = time.perf_counter()
    for _ in range(reps):
        f(x)
    return (time.perf_counter() - start) / reps * 1e3


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    p = prepared(n)
    model = build_model(p.design, DEFAULT_PRIORS)
    fast = time_grad(model)
    y = p.design.train.y
    la = pt.dscalar("la")
    rows = len(y)
    eta = pt.dvector("eta")
    import pytensor

    from forecast.model import negbin_loglik

    ref = pm.logp(pm.NegativeBinomial.dist(mu=pt.exp(eta), alpha=pt.exp(la)), y).sum()
    new = negbin_loglik(eta, la, y)
    timings = {}
    for name, expr in (("likelihood_textbook", ref), ("likelihood_histogram", new)):
        fn = pytensor.function([eta, la], [expr, *pytensor.grad(expr, [eta, la])], mode="NUMBA")
        e = np.random.default_rng(0).normal(0, 1, rows)
        fn(e, 1.0)
        start = time.perf_counter()
        for _ in range(200):
            fn(e, 1.0)
        timings[name] = (time.perf_counter() - start) / 200 * 1e3
    save(
        f"gradient_{n}",
        {
            "products": n,
            "rows": rows,
            "model_logp_and_gradient_ms": round(fast, 3),
            "likelihood_textbook_ms": round(timings["likelihood_textbook"], 3),
            "likelihood_histogram_ms": round(timings["likelihood_histogram"], 3),
            "likelihood_speedup": round(timings["likelihood_textbook"] / timings["likelihood_histogram"], 2),
        },
    )
