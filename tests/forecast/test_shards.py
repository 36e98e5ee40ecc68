"""Sharding without MCMC: the split, the stage-1 sample, the fixed-top model, combining shards."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest

from forecast import runs, shards
from forecast.config.options import ForecastConfig
from forecast.contract.paths import SamplePaths
from forecast.model.builder import build_model
from forecast.model.priors import DEFAULT_PRIORS
from forecast.prep.design import subset_design


@pytest.fixture(scope="module")
def prepared(tiny_data):
    return runs.prepare(tiny_data.sales, tiny_data.products, ForecastConfig(horizon=4))


def _every_product_once(parts, n):
    together = np.concatenate(parts)
    assert len(together) == n
    assert set(together.tolist()) == set(range(n))


def test_balanced_shards_hold_every_product_once_with_similar_rows(prepared):
    design = prepared.design
    parts = shards.assign(design, shards.ShardConfig(n_shards=3))
    assert len(parts) == 3
    _every_product_once(parts, len(design.products))
    rows = [design.n_obs[p].sum() for p in parts]
    assert max(rows) - min(rows) <= design.n_obs.max() + 1  # packed heaviest first
    again = shards.assign(design, shards.ShardConfig(n_shards=3))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))  # deterministic


def test_shards_by_attribute_keep_each_level_together(prepared):
    design = prepared.design
    by_category = shards.assign(design, shards.ShardConfig(by="category"))
    assert len(by_category) == len(design.levels["category"])
    _every_product_once(by_category, len(design.products))
    for part in by_category:
        assert len(set(design.level_idx["category"][part])) == 1
    packed = shards.assign(design, shards.ShardConfig(n_shards=2, by="category"))
    assert len(packed) == 2
    _every_product_once(packed, len(design.products))
    owner = {c: {i for i, p in enumerate(packed) if c in design.level_idx["category"][p]} for c in range(6)}
    assert all(len(v) <= 1 for v in owner.values())
    with pytest.raises(ValueError, match="not an attribute"):
        shards.assign(design, shards.ShardConfig(by="size"))


def test_stage1_sample_covers_every_level_with_sales(prepared):
    design = prepared.design
    sample = shards.stage1_sample(design, 8, "brand", seed=3)
    assert (design.n_obs[sample] > 0).all()
    for attr, idx in design.level_idx.items():
        with_sales = set(idx[design.n_obs > 0].tolist())
        assert set(idx[sample].tolist()) == with_sales, attr
    assert len(sample) < (design.n_obs > 0).sum()


def test_subset_design_keeps_the_clock_and_the_rows_of_its_products(prepared):
    design = prepared.design
    keep = np.array([0, 5, 7, 12])
    sub = subset_design(design, keep)
    assert list(sub.products) == list(design.products[keep])
    assert sub.dates.equals(design.dates) and sub.n_train == design.n_train
    assert len(sub.train) == design.n_obs[keep].sum()
    assert len(sub.future) == len(keep) * len(design.future_dates)
    for attr in design.levels:  # the same level keys, shrunk to those used
        np.testing.assert_array_equal(
            sub.levels[attr][sub.level_idx[attr]], design.levels[attr][design.level_idx[attr][keep]]
        )


def _shared(design):
    pool = design.levels["category"]
    return {
        "intercept": 0.2,
        "sigma_product": 0.8,
        **{f"sigma_{a}": 0.3 for a in design.levels},
        **{
            f"effect_{a}": pd.Series(np.linspace(-0.2, 0.2, len(lv)), index=lv)
            for a, lv in design.levels.items()
        },
        **{f"{c}_mu": 0.1 for c in ("trend", "elasticity", "promo")},
        **{f"{c}_sigma": 0.05 for c in ("trend", "elasticity", "promo", "season")},
        "season_mu": np.zeros(len(design.fourier_names)),
        "season": pd.DataFrame(0.05, index=pool, columns=design.fourier_names),
        "trend": pd.Series(0.01, index=pool),
        "elasticity": pd.Series(-1.2, index=pool),
        "promo": pd.Series(0.3, index=pool),
        "log_alpha": 1.0,
    }


def test_fixed_top_leaves_only_product_levels_free(prepared):
    design = prepared.design
    shared = _shared(design)
    model = build_model(design, DEFAULT_PRIORS, fixed=shared)
    assert {rv.name for rv in model.free_RVs} == {"alpha_product_w"}  # the product levels
    point = pm.draw([model["intercept"], model["effect_brand"], model["elasticity"]])
    assert point[0] == 0.2
    np.testing.assert_allclose(point[1], shared["effect_brand"].to_numpy())
    np.testing.assert_allclose(point[2], -1.2)
    default = {rv.name for rv in build_model(design, DEFAULT_PRIORS).free_RVs}
    assert {"intercept", "sigma_brand", "log_alpha", "elasticity_sigma"} <= default  # default untouched


def test_fixed_top_with_every_component_leaves_only_per_product_values_free(prepared):
    """A shard's stage 2 with the per-product deviations, the launch ramp and the level drift on:
    their catalog-wide scales and the ramp by group come from stage 1, and only what belongs to a
    product (its level, deviations and drift steps) is sampled; a group the fixed ramp does not
    name gets the ramp's mean."""
    from forecast.model.priors import PRODUCT_EFFECTS

    design = prepared.design
    pool = design.levels["category"]
    shared = _shared(design) | {
        **{f"{c}_product_sigma": 0.1 for c in PRODUCT_EFFECTS},
        "ramp_mu": -2.0,
        "ramp_group_sigma": 0.3,
        "ramp": pd.Series(-1.5, index=pool[:-1]),
        "drift_sigma": 0.2,
    }
    kwargs = {"product_effects": PRODUCT_EFFECTS, "launch_ramp": True, "level_drift": True}
    model = build_model(design, DEFAULT_PRIORS, fixed=shared, **kwargs)
    free = {rv.name for rv in model.free_RVs}
    assert free == {"alpha_product_w", "drift_z"} | {f"{c}_product_z" for c in PRODUCT_EFFECTS}
    ramp = pm.draw(model["ramp"])
    np.testing.assert_allclose(ramp, [-1.5] * (len(pool) - 1) + [-2.0])
    horizon = build_model(design, DEFAULT_PRIORS, fixed=shared, predict=True, **kwargs)
    assert {rv.name for rv in horizon.free_RVs} == (free - {"drift_z"}) | {"drift_future_z", "demand"}


