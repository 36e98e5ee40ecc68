"""The fused likelihood: the same log-density and gradient as the model written in PyTensor ops."""

import numba
import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from scipy.special import digamma, expit

from forecast.model.builder import build_model
from forecast.model.likelihood import (
    CountConstant,
    RowsLogLik,
    _digamma,
    count_constant,
    nb_log_survival,
    negbin_loglik,
    product_histograms,
    rows_data,
    rows_loglik,
    sorted_positions,
    zinb_loglik,
)
from forecast.model.priors import DEFAULT_PRIORS
from forecast.model.vecmath import exp_nonpos, log1p_unit, softplus_sigmoid


@numba.njit
def _apply(f, xs):
    out = np.empty_like(xs)
    for i in range(len(xs)):
        out[i] = f(xs[i])
    return out


@numba.njit
def _apply2(xs):
    a, b = np.empty_like(xs), np.empty_like(xs)
    for i in range(len(xs)):
        a[i], b[i] = softplus_sigmoid(xs[i])
    return a, b


def test_vector_exp_and_log1p_are_accurate_to_the_last_bits():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [-np.abs(rng.normal(0, 30, 200_000)), [0.0, -1e-300, -0.5 * np.log(2), -700.0, -708.0]]
    )
    np.testing.assert_allclose(_apply(exp_nonpos, x), np.exp(x), rtol=1e-15)
    e = np.concatenate([rng.uniform(0, 1, 200_000), np.exp(-rng.uniform(0, 700, 1000)), [0.0, 1.0, 1e-300]])
    np.testing.assert_allclose(_apply(log1p_unit, e), np.log1p(e), rtol=2e-15, atol=0)
    # below exp's range the result is exp(-708), about 3e-308: zero for every use here
    assert _apply(exp_nonpos, np.array([-1000.0, -np.inf]))[0] < 1e-307
    d = np.concatenate([rng.normal(0, 20, 100_000), [0.0, -800.0, 800.0]])
    softplus, sigmoid = _apply2(d)
    np.testing.assert_allclose(softplus, np.logaddexp(0.0, d), rtol=2e-15, atol=1e-300)
    np.testing.assert_allclose(sigmoid, expit(d), rtol=2e-15, atol=1e-300)


def test_digamma_is_accurate_over_the_range_of_counts_and_dispersions():
    x = np.concatenate([np.geomspace(1e-3, 1e6, 20_000), np.arange(1.0, 50.0) + 0.5])
    got = np.array([_digamma(v) for v in x])
    np.testing.assert_allclose(got, digamma(x), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_RUN"])
def test_count_constant_op_matches_the_pytensor_form(mode):
    """Value and gradient in log a equal ``count_constant`` in PyTensor ops (SciPy's lgamma, digamma)."""
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.negative_binomial(0.7, 0.05, 5000), [0, 0, 1, 5_000, 120_000]]).astype(float)
    values, counts = np.unique(y, return_counts=True)
    la = pt.dscalar("la")
    fused = CountConstant()(la, values, counts.astype(float))[0]
    ref = count_constant(la, y)
    f = pytensor.function([la], [fused, pytensor.grad(fused, la)], mode=mode)
    r = pytensor.function([la], [ref, pytensor.grad(ref, la)], mode=mode)
    for log_alpha in (-4.0, -0.3, 0.7, 6.0):
        # PyTensor's C digamma (FAST_RUN) is good to about 1e-11
        np.testing.assert_allclose(f(log_alpha), r(log_alpha), rtol=1e-10)


