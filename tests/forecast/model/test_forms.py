"""How each part of the model is written, from the data: the same model, a geometry per catalog."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import ancestors

from forecast.contract.schema import Hierarchy
from forecast.model import builder
from forecast.model.builder import build_model, centering_data
from forecast.model.forms import (
    MIN_SCALE_SHARE,
    SPLIT_BELOW,
    SURE_DF,
    Spread,
    choose_forms,
    contrast_exponents,
    effect_basis,
    exponent_at,
    low_scale,
    pilot_scales,
    zero_sum_basis,
)
from forecast.model.priors import DEFAULT_PRIORS
from forecast.prep.calendar import infer_frequency
from forecast.prep.design import build_design
from forecast.prep.synthetic import generate_retail_data


def _design(data, hierarchy=None, horizon=4):
    freq = infer_frequency(data.sales["date"])
    return build_design(data.sales, data.products, hierarchy or Hierarchy(), freq, horizon)


@pytest.mark.parametrize("exponent", [0.0, 0.5, 1.0])
def test_product_levels_have_the_same_prior_whatever_their_centering(tiny_design, exponent):
    """``alpha = group_mean + sigma^(1-a) * (w - a * group_mean)``, ``w ~ Normal(a * group_mean,
    sigma^a)``: a level's deviation from its groups is Normal(0, sigma) for every exponent."""
    n = len(tiny_design.products)
    model = build_model(tiny_design, DEFAULT_PRIORS, forms={"product": np.full(n, exponent)})
    group_mean = model["intercept"] + sum(
        model[f"effect_{a}"][tiny_design.level_idx[a]] for a in tiny_design.levels
    )
    with model:
        draws = pm.draw(
            [model["alpha_product"] - group_mean, model["sigma_product"]], draws=4000, random_seed=5
        )
    z = draws[0] / draws[1][:, None]
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


def test_a_catalog_without_price_changes_or_seasonal_differences_gets_non_centered_forms():
    flat = generate_retail_data(
        n_products=150, seed=4, price_changes=False, promo_rate=0.0, season_amplitude=(0, 0)
    )
    design = _design(flat)
    scales = pilot_scales(design, DEFAULT_PRIORS)
    forms = choose_forms(design, DEFAULT_PRIORS)
    assert forms["elasticity"] == forms["promo"] == 0.0  # nothing informs them: the data say nothing
    assert scales["season"].scale < 0.2 * DEFAULT_PRIORS["season_group_sigma"]  # the pre-fit finds no spread
    assert forms["season"] < 0.2
    seasonal = _design(generate_retail_data(n_products=150, seed=4, season_amplitude=(0.3, 1.0)))
    assert (
        choose_forms(seasonal, DEFAULT_PRIORS)["season"] > 0.7
    )  # categories' cycles differ, thousands of rows: mostly centered, even the least informed


def test_product_levels_follow_their_history_and_the_catalogs_size():
    data = generate_retail_data(n_products=300, seed=2)
    design = _design(data)
    a = choose_forms(design, DEFAULT_PRIORS)["product"]
    assert a.shape == (len(design.products),)
    assert np.all(a[design.n_obs == 0] == 0)  # no rows: nothing to pin the level, non-centered
    long = design.n_obs >= 100
    assert np.median(a[long]) > 0.8  # pinned by two years of sales: near centered
    tiny = _design(generate_retail_data(n_products=6, seed=2))
    # Six products: their groups' mean is itself uncertain, so even long histories are not centered.
    assert choose_forms(tiny, DEFAULT_PRIORS)["product"].max() < np.median(a[long])


def test_few_levels_reach_far_below_their_estimated_scale():
    assert low_scale(Spread(0.5, 2)) < 0.06 < low_scale(Spread(0.5, 6)) < low_scale(Spread(0.5, 30)) < 0.5
    assert low_scale(Spread(0.5, 0)) == 0.5 * MIN_SCALE_SHARE  # nothing to go on: the floor


