import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest

from forecast.contract.schema import Hierarchy
from forecast.model import builder as model_module
from forecast.model.builder import build_model, zero_sum_basis
from forecast.model.diagnostics import checked_parameters
from forecast.model.likelihood import negbin_loglik
from forecast.model.priors import DEFAULT_PRIORS
from forecast.prep.calendar import infer_frequency
from forecast.prep.design import build_design


def test_fast_likelihood_equals_pymc_negative_binomial():
    rng = np.random.default_rng(0)
    y = rng.negative_binomial(1.5, 0.2, 2000)
    eta = rng.normal(0.5, 1.2, 2000)
    for log_alpha in (-1.0, 0.3, 2.5):
        fast = negbin_loglik(pt.as_tensor(eta), pt.as_tensor(np.float64(log_alpha)), y).eval()
        ref = pm.logp(pm.NegativeBinomial.dist(mu=np.exp(eta), alpha=np.exp(log_alpha)), y).sum().eval()
        np.testing.assert_allclose(fast, ref, rtol=1e-10)


def _design(data, hierarchy=None):
    freq = infer_frequency(data.sales["date"])
    return build_design(data.sales, data.products, hierarchy or Hierarchy(), freq, 6)


def test_model_has_a_pooled_effect_per_group_level_and_product(tiny_data, tiny_design):
    design = tiny_design
    model = build_model(design, DEFAULT_PRIORS)
    names = {rv.name for rv in model.free_RVs}
    assert {"z_category", "z_brand", "z_color", "sigma_category", "sigma_brand", "sigma_color"} <= names
    assert model.named_vars_to_dims["alpha_product"] == ("product",)
    assert len(model.coords["product"]) == len(tiny_data.products)
    assert len(model.coords["brand"]) == len(design.levels["brand"])


def test_prior_predictive_demand_stays_plausible(tiny_design):
    """Simulated weekly demand from the priors alone: mostly single digits, rarely absurd."""
    design = tiny_design
    model = build_model(design, DEFAULT_PRIORS, predict=False)
    with model:
        prior = pm.sample_prior_predictive(draws=300, random_seed=1, var_names=["alpha_product", "log_alpha"])
    level = np.exp(prior.prior["alpha_product"].values.ravel())
    assert 0.05 < np.median(level) < 20
    assert np.quantile(level, 0.99) < 5_000
    # the horizon build draws counts of the same shape as its rows
    pred = build_model(design, DEFAULT_PRIORS, predict=True)
    with pred:
        sim = pm.sample_prior_predictive(draws=200, random_seed=2, var_names=["demand"])
    demand = sim.prior["demand"].values
    assert demand.shape[-1] == len(design.future)
    assert np.median(demand) < 20
    assert (demand > 10_000).mean() < 0.01


def test_custom_hierarchy_builds(tiny_data):
    products = tiny_data.products.rename(columns={"category": "region", "brand": "store"})
    products["size"] = np.where(np.arange(len(products)) % 2, "S", "L")
    data = type(tiny_data)(tiny_data.sales, products, tiny_data.truth, tiny_data.mean)
    design = _design(data, Hierarchy(("region", "store"), ("color", "size")))
    model = build_model(design, DEFAULT_PRIORS)
    names = {rv.name for rv in model.free_RVs}
    assert {"z_region", "z_store", "z_color", "z_size"} <= names
    assert model.named_vars_to_dims["season"] == ("region", "fourier")


def test_zero_inflated_likelihood_equals_pymc():
    from forecast.model.likelihood import zinb_loglik

    rng = np.random.default_rng(1)
    y = np.where(rng.uniform(size=1500) < 0.3, 0, rng.negative_binomial(2.0, 0.3, 1500))
    eta = rng.normal(0.3, 1.0, 1500)
    logit_zero = rng.normal(-1.0, 0.5, 1500)
    la = np.float64(0.8)
    fast = zinb_loglik(pt.as_tensor(eta), pt.as_tensor(la), pt.as_tensor(logit_zero), y).eval()
    psi = 1 / (1 + np.exp(logit_zero))  # PyMC's psi: probability of the count component
    ref = (
        pm.logp(pm.ZeroInflatedNegativeBinomial.dist(psi=psi, mu=np.exp(eta), alpha=np.exp(la)), y)
        .sum()
        .eval()
    )
    np.testing.assert_allclose(fast, ref, rtol=1e-9)


def test_no_pooling_model_has_no_hyperpriors(tiny_design):
    design = tiny_design
    model = build_model(design, DEFAULT_PRIORS, pooling="none")
    names = {rv.name for rv in model.free_RVs}
    assert not any(n.startswith("sigma_") or n.endswith(("_sigma", "_mu")) for n in names)
    assert "alpha_product" in names and "intercept" not in names
    zinb = build_model(design, DEFAULT_PRIORS, likelihood="zinb")
    assert "logit_zero_sigma" in {rv.name for rv in zinb.free_RVs}
    assert "logit_zero_mu" in checked_parameters(zinb)


def test_the_fixed_auto_form_centers_group_effects_where_every_level_holds_enough_products(
    tiny_design, monkeypatch
):
    design = tiny_design  # 30 products: a few per level
    names = {rv.name for rv in build_model(design, DEFAULT_PRIORS, forms={"groups": "auto"}).free_RVs}
    assert {"z_category", "z_brand", "z_color"} <= names and "effect_category" not in names
    fewest = min(np.bincount(idx).min() for idx in design.level_idx.values())
    monkeypatch.setattr(model_module, "CENTER_MIN_PRODUCTS", fewest)
    names = {rv.name for rv in build_model(design, DEFAULT_PRIORS, forms={"groups": "auto"}).free_RVs}
    assert {"effect_category", "effect_color"} <= names and "z_color" not in names
    # Brands nest in categories: always written through their within-category contrasts.
    assert "z_brand" in names and "effect_brand" not in names