def test_levels_stage1_never_saw_stay_free_under_the_fixed_scale(prepared):
    design = prepared.design
    shared = _shared(design)
    seen = design.levels["brand"][:-2]
    shared["effect_brand"] = shared["effect_brand"].loc[seen]
    model = build_model(design, DEFAULT_PRIORS, fixed=shared)
    assert {rv.name for rv in model.free_RVs} == {"alpha_product_w", "z_brand"}
    assert list(model.coords["brand_free"]) == list(design.levels["brand"][-2:])
    draws = pm.draw(model["effect_brand"], draws=200, random_seed=1)
    np.testing.assert_allclose(draws[:, :-2], np.tile(shared["effect_brand"].to_numpy(), (200, 1)))
    assert 0.2 < draws[:, -2:].std() < 0.4  # Normal(0, 0.3): pooled under the fixed sigma_brand


def test_combine_puts_shards_in_order_and_refuses_a_product_twice(prepared):
    """Shards arrive in any order: each one's paths are checked against those before it, written,
    and dropped (``Gathered``); ``combine`` then orders the rest by shard."""
    dates = prepared.design.future_dates

    def result(index, products, draws=5, dates=dates):
        values = np.full((draws, len(products), len(dates)), index)
        paths = SamplePaths(values=values, products=np.array(products), dates=dates)
        params = pd.DataFrame(
            {
                "parameter": [f"alpha_product[{p}]" for p in products] + ["z_brand[x]"],
                "variable": ["alpha_product"] * len(products) + ["z_brand"],
            }
        )
        diag = {"verdict": "converged", "problems": "", "max_rhat": 1.0 + index / 100, "divergences": index}
        return shards.ShardResult(
            index,
            pd.DataFrame({"product_id": products}),
            paths,
            pd.DataFrame({"product_id": products}),
            params,
            diag,
            1.0,
        )

    stage1_params = pd.DataFrame(
        {"parameter": ["sigma_brand", "alpha_product[a]"], "variable": ["sigma_brand", "alpha_product"]}
    )
    fitted = runs.Fitted(
        idata=None,
        diagnostics={"verdict": "converged", "problems": "", "max_rhat": 1.002, "divergences": 0},
        parameters=stage1_params,
    )
    stage1 = shards.Stage1(fitted, {}, np.array(["a"]), 1.0)
    gathered, written = shards.Gathered(), []
    for r in (result(1, ["c", "d"]), result(0, ["a", "b"])):
        kept = gathered.add(r, written.append)
        assert kept.paths.values is None and len(kept.paths.products) == 2  # dropped once written
    assert [list(p.products) for p in written] == [["c", "d"], ["a", "b"]]  # as they arrived
    assert (written[0].values == 1).all() and (written[1].values == 0).all()
    with pytest.raises(ValueError, match="written already"):
        gathered.add(gathered.results[0], written.append)
    forecasts, tables, diag = shards.combine(stage1, gathered.results)
    assert list(forecasts["product_id"]) == ["a", "b", "c", "d"]
    assert shards.describe(stage1, gathered.results)[0].endswith("2 shards of 2, 2 products by NUTS")
    params = set(tables["fit_diagnostics"]["parameter"])
    assert params == {
        "sigma_brand",
        "alpha_product[a]",
        "alpha_product[b]",
        "alpha_product[c]",
        "alpha_product[d]",
        "shard0/z_brand[x]",
        "shard1/z_brand[x]",
    }
    assert diag["max_rhat"] == 1.01 and diag["divergences"] == 1 and diag["verdict"] == "converged"
    for bad, match in (
        (result(2, ["b", "e"]), "more than one shard"),
        (result(2, ["e", "e"]), "more than one shard"),
        (result(2, ["e"], draws=6), "different numbers of sample paths"),
        (result(2, ["e"], dates=dates + pd.Timedelta(days=7)), "different dates"),
    ):
        with pytest.raises(ValueError, match=match):
            gathered.add(bad, written.append)
    assert len(written) == 2 and len(gathered.results) == 2  # nothing of a refused shard written
    with pytest.raises(ValueError, match="more than one shard"):
        shards.combine(stage1, [result(0, ["a", "b"]), result(1, ["b"])])