def test_exponents_are_data_of_the_compiled_model(tiny_design):
    """A retry in another geometry samples the same graph: the exponents are shared variables."""
    forms = choose_forms(tiny_design, DEFAULT_PRIORS)
    model = build_model(tiny_design, DEFAULT_PRIORS, forms=forms)
    names = set(centering_data(forms)) - {"centering_logit_zero"}  # a zero-inflated model's only
    shared = {v.name for v in ancestors([model.logp()]) if isinstance(v, SharedVariable)}
    assert names <= shared
    assert {"centering_alpha_product", "centering_effect_brand", "centering_season"} <= names


def test_an_attribute_with_one_level_has_no_effect_to_sample(tiny_data):
    products = tiny_data.products.assign(color="black")
    data = type(tiny_data)(tiny_data.sales, products, tiny_data.truth, tiny_data.mean)
    model = build_model(_design(data), DEFAULT_PRIORS)
    names = {rv.name for rv in model.free_RVs}
    assert "sigma_color" not in names and "z_color" not in names
    assert pm.draw(model["effect_color"]).tolist() == [0.0]


def test_history_shorter_than_a_year_has_no_yearly_cycle():
    short = generate_retail_data(n_products=40, n_periods=20, seed=3)
    design = _design(short)
    assert design.fourier.shape[1] == 0
    model = build_model(design, DEFAULT_PRIORS)
    assert "season" not in model.named_vars and "season_sigma" not in model.named_vars
    long = _design(generate_retail_data(n_products=40, n_periods=60, seed=3))
    assert long.fourier.shape[1] == 6


def test_a_part_at_a_larger_scale_is_written_more_centered(tiny_design):
    spreads = pilot_scales(tiny_design, DEFAULT_PRIORS)
    for part in ("trend", "groups:brand", "product"):
        low = np.mean(exponent_at(tiny_design, DEFAULT_PRIORS, spreads, part, 1e-3))
        high = np.mean(exponent_at(tiny_design, DEFAULT_PRIORS, spreads, part, 5.0))
        assert 0 <= low < high <= 1, part


def test_the_shock_prefit_reads_the_shared_shocks_scale_and_writes_them_for_it():
    """The pre-fit of the shared shocks (``shock_scales``): on a catalog whose products share an
    AR(1) shock of 0.1 a week it finds a scale near 0.1, on the same catalog without shocks one near
    zero; so a large catalog's shocks are written centered only where they are there to pin."""
    with_shocks = _design(
        generate_retail_data(n_products=200, n_periods=104, seed=1, shock_sigma=0.1, shock_phi=0.7)
    )
    without = _design(generate_retail_data(n_products=200, n_periods=104, seed=1))
    found = pilot_scales(with_shocks, DEFAULT_PRIORS)["shock"].scale
    assert 0.06 < found < 0.14, found
    none = pilot_scales(without, DEFAULT_PRIORS)["shock"].scale
    assert none <= 0.01, none
    assert choose_forms(without, DEFAULT_PRIORS)["shocks"]["common"] < 0.05
    big = _design(
        generate_retail_data(n_products=1000, n_periods=104, seed=1, shock_sigma=0.1, shock_phi=0.7)
    )
    assert choose_forms(big, DEFAULT_PRIORS)["shocks"]["common"] > 0.5  # a period of 1,000 pins its shock