@pytest.mark.parametrize(("form", "offsets"), [("average", "elasticity_z"), ("partial", "elasticity_w")])
def test_pooled_components_written_through_their_average_keep_the_model(tiny_design, form, offsets):
    """The average form, its offsets non-centered or half-centered, is a reparameterisation: the
    prior of the shared mean, the scale and the groups' coefficients is that of
    ``c_g = c_mu + scale * z_g`` with independent ``z_g``."""
    design = tiny_design
    model = build_model(design, DEFAULT_PRIORS, forms={"elasticity": form})
    assert {"elasticity_avg", "elasticity_mu_z", offsets} <= {rv.name for rv in model.free_RVs}
    with model:
        prior = pm.sample_prior_predictive(
            draws=20_000, random_seed=3, var_names=["elasticity_mu", "elasticity_sigma", "elasticity"]
        ).prior
    mu = prior["elasticity_mu"].values.ravel()
    scale = prior["elasticity_sigma"].values.ravel()
    coef = prior["elasticity"].values.reshape(len(mu), -1)
    z = (coef - mu[:, None]) / scale[:, None]  # independent standard normals in the written model
    mu0, s0 = DEFAULT_PRIORS["elasticity_mu"], DEFAULT_PRIORS["elasticity_sigma"]
    assert abs(mu.mean() - mu0) < 0.03 and abs(mu.std() / s0 - 1) < 0.03
    assert abs(scale.mean() / DEFAULT_PRIORS["elasticity_group_sigma"] - 1) < 0.03
    assert np.all(np.abs(z.mean(axis=0)) < 0.03) and np.all(np.abs(z.std(axis=0) - 1) < 0.03)
    corr = np.corrcoef(np.column_stack([z, mu, np.log(scale)]), rowvar=False)
    assert np.abs(corr[np.triu_indices_from(corr, 1)]).max() < 0.03


def _numba_cache_key(model):
    """The key numba's cache stores the model's compiled logp and gradient under (None: uncacheable)."""
    from pytensor.link.numba.dispatch.basic import numba_funcify_ensure_cache

    fn = model.logp_dlogp_function(mode="NUMBA", ravel_inputs=True)._pytensor_function
    return numba_funcify_ensure_cache(fn.maker.fgraph)[1]


def test_compiled_model_is_reused_for_next_weeks_data(tiny_data):
    """The scheduled weekly run compiles nothing new: the model on one more week of the same
    catalog's sales has the same numba cache key as the week before's, and it has one at all (no
    uncacheable op, no data baked into the graph as constants)."""
    sales = tiny_data.sales
    earlier = sales[sales["date"] < sales["date"].max()]
    keys = []
    for s in (earlier, sales):
        freq = infer_frequency(s["date"])
        design = build_design(s, tiny_data.products, Hierarchy(), freq, 6)
        keys.append(_numba_cache_key(build_model(design, DEFAULT_PRIORS)))
    assert keys[0] is not None
    assert keys[0] == keys[1]


def test_zero_sum_basis_gives_each_group_a_zero_sum_normal():
    groups = np.array([0, 0, 1, 1, 1, 2, 0])
    basis = zero_sum_basis(groups)
    assert basis.shape == (7, 7 - 3)  # a group of n levels has n - 1 free coordinates
    np.testing.assert_allclose(basis.T @ basis, np.eye(4), atol=1e-12)
    expected = np.zeros((7, 7))  # ZeroSumNormal(1)'s covariance, group by group
    for g in range(3):
        m = groups == g
        expected[np.ix_(m, m)] = np.eye(m.sum()) - 1 / m.sum()
    np.testing.assert_allclose(basis @ basis.T, expected, atol=1e-12)


def test_nested_effects_sum_to_zero_within_their_parents(tiny_design):
    """Brands sum to zero within their category, so the category's effect is its brands' mean
    and is not traded against it; the categories still sum to zero over the catalog."""
    model = build_model(tiny_design, DEFAULT_PRIORS)
    cats, brands = pm.draw([model["effect_category"], model["effect_brand"]], draws=50, random_seed=2)
    parent = pd.Index(tiny_design.levels["brand"]).str.split("/").str[0]
    for cat in tiny_design.levels["category"]:
        np.testing.assert_allclose(brands[:, parent == cat].sum(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(cats.sum(axis=1), 0, atol=1e-9)
    assert brands.std(axis=0).min() > 0.01 and cats.std(axis=0).min() > 0.01


def test_zero_sum_basis_takes_levels_in_rank_order():
    """Ranked, the first contrast sets the two first-ranked levels against each other and the
    last sets the last-ranked against all before it: still a ZeroSumNormal's basis."""
    groups = np.zeros(4, dtype=np.int64)
    basis = zero_sum_basis(groups, rank=np.array([2.0, 0.0, 3.0, 1.0]))  # order 1, 3, 0, 2
    np.testing.assert_allclose(basis.T @ basis, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(basis @ basis.T, np.eye(4) - 0.25, atol=1e-12)
    assert np.flatnonzero(basis[:, 0]).tolist() == [1, 3]
    assert basis[2, 2] == basis[:, 2].min() < 0 and np.all(basis[[0, 1, 3], 2] > 0)
