"""Statistical claims, tested on real fits with fixed seeds (slow: a few minutes in all).

One synthetic catalog of 200 products over 104 weeks plus 13 held-out weeks. The model is fitted
with its defaults (nutpie, 2 chains) on the 104 weeks; the held-out weeks are forecast with the
retailer's planned prices and promotions (the generator's own), then scored. A second data set,
the same weeks "thinned" (20 products' history hidden, 20 others' cut to their last weeks), is
fitted by the hierarchical model and by the no-pooling model of the same form: cold start, and
what pooling adds where history is short.
"""

import numpy as np
import pandas as pd
import pytest

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.contract.segments import is_new
from forecast.evaluation.scores import crps_samples, randomized_pit
from forecast.model.effects import product_effects
from forecast.prep.synthetic import generate_retail_data

pytestmark = pytest.mark.slow

N_TRAIN, HORIZON = 104, 13
CONFIG = ForecastConfig(horizon=HORIZON, sample_paths=600, seed=3)
# Cold-start CRPS stays within this factor of the same products forecast with their history
# (measured 1.35: attributes explain the groups' share of a product's level, not its own).
COLD_FACTOR = 3.0
# Products cut to their last weeks of history, as if just launched (the no-pooling comparison).
SHORT_WEEKS = 4


@pytest.fixture(scope="module")
def catalog():
    data = generate_retail_data(
        n_products=200, n_periods=N_TRAIN, horizon=HORIZON, seed=11, product_trend_sd=0.0
    )
    end = data.mean["date"].unique()[N_TRAIN - 1]
    train = data.sales[data.sales["date"] <= end]
    future = data.mean[data.mean["date"] > end]
    plan = future[["date", "product_id", "price", "promo"]]
    return data, train, future, plan


def _fit(train, products, plan, config=CONFIG):
    prepared = runs.prepare(train, products, config, plan)
    fitted = runs.fit_model(prepared, config, progressbar=False)
    _, paths = runs.forecast(prepared, fitted, config)
    return prepared, fitted, paths


def _score(paths, future):
    """Per (product, date) of the held-out weeks: outcome, CRPS, in the 80% interval."""
    index = {(p, d): (i, j) for i, p in enumerate(paths.products) for j, d in enumerate(paths.dates)}
    rows = [index[(p, d)] for p, d in zip(future["product_id"], future["date"], strict=True)]
    i, j = np.array(rows).T
    samples = paths.values[:, i, j]
    y = future["quantity"].to_numpy()
    u = randomized_pit(y, samples)  # counts: a plain interval hit is biased upward at zero
    return pd.DataFrame(
        {
            "product_id": future["product_id"].to_numpy(),
            "y": y,
            "crps": crps_samples(y, samples),
            "hit80": (u >= 0.1) & (u <= 0.9),
        }
    )