def test_the_shock_prefit_weighs_rows_by_information_and_reads_noise_apart_from_what_they_share():
    """The pre-fit's cells (``_shock_cells``): rows count by their Fisher weight, and the noise is
    their scatter about what their cell shares. On the shock benchmark's seed-4 catalog (a few
    products sell most units), a period's noise is near its rows' true sampling variance (the
    generator's negative binomial at the true means); read by weight, a period's ratio is far less
    noisy than read by units; and its shocks of 0.1 a week are found (read
    by units, they were not: p 0.46)."""
    from forecast.contract.schema import DATE, PRODUCT
    from forecast.model.forms import _shock_cells, product_means, row_weights, shared_shocks_found

    data = generate_retail_data(
        n_products=200, n_periods=104, horizon=13, seed=4, shock_sigma=0.1, shock_group_sigma=0.05,
        shock_phi=0.7,
    )  # fmt: skip
    history = data.sales[data.sales[DATE] < sorted(data.mean[DATE].unique())[104]]
    design = build_design(history, data.products, Hierarchy(), infer_frequency(history[DATE]), 13)
    rows = design.train
    w = row_weights(design, DEFAULT_PRIORS)
    m = product_means(design)[rows.product_idx]
    true_mean = data.mean.set_index([PRODUCT, DATE])["mean"]
    mu = true_mean.reindex(
        pd.MultiIndex.from_arrays([design.products[rows.product_idx], design.dates[rows.time_idx]])
    ).to_numpy()
    true_noise = np.bincount(rows.time_idx, weights=w**2 * mu * (1 + mu / data.truth.alpha) / m**2)
    noise = _shock_cells(design, DEFAULT_PRIORS)[2].sum(axis=1)
    assert 0.8 < np.median(noise / true_noise) < 1.2, np.median(noise / true_noise)
    # a period's log ratio read by weight is far less noisy than read by units
    var = mu * (1 + mu / data.truth.alpha)
    by_units = np.bincount(rows.time_idx, weights=var) / np.bincount(rows.time_idx, weights=m) ** 2
    by_weight = true_noise / np.bincount(rows.time_idx, weights=w) ** 2
    assert np.median(by_weight / by_units) < 0.8, np.median(by_weight / by_units)
    assert shared_shocks_found(design, DEFAULT_PRIORS)["found"]


def _one_product_size(n_products=60, seed=3, launched_weeks=None, rare=1):
    """A catalog whose ``rare`` colours (``rare``, ``rare1``, ...) are one product each (sold only
    its last ``launched_weeks`` weeks, if given), beside three colours of about twenty."""
    data = generate_retail_data(n_products=n_products, seed=seed)
    colors = np.array(["red", "green", "blue"])[np.arange(n_products) % 3]
    colors[:rare] = ["rare"] + [f"rare{k}" for k in range(1, rare)]
    products = data.products.assign(color=colors)
    sales = data.sales
    if launched_weeks is not None:
        for product in products["product_id"].iloc[:rare]:
            mine = sales["product_id"] == product
            last = np.sort(sales.loc[mine, "date"].unique())[-launched_weeks:]
            sales = sales[~mine | sales["date"].isin(last)]
    return type(data)(sales, products, data.truth, data.mean)


def test_hardly_known_levels_leave_the_contrasts_among_the_others_centered():
    """Where one exponent for all an attribute's levels would be set by levels hardly known (two
    colours of one product each, launched last week), each contrast is written for its own
    information: the ones among colours of twenty products pinned (partially centered), the ones
    setting the new products' colours against them not. One exponent for all left the pinned ones
    on a ridge with their scale."""
    design = _design(_one_product_size(launched_weeks=1, rare=2))
    basis = effect_basis(design, DEFAULT_PRIORS, "color")
    rare = [list(design.levels["color"]).index(c) for c in ("rare", "rare1")]
    assert basis.shape == (5, 4) and np.count_nonzero(basis[rare, :2]) == 0
    spreads = pilot_scales(design, DEFAULT_PRIORS) | {"groups:color": Spread(0.2, SURE_DF)}
    a = choose_forms(design, DEFAULT_PRIORS, scales=spreads)["groups"]["color"]
    assert a.shape == (4,) and a[:2].min() > 0.5 and a[2:].max() < SPLIT_BELOW
    # the remedy's exponents at another scale keep the structure the model was built with
    again = exponent_at(design, DEFAULT_PRIORS, spreads, "groups:color", 0.01)
    assert np.shape(again) == (4,) and again.max() < a.max()
    # one exponent (the tenth percentile of the levels') would write them all non-centered
    one = choose_forms(design, DEFAULT_PRIORS, scales=spreads, split=set())["groups"]["color"]
    assert np.ndim(one) == 0 and one < SPLIT_BELOW