def _rows(products=60, periods=40, groups=4, seed=0, censored_share=0.0):
    """Rows in no particular order, two products without rows; half the others sold in consecutive
    periods up to the end (the design's panels), half in scattered periods (slices and gathers are
    both exercised). ``flat`` holds each row's indices for the reference written with gathers;
    ``censored_share`` of the rows are censored (a lower bound)."""
    rng = np.random.default_rng(seed)
    prod_list, t_list = [], []
    for p in range(2, products):
        if p % 2:
            ts = np.arange(rng.integers(0, periods - 1), periods)
        else:
            ts = np.sort(rng.choice(periods, rng.integers(1, periods // 2), replace=False))
        prod_list.append(np.full(len(ts), p))
        t_list.append(ts)
    shuffle = rng.permutation(sum(len(ts) for ts in t_list))
    prod, t = np.concatenate(prod_list)[shuffle], np.concatenate(t_list)[shuffle]
    n = len(prod)
    product_pool = rng.integers(0, groups, products)
    years = (np.arange(periods) - periods) / 52.0
    y = rng.negative_binomial(2, 0.4, n).astype(float)
    y[rng.uniform(size=n) < 0.3] = 0.0
    lp, pr = rng.normal(0, 0.1, n), rng.binomial(1, 0.2, n).astype(float)
    censored = rng.uniform(size=n) < censored_share
    data = rows_data(prod, t, lp, pr, y, product_pool, years, censored)
    pool = product_pool[prod]
    flat = {
        "product_idx": prod,
        "season_idx": pool * periods + t,
        "pool_idx": pool,
        "years": years[t],
        "log_price": lp,
        "promo": pr,
        "y": y,
        "censored": censored,
        "sorted_pos": sorted_positions(prod, t),
    }
    values = {
        "alpha": rng.normal(0, 1.5, products),
        "season": rng.normal(0, 0.3, periods * groups),
        "trend": rng.normal(0, 0.1, products),
        "elasticity": rng.normal(-1, 0.3, products),
        "promo": rng.normal(0.3, 0.1, products),
        "log_alpha": np.array(0.7),
        "zero": rng.normal(-1, 0.8, products),
    }
    return data, flat, values


def test_rows_data_keeps_every_row_once_grouped_by_product():
    data, flat, _ = _rows()
    starts = data["starts"]
    assert starts[0] == 0 and starts[-1] == len(flat["y"]) and (np.diff(starts) >= 0).all()
    assert starts[1] == starts[2] == 0  # products 0 and 1 have no rows
    prod = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    got = sorted(zip(prod, data["time_idx"], data["log_price"], data["y"], strict=True))
    want = sorted(
        zip(
            flat["product_idx"],
            np.searchsorted(np.unique(flat["years"]), flat["years"]),
            flat["log_price"],
            flat["y"],
            strict=True,
        )
    )
    assert got == want


def test_rows_data_refuses_an_index_out_of_range():
    """The kernel runs without bounds checks, so a bad index must stop before it."""
    args = dict(log_price=np.zeros(2), promo=np.zeros(2), y=np.ones(2), season_row=np.zeros(3, int))
    with pytest.raises(ValueError, match="out of range"):
        rows_data([0, 3], [0, 1], years=np.zeros(4), **args)
    with pytest.raises(ValueError, match="out of range"):
        rows_data([0, 1], [0, 4], years=np.zeros(4), **args)


def test_rows_data_refuses_two_rows_for_one_product_and_period():
    """The kernel reads a product's consecutive periods as one slice: a repeated period would
    shift every later row's seasonality."""
    args = dict(log_price=np.zeros(3), promo=np.zeros(3), y=np.ones(3), season_row=np.zeros(2, int))
    with pytest.raises(ValueError, match="same product and period"):
        rows_data([0, 1, 0], [1, 2, 1], years=np.zeros(4), **args)


@pytest.mark.parametrize("family", ["negbin", "zinb"])
@pytest.mark.parametrize("mode", ["NUMBA", "FAST_RUN"])
def test_fused_rows_loglik_matches_the_pytensor_graph(family, mode):
    """Log-density and every gradient equal the same model written with gathers and PyTensor ops."""
    data, flat, values = _rows()
    names = [k for k in values if family == "zinb" or k != "zero"]
    xs = {k: pt.dvector(k) if np.ndim(values[k]) else pt.dscalar(k) for k in names}
    fused = rows_loglik(family, xs, data)
    eta = _eta(xs, flat)
    if family == "negbin":
        ref = negbin_loglik(eta, xs["log_alpha"], flat["y"])
    else:
        ref = zinb_loglik(eta, xs["log_alpha"], xs["zero"][flat["product_idx"]], flat["y"])
    inputs = [xs[k] for k in names]
    f = pytensor.function(inputs, [fused, *pytensor.grad(fused, inputs)], mode=mode)
    r = pytensor.function(inputs, [ref, *pytensor.grad(ref, inputs)], mode=mode)
    for scale in (1.0, 4.0):  # also far from the data: large |eta| on both sides
        args = [values[k] * (scale if k == "alpha" else 1.0) for k in names]
        got, want = f(*args), r(*args)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-9)


def _eta(xs, flat):
    """The rows' log mean written with gathers (per product: level, trend, elasticity, lift)."""
    p = flat["product_idx"]
    return (
        xs["alpha"][p]
        + xs["season"][flat["season_idx"]]
        + xs["trend"][p] * flat["years"]
        + xs["elasticity"][p] * flat["log_price"]
        + xs["promo"][p] * flat["promo"]
    )


def test_nb_log_survival_matches_scipy_and_its_derivatives():
    """log P(Y >= y) and its derivatives in eta and log a, head and tail sums, against SciPy's
    survival function and central differences of it."""
    from scipy import stats

    def logsf(eta, la, y):
        a = np.exp(la)
        return stats.nbinom.logsf(y - 1, a, a / (a + np.exp(eta)))

    rng = np.random.default_rng(4)
    heads = tails = 0
    for _ in range(400):
        eta, la = rng.normal(1, 2.5), rng.normal(0.5, 1.5)
        y = int(rng.integers(1, max(2, int(np.exp(eta) * 3) + 5)))
        ls, d_eta, d_la = nb_log_survival(eta - la, np.exp(la), y)
        ref = logsf(eta, la, y)
        heads, tails = heads + (ref > np.log(0.1)), tails + (ref <= np.log(0.1))
        np.testing.assert_allclose(ls, ref, rtol=1e-9, atol=1e-12)
        h = 1e-5
        fd_eta = (logsf(eta + h, la, y) - logsf(eta - h, la, y)) / (2 * h)
        fd_la = (logsf(eta, la + h, y) - logsf(eta, la - h, y)) / (2 * h)
        np.testing.assert_allclose([d_eta, d_la], [fd_eta, fd_la], rtol=1e-5, atol=1e-5)
    assert heads > 50 and tails > 50  # both sums exercised


@pytest.mark.parametrize("family", ["negbin", "zinb"])
def test_fused_op_with_censored_rows_offsets_and_a_dispersion_per_product(family):
    """Censored rows count their survival, an offset adds to a row's log mean, and each product
    has its own dispersion: the value equals a row-by-row sum from SciPy, and every gradient
    equals central differences of it."""
    from scipy import stats
    from scipy.special import gammaln

    data, flat, values = _rows(products=16, periods=20, censored_share=0.25, seed=2)
    rng = np.random.default_rng(5)
    n, products = len(flat["y"]), len(values["alpha"])
    values = {**values, "log_alpha": rng.normal(0.5, 0.6, products), "offset": rng.normal(0, 0.3, n)}
    names = [k for k in values if family == "zinb" or k != "zero"]
    xs = {k: pt.dvector(k) for k in names}
    effects = dict(xs)
    effects["offset"] = xs["offset"]
    fused = rows_loglik(family, effects, data)
    f = pytensor.function([xs[k] for k in names], [fused, *pytensor.grad(fused, [xs[k] for k in names])])

    def reference(v):
        p = flat["product_idx"]
        eta = _eta(v, flat) + v["offset"][flat["sorted_pos"]]
        a, y = np.exp(v["log_alpha"][p]), flat["y"]
        q = a / (a + np.exp(eta))
        log_pmf = stats.nbinom.logpmf(y, a, q)
        log_sf = stats.nbinom.logsf(y - 1, a, q)
        if family == "zinb":
            pi = 1 / (1 + np.exp(-v["zero"][p]))
            log_pmf = np.where(y == 0, np.log(pi + (1 - pi) * np.exp(log_pmf)), np.log1p(-pi) + log_pmf)
            log_sf = np.log1p(-pi) + log_sf
        return np.sum(np.where(flat["censored"], np.where(y > 0, log_sf, 0.0), log_pmf))

    args = [values[k] for k in names]
    out = f(*args)
    np.testing.assert_allclose(out[0], reference(values), rtol=1e-10)
    assert flat["censored"].sum() > 20 and np.isfinite(gammaln(1.0))
    h = 1e-6
    for k, grad in zip(names, out[1:], strict=True):
        for i in rng.choice(len(values[k]), min(6, len(values[k])), replace=False):
            up, down = {**values, k: values[k].copy()}, {**values, k: values[k].copy()}
            up[k][i] += h
            down[k][i] -= h
            fd = (reference(up) - reference(down)) / (2 * h)
            np.testing.assert_allclose(grad[i], fd, rtol=1e-5, atol=1e-5, err_msg=f"{k}[{i}]")


def test_product_histograms_count_each_products_observed_values():
    starts = np.array([0, 3, 3, 7])
    y = np.array([0.0, 2.0, 0.0, 5.0, 5.0, 1.0, 5.0])
    observed = np.array([True, True, True, True, False, True, True])
    h = product_histograms(starts, y, observed)
    assert h["starts"].tolist() == [0, 2, 2, 4]
    assert h["values"].tolist() == [0.0, 2.0, 1.0, 5.0]
    assert h["counts"].tolist() == [2.0, 1.0, 1.0, 2.0]


def test_negbin_loglik_equals_pymc_and_gradient_is_finite_at_extremes():
    data, flat, values = _rows(products=20)
    x = pt.dvector("alpha")
    la = pt.dscalar("la")
    effects = {**{k: pt.as_tensor(v) for k, v in values.items()}, "alpha": x, "log_alpha": la}
    del effects["zero"]
    logp = rows_loglik("negbin", effects, data)
    f = pytensor.function([x, la], [logp, pytensor.grad(logp, x)], mode="NUMBA")
    alpha = values["alpha"]
    eta = _eta(values, flat)
    ref = pm.logp(pm.NegativeBinomial.dist(mu=np.exp(eta), alpha=np.exp(0.7)), flat["y"]).sum().eval()
    np.testing.assert_allclose(f(alpha, 0.7)[0], ref, rtol=1e-12)
    for extreme in (-300.0, 300.0):
        lp, grad = f(alpha + extreme, 0.7)
        assert np.isfinite(grad).all() and not np.isnan(lp)


def test_model_uses_the_fused_likelihood_and_its_gradient_matches(tiny_design):
    """The built model's logp and gradient equal those of the same model with the rows' log mean
    written from the design and the model's named effects: the fused op gets the right data."""
    from pymc.model.fgraph import fgraph_from_model, model_from_fgraph

    design = tiny_design
    rows, pool = design.train, design.pool_idx[design.train.product_idx]
    for family in ("negbin", "zinb"):
        model = build_model(design, DEFAULT_PRIORS, likelihood=family)
        fg, memo = fgraph_from_model(model)
        v = {name: memo[model[name]] for name in ("alpha_product", "season", "trend", "elasticity", "promo")}
        log_alpha = memo[model["log_alpha"]]
        season = pt.dot(pt.as_tensor(design.fourier), v["season"].T)  # periods x groups
        eta = (
            v["alpha_product"][rows.product_idx]
            + season[rows.time_idx, pool]
            + v["trend"][pool] * design.years[rows.time_idx]
            + v["elasticity"][pool] * rows.log_price
            + v["promo"][pool] * rows.promo
        )
        if family == "negbin":
            ref = negbin_loglik(eta, log_alpha, rows.y)
        else:
            ref = zinb_loglik(eta, log_alpha, memo[model["logit_zero"]][pool], rows.y)
        node = next(n for n in fg.apply_nodes if isinstance(n.op, RowsLogLik))
        fg.replace(node.outputs[0], ref - count_constant(log_alpha, rows.y), import_missing=True)
        plain = model_from_fgraph(fg, mutate_fgraph=True)
        rng = np.random.default_rng(3)
        point = {k: x + rng.normal(0, 0.3, np.shape(x)) for k, x in model.initial_point().items()}
        got, want = _logp_and_grads(model, point), _logp_and_grads(plain, point)
        assert got.keys() == want.keys()
        for name in got:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-8, err_msg=name)


def _logp_and_grads(model, point):
    """The model's log-density and its gradient per value variable, by name, at ``point``."""
    values = model.value_vars
    logp = model.logp()
    # Python linker, graph as built: quick to compile (the numba path is checked row by row above)
    fn = pytensor.function(
        values, [logp, *pytensor.grad(logp, values)], mode=Mode(linker="py", optimizer=None)
    )
    out = fn(*[point[v.name] for v in values])
    return {"logp": out[0], **{v.name: g for v, g in zip(values, out[1:], strict=True)}}


def test_numba_cache_key_of_the_fused_ops_follows_the_kernel_source(monkeypatch):
    """PyTensor keys an op's cached numba code by its class and props: without the kernels' source
    in the key, an edited or upgraded kernel would run the old compiled code."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    import forecast.model.likelihood as likelihood

    for op in (RowsLogLik("negbin"), CountConstant()):
        _, before = numba_funcify_and_cache_key(op)
        monkeypatch.setattr(likelihood, "KERNEL_VERSION", likelihood.KERNEL_VERSION + 1)
        _, after = numba_funcify_and_cache_key(op)
        monkeypatch.undo()
        assert before is not None and after is not None and before != after