def _segments(train, products):
    end = train["date"].max()
    first = train.groupby("product_id")["date"].min()
    weeks = ((end - first).dt.days // 7 + 1).reindex(products["product_id"]).fillna(0)
    rate = train.groupby("product_id")["quantity"].sum().reindex(products["product_id"]).fillna(
        0
    ) / weeks.clip(lower=1)
    seg = pd.Series("regular", index=products["product_id"])
    seg[rate < 1.0] = "sparse"
    seg[rate >= 3.0] = "well-sold"
    seg[is_new(weeks)] = "new"
    return seg


@pytest.fixture(scope="module")
def pooled(catalog):
    data, train, future, plan = catalog
    return _fit(train, data.products, plan)


@pytest.fixture(scope="module")
def thinned(catalog):
    """The training weeks with 20 established products' whole history hidden (cold start) and 20
    others' cut to their last SHORT_WEEKS weeks (as if just launched)."""
    data, train, _, _ = catalog
    seg = _segments(train, data.products)
    rng = np.random.default_rng(5)
    picked = rng.choice(seg[seg.isin(["regular", "sparse", "well-sold"])].index, 40, replace=False)
    hidden, short = picked[:20], picked[20:]
    cut = train["date"].max() - pd.Timedelta(weeks=SHORT_WEEKS)
    drop = train["product_id"].isin(hidden) | (train["product_id"].isin(short) & (train["date"] <= cut))
    return train[~drop], hidden, short


@pytest.fixture(scope="module")
def pooled_thin(catalog, thinned):
    data, _, _, plan = catalog
    return _fit(thinned[0], data.products, plan)


@pytest.fixture(scope="module")
def unpooled_thin(catalog, thinned):
    data, _, _, plan = catalog
    return _fit(thinned[0], data.products, plan, CONFIG.with_(pooling="none"))


def test_fit_converges(pooled):
    _, fitted, _ = pooled
    d = fitted.diagnostics
    assert d["divergences"] == 0
    assert d["max_rhat"] < 1.02, d["problems"]
    assert d["min_ess_hyper"] > 200


def test_products_with_less_data_are_shrunk_further(pooled):
    """Partial pooling at work: the fewer units a product sold, the further its level is pulled
    from its own estimate toward its groups' mean (``product_effects.shrinkage``)."""
    prepared, fitted, _ = pooled
    eff = product_effects(fitted.idata, prepared.design).dropna(subset=["shrinkage"])
    rho = eff[["units", "shrinkage"]].corr(method="spearman").iloc[0, 1]
    assert rho < -0.25, rho  # -0.39 on this fit under the earlier ratio definition of shrinkage
    few, many = eff["units"].quantile([0.25, 0.75])
    assert (
        eff.loc[eff["units"] <= few, "shrinkage"].median()
        > eff.loc[eff["units"] >= many, "shrinkage"].median()
    )


def test_parameter_recovery(pooled, catalog):
    """True group sds, mean elasticity and dispersion fall inside their 90% posterior intervals."""
    data = catalog[0]
    _, fitted, _ = pooled
    post = fitted.idata.posterior

    def interval(values):
        return np.quantile(np.asarray(values).ravel(), [0.05, 0.95])

    truth = data.truth
    checks = {
        "sigma_category": truth.sigma["category"],
        "sigma_brand": truth.sigma["brand"],
        "sigma_color": truth.sigma["color"],
        "elasticity_mu": -1.6,
        "log_alpha": np.log(truth.alpha),
    }
    for name, true in checks.items():
        lo, hi = interval(post[name])
        assert lo <= true <= hi, f"{name}: truth {true:.3f} outside 90% interval [{lo:.3f}, {hi:.3f}]"


def test_a_category_effect_is_not_traded_against_its_brands(pooled):
    """Brands sum to zero within their category (``forecast.prep.design.parent_groups``): a category's
    effect is its brands' mean, which the data inform, not a prior-pinned split between the two.
    Measured on this fit: the most negative posterior correlation of a category's effect with one
    of its brands' is -0.17 (-0.61 with brands summing to zero over the catalog, -0.97 for the
    brands' mean at 5,000 products, where the category effects then failed R-hat)."""
    post = pooled[1].idata.posterior
    cats = post["effect_category"].stack(s=("chain", "draw"))
    brands = post["effect_brand"].stack(s=("chain", "draw"))
    parent = brands["brand"].to_index().str.split("/").str[0]
    for cat in cats["category"].values:
        own = brands.values[parent == cat]
        np.testing.assert_allclose(own.sum(axis=0), 0, atol=1e-8)
        for b in own:
            r = np.corrcoef(cats.sel(category=cat).values, b)[0, 1]
            assert r > -0.35, f"{cat}: correlation {r:.2f} with one of its brands"


def test_calibration_on_held_out_weeks(pooled, catalog):
    _, _, future, _ = catalog
    scored = _score(pooled[2], future)
    coverage = scored["hit80"].mean()
    assert 0.75 <= coverage <= 0.90, f"80% intervals cover {coverage:.1%} of held-out outcomes"


def test_pooling_beats_baselines_on_sparse_and_new_products(pooled, catalog):
    data, train, future, _ = catalog
    seg = _segments(train, data.products)
    hier = _score(pooled[2], future).assign(segment=lambda f: f["product_id"].map(seg))
    base = _score(_empirical_baseline(train, data.products, future, pooled[2]), future).assign(
        segment=lambda f: f["product_id"].map(seg)
    )
    by_hier, by_base = (frame.groupby("segment")["crps"].mean() for frame in (hier, base))
    for segment in ("sparse", "new"):
        assert by_hier[segment] < by_base[segment], (segment, by_hier, by_base)


def test_pooling_beats_no_pooling_on_new_products_and_is_no_worse_elsewhere(
    pooled_thin, unpooled_thin, catalog, thinned
):
    """The hierarchical model against the same model with independent wide priors, both fitted on
    the thinned weeks: products with SHORT_WEEKS weeks of history borrow their level from their
    groups; products with two years of history (sparse ones too) have rows enough to pin their own,
    so there the claim is "no worse" (within 3%)."""
    data, train, future, _ = catalog
    _, hidden, short = thinned
    seg = _segments(train, data.products)
    seg[short] = "short"
    scored = {
        name: _score(fit[2], future[~future["product_id"].isin(hidden)]).assign(
            segment=lambda f: f["product_id"].map(seg)
        )
        for name, fit in (("hier", pooled_thin), ("nopool", unpooled_thin))
    }
    by = {name: frame.groupby("segment")["crps"].mean() for name, frame in scored.items()}
    # measured: short 6.0% better; new (12 weeks or less) 0.4%, sparse 0.4%, regular 0.2% and
    # well-sold 0.8% better
    assert by["hier"]["short"] < 0.97 * by["nopool"]["short"], by
    for segment in ("new", "sparse", "regular", "well-sold"):
        assert by["hier"][segment] <= 1.03 * by["nopool"][segment], (segment, by)
    # Where a product has no history at all, pooling is what makes a forecast possible: see
    # test_cold_start_products_get_useful_forecasts.


def _empirical_baseline(train, products, future, like):
    """Per product: the empirical distribution of its last 26 weeks (zeros included) as forecast."""
    from forecast.contract.paths import SamplePaths

    end = train["date"].max()
    recent = train[train["date"] > end - pd.Timedelta(weeks=26)]
    first = train.groupby("product_id")["date"].min()
    rng = np.random.default_rng(0)
    n = like.values.shape[0]
    values = np.zeros_like(like.values)
    for i, pid in enumerate(like.products):
        if pid not in first.index:
            continue  # no history: the baseline forecasts zero
        start = max(first[pid], end - pd.Timedelta(weeks=25))
        weeks = pd.date_range(start, end, freq="7D")
        sold = recent[recent["product_id"] == pid].set_index("date")["quantity"]
        history = sold.reindex(weeks, fill_value=0).to_numpy()
        values[:, i, :] = rng.choice(history, size=(n, values.shape[2]))
    return SamplePaths(values=values, products=like.products, dates=like.dates)


def test_cold_start_products_get_useful_forecasts(pooled, pooled_thin, catalog, thinned):
    """Hide the whole history of 20 established products: forecasts from attributes alone stay
    within COLD_FACTOR of the CRPS the same products get with their history."""
    future, hidden = catalog[2], thinned[1]
    held = future[future["product_id"].isin(hidden)]
    with_history = _score(pooled[2], held)["crps"].mean()
    from_attributes = _score(pooled_thin[2], held)["crps"].mean()
    assert from_attributes <= COLD_FACTOR * with_history, (from_attributes, with_history)
    # and far better than knowing nothing: the prior-only (no-pooling) level would be useless
    assert np.isfinite(from_attributes)