def test_levels_about_as_well_known_share_one_exponent(tiny_design):
    """Where the one exponent is moderate (the test catalog's), it stays one: measured, it served
    better than per-contrast ones there (benchmarks/README.md, "Contrasts per level")."""
    spreads = pilot_scales(tiny_design, DEFAULT_PRIORS)
    forms = choose_forms(tiny_design, DEFAULT_PRIORS, scales=spreads)["groups"]
    assert all(np.ndim(f) == 0 for f in forms.values())
    assert SPLIT_BELOW < forms["category"] < 1
    # and the model is then written as before: no contrasts per level, no shear of the intercept
    model = build_model(tiny_design, DEFAULT_PRIORS, forms={"groups": forms})
    assert "intercept" in {rv.name for rv in model.free_RVs} and "contrasts_category" not in model.named_vars


def test_a_level_without_rows_does_not_spoil_the_other_contrasts():
    """A brand-new colour (no rows yet) is its own last contrast, uninformed; the contrasts among
    the others keep their information."""
    info = np.array([0.0, 50.0, 60.0, 70.0])
    basis = zero_sum_basis(np.zeros(4, dtype=np.int64), rank=-info)
    a = contrast_exponents(basis, info, 0.3)
    assert a[:2].min() > 0.75 and a[2] < 1e-6


def test_effects_are_zero_sum_normal_whatever_their_contrasts_centering():
    design = _design(_one_product_size())
    model = build_model(design, DEFAULT_PRIORS, forms={"groups": {"color": np.array([1.0, 0.3, 0.0])}})
    effect, sigma = pm.draw([model["effect_color"], model["sigma_color"]], draws=6000, random_seed=4)
    z = effect / sigma[:, None]
    np.testing.assert_allclose(z.sum(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.cov(z.T), np.eye(4) - 0.25, atol=0.06)


def test_the_intercept_sampled_plus_the_weighted_effects_is_the_same_model(monkeypatch):
    """The intercept is sampled plus the effects' information-weighted average (the level the rows
    pin): at every point the density is the unsheared model's at the intercept it gives, and the
    colour of one product barely moves that level while the others do."""
    design = _design(_one_product_size(launched_weeks=2))
    forms = {"product": "centered", "groups": {"color": np.array([0.8, 0.8, 0.0])}}
    sheared = build_model(design, DEFAULT_PRIORS, forms=forms)
    monkeypatch.setattr(builder, "_weighted_effects", lambda design, priors, form, shared: None)
    plain = build_model(design, DEFAULT_PRIORS, forms=forms)
    assert "intercept_total" in sheared.named_vars and "intercept_total" not in plain.named_vars
    intercept = sheared.compile_fn(
        sheared.replace_rvs_by_values([sheared["intercept"]])[0],
        inputs=sheared.value_vars,
        on_unused_input="ignore",
    )
    logp_sheared, logp_plain = sheared.compile_logp(), plain.compile_logp()
    rng = np.random.default_rng(3)
    for _ in range(3):
        point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in sheared.initial_point().items()}
        value = intercept(point)
        assert abs(value - point["intercept_total"]) > 1e-3  # the shear moved it
        mapped = {k: v for k, v in point.items() if k != "intercept_total"} | {"intercept": value}
        np.testing.assert_allclose(logp_sheared(point), logp_plain(mapped), rtol=1e-9)
    weights = builder.level_weights(design, DEFAULT_PRIORS, "color")
    rare = list(design.levels["color"]).index("rare")
    assert abs(weights.sum() - 1) < 1e-12 and weights[rare] < 0.05 < np.delete(weights, rare).min()