def test_sharding_is_part_of_the_run_config_and_its_hash():
    config = ForecastConfig()
    single = runs.configured(config)
    four = shards.configured_sharded(config, shards.ShardConfig(n_shards=4))
    by_category = shards.configured_sharded(config, shards.ShardConfig(by="category"))
    assert four["config"]["sharding"]["n_shards"] == 4
    assert len({single["config_hash"], four["config_hash"], by_category["config_hash"]}) == 3
    assert (
        four["config_hash"]
        == shards.configured_sharded(config, shards.ShardConfig(n_shards=4))["config_hash"]
    )


def test_stage2_is_conditional_where_only_the_levels_are_per_product():
    auto = shards.ShardConfig(n_shards=2)
    assert shards.stage2_method(ForecastConfig(), auto) == "conditional"
    assert shards.stage2_method(ForecastConfig(), shards.ShardConfig(n_shards=2, stage2="nuts")) == "nuts"
    for option in ({"launch_ramp": "on"}, {"level_drift": "on"}, {"product_effects": "elasticity"}):
        config = ForecastConfig().with_(**option)
        assert shards.stage2_method(config, auto) == "nuts"
        with pytest.raises(ValueError, match="need stage 2 by NUTS"):
            shards.stage2_method(config, shards.ShardConfig(n_shards=2, stage2="conditional"))
    with pytest.raises(ValueError, match="unknown stage 2"):
        shards.ShardConfig(n_shards=2, stage2="gibbs")
    shocks = ForecastConfig().with_(shared_shocks="on")  # stage 1's shocks, drawn once for every shard
    assert shards.stage2_method(shocks, auto) == "conditional"
    for config, sharding in (
        (shocks, shards.ShardConfig(n_shards=2, stage2="nuts")),
        (shocks.with_(level_drift="on"), auto),
    ):
        with pytest.raises(ValueError, match="needs stage 2 by conditional sampling"):
            shards.stage2_method(config, sharding)


def _two_draws_of_the_top(design, shift: float):
    """A top whose two draws differ only in every group's seasonality over the horizon: +shift,
    then -shift (the history the same, so the products' levels are too)."""
    from forecast.model.conditional import TopDraws

    n, groups = len(design.products), design.n_pool
    seasons = np.zeros((2, groups, len(design.dates)))
    seasons[0, :, design.n_train :], seasons[1, :, design.n_train :] = shift, -shift
    ones = np.ones((2, n))
    return TopDraws(
        group_mean=0.5 * ones,
        sigma_product=np.array([0.5, 0.5]),
        season=seasons,
        trend=0 * ones,
        elasticity=-1.0 * ones,
        promo=0.3 * ones,
        log_alpha=np.log(20.0) * ones,
    )


