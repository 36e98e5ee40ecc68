import arviz as az
import numpy as np

from forecast.model.diagnostics import (
    checked_parameters,
    failures,
    is_hyperparameter,
    parameter_table,
    role,
    verdict,
)


def _idata(shift: float = 0.0, draws: int = 1000, diverging: int = 0, seed: int = 0, **shifted):
    """Two chains of independent normal draws; ``shift`` moves the second chain of ``sigma_brand``,
    ``shifted`` (name: shift) that of other variables (``z_brand``, ``alpha_product``)."""
    rng = np.random.default_rng(seed)
    post = {
        "sigma_brand": rng.normal(0, 1, (2, draws)) + np.array([[0.0], [shift]]),
        "alpha_product": rng.normal(0, 1, (2, draws, 3)),
        "z_brand": rng.normal(0, 1, (2, draws, 2)),
    }
    for name, by in shifted.items():
        post[name][1] += by
    div = np.zeros((2, draws), dtype=bool)
    div.flat[:diverging] = True
    stats = {"diverging": div, "energy": rng.normal(0, 1, (2, draws))}
    return az.from_dict(posterior=post, sample_stats=stats)


def test_hyperparameters_are_the_shared_parameters():
    assert is_hyperparameter("sigma_brand") and is_hyperparameter("promo_mu")
    assert is_hyperparameter("trend_sigma") and is_hyperparameter("log_alpha")
    assert not is_hyperparameter("alpha_product") and not is_hyperparameter("z_color")


def test_the_gate_reads_each_variable_by_its_role():
    assert role("sigma_brand") == role("elasticity_avg") == role("season_mu") == role("log_alpha") == "hyper"
    assert role("effect_brand") == role("season") == role("trend") == "shared"
    assert role("alpha_product") == "product"
    for raw in ("z_brand", "trend_w", "elasticity_mu_z", "alpha_product_w", "season_free"):
        assert role(raw) == "raw"


def test_raw_variables_of_a_parameterisation_are_reported_but_not_gated():
    """The effects are built from them and checked themselves; a raw variable's R-hat alone does
    not fail a fit (with many of them, one would by chance)."""
    idata = _idata(z_brand=1.0)
    table = parameter_table(idata, ["sigma_brand", "alpha_product", "z_brand"])
    assert table.loc[table["variable"] == "z_brand", "r_hat"].max() > 1.1
    assert failures(idata, table) == [] and verdict(idata, table)["verdict"] == "converged"


def test_a_product_level_whose_chains_disagree_fails_the_gate():
    idata = _idata(alpha_product=1.0)
    found = failures(idata, parameter_table(idata, ["sigma_brand", "alpha_product"]))
    assert [f.check for f in found] == ["rhat"] and found[0].parameter.startswith("alpha_product[")


def test_well_mixed_chains_pass():
    idata = _idata()
    table = parameter_table(idata, ["sigma_brand", "alpha_product"])
    assert len(table) == 4 and table["hyperparameter"].sum() == 1
    v = verdict(idata, table)
    assert v["verdict"] == "converged" and v["problems"] == ""


def test_disagreeing_chains_fail_with_advice():
    idata = _idata(shift=1.0)
    v = verdict(idata, parameter_table(idata, ["sigma_brand", "alpha_product"]))
    assert v["verdict"] == "not converged"
    assert "R-hat" in v["problems"] and "sigma_brand" in v["problems"]


def test_low_ess_on_a_hyperparameter_and_divergences_fail():
    idata = _idata(draws=120, diverging=3)
    v = verdict(idata, parameter_table(idata, ["sigma_brand", "alpha_product"]))
    assert v["verdict"] == "not converged"
    assert "ESS" in v["problems"] and "3 divergent transitions" in v["problems"]
    assert v["divergences"] == 3


def test_checked_parameters_add_derived_hyperparameters_and_effects_not_constants(tiny_design):
    from forecast.model.builder import build_model
    from forecast.model.priors import DEFAULT_PRIORS

    design = tiny_design
    model = build_model(design, DEFAULT_PRIORS)
    names = checked_parameters(model)
    assert {rv.name for rv in model.free_RVs} <= set(names)
    assert {"elasticity_mu", "promo_mu", "trend_mu", "effect_brand"} <= set(names)
    assert "demand_loglik" not in names
    # what the forecasts read: each pooling group's coefficients and each product's level
    assert {"elasticity", "season", "alpha_product"} <= set(names)
    fixed = build_model(design, DEFAULT_PRIORS, fixed={"elasticity_mu": -1.5, "sigma_brand": 0.3})
    names = checked_parameters(fixed)
    assert "elasticity_mu" not in names and "sigma_brand" not in names  # constants: no chains to check