def test_every_shards_path_i_reads_the_same_draw_of_the_top(prepared):
    """With draws of the top far apart (every group's horizon seasonality +1 or -1), each shard's paths
    from the first draw sell far more than those from the second, path for path in every shard:
    the shards' sums stay draws of the total. The tables hold every product."""
    design = prepared.design
    top = _two_draws_of_the_top(design, 1.0)
    config = ForecastConfig(horizon=4).with_(sample_paths=40)
    results = []
    for shard in shards.split(prepared, shards.ShardConfig(n_shards=2)):
        result = shards.fit_shard_conditional(shard, top.subset(design, shard.positions), config)
        assert result.paths.values.shape == (40, len(shard.design.products), 4)
        assert set(result.effects["product_id"]) == set(shard.design.products)
        assert len(result.parameters) == len(shard.design.products)
        results.append(result)
    for result in results:
        totals = result.paths.values.sum(axis=(1, 2))
        assert totals[:20].min() > totals[20:].max()  # paths 0-19 read draw 0, 20-39 draw 1


def test_a_shard_reads_its_products_groups_of_the_catalogs_top(prepared):
    """``TopDraws.subset``: a shard holding some pooling groups only reads their rows of the
    catalog's seasonality, each product its own group's."""
    design = prepared.design
    top = _two_draws_of_the_top(design, 0.0)
    top.season[:, :, :] = np.arange(design.n_pool)[None, :, None]  # group g's seasonality is g
    for part in shards.assign(design, shards.ShardConfig(by="category")):
        sub = top.subset(design, part)
        shard_design = subset_design(design, part)
        np.testing.assert_array_equal(
            sub.season[0, shard_design.pool_idx, 0], design.pool_idx[np.sort(part)].astype(float)
        )


@pytest.mark.slow
def test_with_the_whole_catalog_in_stage1_the_drawn_levels_are_the_joint_posteriors(prepared):
    """Drawing each level given stage 1's draws of the top is exact: with every product in stage 1
    its draws are the joint posterior's, so the conditional stage 2's levels match the joint NUTS
    fit's (the same products' ``alpha_product``) in mean and spread."""
    config = ForecastConfig(horizon=4, seed=3).with_(draws=500, tune=400, sample_paths=1000)
    sharding = shards.ShardConfig(n_shards=2, sample_products=10_000)
    stage1 = shards.fit_stage1(prepared, config, sharding)
    joint = stage1.fitted.idata.posterior["alpha_product"]
    results = [
        shards.fit_shard_conditional(s, stage1.top.subset(prepared.design, s.positions), config)
        for s in shards.split(prepared, sharding)
    ]
    effects = pd.concat([r.effects for r in results]).set_index("product_id")
    products = list(joint["product"].values)
    mean = joint.mean(("chain", "draw")).to_series()[products]
    sd = joint.std(("chain", "draw")).to_series()[products]
    drawn = effects.loc[products]
    z = (drawn["pooled_effect"] - mean) / sd
    assert np.abs(z).max() < 0.5, z.abs().sort_values().tail()
    ratio = drawn["pooled_sd"] / sd
    assert ratio.between(0.8, 1.25).mean() >= 0.9, ratio.describe()
    assert abs(np.median(ratio) - 1) < 0.08


def test_a_default_run_shards_a_catalog_only_from_the_large_catalog_size_up():
    config = ForecastConfig()
    assert shards.large_catalog(shards.LARGE_CATALOG - 1, config) is None
    large = shards.large_catalog(25_000, config)
    assert large.stage2 == "conditional" and large.sample_products == shards.LARGE_STAGE1_PRODUCTS
    assert large.n_shards == -(-25_000 // shards.LARGE_SHARD_PRODUCTS)
    # stage 1, the path's one costly step, gets the larger attempt budget; a larger one set stays
    assert (
        shards.stage1_config(config, large).attempt_budget
        == shards.LARGE_STAGE1_BUDGET
        > config.attempt_budget
    )
    generous = config.with_(attempt_budget=10.0)
    assert shards.stage1_config(generous, large).attempt_budget == 10.0
    assert shards.stage1_config(config, shards.ShardConfig(n_shards=2)) is config
    for option in ({"launch_ramp": "on"}, {"product_effects": "trend"}):
        assert shards.large_catalog(25_000, config.with_(**option)) is None  # the single model
    # shared shocks belong to the top: stage 1 fits them, stage 2 reads them
    assert shards.large_catalog(25_000, config.with_(shared_shocks="on")) == large
