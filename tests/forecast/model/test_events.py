"""Event effects in the model: absent without a calendar, pooled by category with one, fixed in a
sharded fit's stage 2; an event the history never saw drawn as large as the seen ones, the same in
the horizon model and in conditional sampling; and, fitted (slow), the lift of a known event
recovered and carried into the horizon, and an unseen one's week given a wide interval."""

from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest

from forecast import runs, shards
from forecast.config.options import ForecastConfig
from forecast.contract.schema import Hierarchy
from forecast.model import conditional
from forecast.model.builder import _unseen_events, build_model
from forecast.model.forms import choose_forms
from forecast.model.predict import thin, unseen_event_draws
from forecast.model.priors import DEFAULT_PRIORS
from forecast.prep.calendar import infer_frequency
from forecast.prep.design import build_design, subset_design
from forecast.prep.synthetic import generate_retail_data


@pytest.fixture(scope="module")
def event_design(tiny_data):
    first = tiny_data.sales["date"].min()
    events = pd.DataFrame(
        {"date": [first + pd.Timedelta(days=70), first + pd.Timedelta(days=434)], "event": ["sale", "sale"]}
    )
    freq = infer_frequency(tiny_data.sales["date"])
    return build_design(tiny_data.sales, tiny_data.products, Hierarchy(), freq, 6, events=events)


def test_without_events_the_model_has_no_event_part(tiny_design):
    model = build_model(tiny_design, DEFAULT_PRIORS)
    assert not [v.name for v in model.named_vars.values() if "event" in v.name]
    assert "events" not in model.coords
    assert "event" not in choose_forms(tiny_design, DEFAULT_PRIORS)


def test_events_get_a_coefficient_per_pooling_group_and_column(event_design):
    model = build_model(event_design, DEFAULT_PRIORS)
    assert model.named_vars_to_dims["event"] == ("category", "events")
    assert list(model.coords["events"]) == event_design.event_names
    assert {"event_sigma", "event_avg"} <= {v.name for v in model.free_RVs}
    assert np.isfinite(model.compile_logp()(model.initial_point()))
    horizon = build_model(event_design, DEFAULT_PRIORS, predict=True)
    assert horizon.named_vars_to_dims["event"] == ("category", "events")
    forms = choose_forms(event_design, DEFAULT_PRIORS)
    assert 0.0 <= forms["event"] <= 1.0
    centered = build_model(event_design, DEFAULT_PRIORS, forms={"event": "centered"})
    assert "event" in {v.name for v in centered.free_RVs}  # a fixed form, as the benchmarks compare


@pytest.mark.filterwarnings("ignore:The effect of Potentials")
def test_a_sharded_fit_takes_the_event_effects_as_fixed(event_design):
    """Stage 1's event coefficients, mean and scale go to stage 2 as the seasonality's do."""
    model = build_model(event_design, DEFAULT_PRIORS)
    with model:
        prior = pm.sample_prior_predictive(draws=20, random_seed=1)
    fitted = runs.Fitted(idata=az.InferenceData(posterior=prior.prior))
    shared = shards.shared_values(fitted, event_design)
    frame = shared["event"]
    assert list(frame.columns) == event_design.event_names
    assert list(frame.index) == list(event_design.levels["category"])
    assert np.shape(shared["event_mu"]) == (len(event_design.event_names),) and "event_sigma" in shared
    stage2 = build_model(event_design, DEFAULT_PRIORS, fixed=shared)
    assert not [rv.name for rv in stage2.free_RVs if rv.name.startswith("event")]
    np.testing.assert_allclose(pm.draw(stage2["event"]), frame.to_numpy())
    # A category stage 1 did not see stays free, pooled under the fixed mean and scale.
    shared["event"] = frame.iloc[1:]
    partly = build_model(event_design, DEFAULT_PRIORS, fixed=shared)
    assert [rv.name for rv in partly.free_RVs if rv.name.startswith("event")] == ["event_z"]


# The seen columns' effects per (group, column) in one posterior draw: the columns' group averages
# are 0.6, 0.0, -0.2 and 0.0 (root mean square 0.316), the groups' deviations from them have a
# root mean square of 0.1.
SEEN = np.array([[0.7, 0.1, -0.1, 0.1], [0.5, -0.1, -0.3, -0.1], [0.6, 0.0, -0.2, 0.0]])
TAU = np.sqrt(np.mean(SEEN.mean(axis=0) ** 2))
OWN = np.sqrt(np.mean((SEEN - SEEN.mean(axis=0)) ** 2))


def _check_unseen_draws(effect: np.ndarray, on: np.ndarray) -> None:
    """``effect`` (draws, periods, groups): 0 where no unseen column is on; where one is, each
    group's effect has sd ``sqrt(TAU^2 + OWN^2)`` and two groups share ``TAU^2`` of its variance."""
    assert np.all(effect[:, ~on] == 0)
    at = effect[:, on]  # (draws, on periods, groups)
    np.testing.assert_allclose(at.std(axis=0), np.hypot(TAU, OWN), rtol=0.08)
    shared = np.mean(at[..., 0] * at[..., 1])
    np.testing.assert_allclose(shared, TAU**2, rtol=0.15)


def test_an_unseen_event_is_drawn_as_large_as_the_seen_ones_by_the_model_and_by_conditional_sampling():
    """Where a horizon period holds an event column the history never had (a shop's first
    Christmas), each sample path draws its effect with the seen columns' spread: the groups'
    average's and their own; the horizon model (``builder._unseen_events``) and stage 2 by
    conditional sampling (``conditional._unseen_events``) draw the same."""
    n_train, horizon = 10, 4
    columns = np.zeros((n_train + horizon, 2))
    columns[n_train + 1, 0] = columns[n_train + 3, 1] = 1.0  # two unseen columns, one horizon day each
    design = SimpleNamespace(unseen_event_names=["xmas", "xmas[+1]"], unseen_events=columns, n_pool=3)
    with pm.Model(coords={"category": ["a", "b", "c"]}):
        matrix = _unseen_events(design, pt.as_tensor(SEEN), "category")
    on = columns.any(axis=1)
    drawn = pm.draw(matrix, draws=6000, random_seed=1)  # (draws, periods, groups)
    _check_unseen_draws(drawn, on)
    rng = np.random.default_rng(2)
    paths = conditional._unseen_events(np.repeat(SEEN[None], 1500, axis=0), columns[n_train:], 3, rng, 4)
    assert paths.shape == (1500, 4, 3, horizon)
    _check_unseen_draws(paths.reshape(-1, 3, horizon).transpose(0, 2, 1), on[n_train:])


def test_seen_events_without_effect_leave_the_unseen_days_as_any_other():
    """A catalog whose events move nothing draws nothing for its unseen ones."""
    design = SimpleNamespace(unseen_event_names=["xmas"], unseen_events=np.ones((5, 1)), n_pool=2)
    with pm.Model(coords={"category": ["a", "b"]}):
        matrix = _unseen_events(design, pt.zeros((2, 3)), "category")
    assert np.all(pm.draw(matrix, draws=50, random_seed=1) == 0)


@pytest.mark.filterwarnings("ignore:The effect of Potentials")
def test_the_unseen_events_draws_come_from_the_seed_so_shards_share_them(tiny_data, tiny_design):
    """Shards fitted by NUTS each draw their own paths: the unseen columns' normals are set from the
    seed (``predict.unseen_event_draws``), the catalog's by path and a group's by its name, so path
    ``i`` of two shards carries the same effects; the horizon model reads them, not fresh ones."""
    freq = infer_frequency(tiny_data.sales["date"])
    first = tiny_data.sales["date"].min()
    events = pd.DataFrame(
        {"date": [first + pd.Timedelta(days=70), tiny_design.dates[-3]], "event": ["sale", "launch"]}
    )
    design = build_design(tiny_data.sales, tiny_data.products, Hierarchy(), freq, 6, events=events)
    assert design.unseen_event_names == ["launch[-2]", "launch[-1]", "launch", "launch[+1]"]
    category = design.levels["category"]
    in_first = design.level_idx["category"] == 0
    shards_ = [np.flatnonzero(in_first | (design.level_idx["category"] == k)) for k in (1, 2)]
    draws = []
    for positions in shards_:
        shard = subset_design(design, positions)
        model = build_model(shard, DEFAULT_PRIORS)
        with model:
            prior = pm.sample_prior_predictive(draws=30, random_seed=1)
        horizon = build_model(shard, DEFAULT_PRIORS, predict=True)
        post = unseen_event_draws(thin(prior.prior, 30, 4), horizon, seed=4)
        draws.append(post)
        # The horizon model reads the given normals: set far apart, the unseen days' demand follows.
        rows = np.isin(shard.future.time_idx, np.flatnonzero(shard.unseen_events.any(axis=1)))
        means = []
        for value in (-3.0, 3.0):
            given = post.assign(event_unseen_z=post["event_unseen_z"] * 0 + value)
            pp = pm.sample_posterior_predictive(
                given, model=horizon, var_names=["demand"], random_seed=4, progressbar=False
            )
            means.append(pp.posterior_predictive["demand"].values[..., rows].mean())
        assert means[1] > 2 * means[0], means
    a, b = draws
    np.testing.assert_array_equal(a["event_unseen_z"].values, b["event_unseen_z"].values)
    shared = category[0]
    np.testing.assert_array_equal(
        a["event_unseen_group_z"].sel(category=shared).values,
        b["event_unseen_group_z"].sel(category=shared).values,
    )
    assert not np.array_equal(
        a["event_unseen_group_z"].isel(category=1).values, b["event_unseen_group_z"].isel(category=1).values
    )


# ------------------------------------------------------------------------------------- fitted

LIFT = 0.8  # log lift of the event's own week: demand x2.2
N_TRAIN, HORIZON = 80, 8  # weeks of history and ahead
EVENT = "Mega Sale"
# The sale's weeks (a Thursday in each): four in the history, one in the horizon.
SALE_WEEKS = (15, 35, 55, 75, 84)
UNSEEN, UNSEEN_WEEK = "Grand Opening", 82


@pytest.fixture(scope="module")
def event_catalog():
    """A small weekly catalog whose demand is lifted by ``LIFT`` in the week of every sale."""
    data = generate_retail_data(
        n_products=30, n_periods=N_TRAIN, horizon=HORIZON, seed=5, product_trend_sd=0.0, level_shift=1.0
    )
    dates = pd.DatetimeIndex(sorted(data.mean["date"].unique()))
    weeks = dates[list(SALE_WEEKS)]
    rng = np.random.default_rng(0)
    mean = data.mean.copy()
    lifted = mean["date"].isin(weeks).to_numpy()
    mu = mean.loc[lifted, "mean"].to_numpy() * np.exp(LIFT)
    mean.loc[lifted, "quantity"] = rng.poisson(rng.gamma(2.5, mu / 2.5))  # the generator's alpha
    end = dates[N_TRAIN - 1]
    history = mean[mean["date"] <= end]
    sales = history[(history["quantity"] > 0) | (history["promo"] == 1)].drop(columns="mean")
    plan = mean[mean["date"] > end][["date", "product_id", "price", "promo"]]
    events = pd.DataFrame({"date": weeks + pd.Timedelta(days=3), "event": EVENT})
    # An event the history never had, in the horizon's third week (it moves nothing here).
    unseen = pd.DataFrame({"date": [dates[UNSEEN_WEEK] + pd.Timedelta(days=3)], "event": [UNSEEN]})
    return sales, data.products, plan, pd.concat([events, unseen], ignore_index=True), weeks[-1]


@pytest.mark.slow
def test_an_event_lift_is_recovered_and_lifts_the_horizon(event_catalog):
    sales, products, plan, events, ahead = event_catalog
    config = ForecastConfig(
        horizon=HORIZON, draws=300, tune=300, chains=2, attempt_budget=1.0, sample_paths=300, seed=2
    )
    prepared = runs.prepare(sales, products, config, plan, events)
    design = prepared.design
    assert design.event_names == [f"{EVENT}[-2]", f"{EVENT}[-1]", EVENT, f"{EVENT}[+1]"]
    assert design.unseen_event_names == [f"{UNSEEN}[-2]", f"{UNSEEN}[-1]", UNSEEN, f"{UNSEEN}[+1]"]
    fitted = runs.fit_model(prepared, config, progressbar=False)

    # Recovery: the event's own week, averaged over the categories (all lifted alike).
    coef = fitted.idata.posterior["event"].sel(events=EVENT).mean("category").values.ravel()
    low, high = np.quantile(coef, [0.05, 0.95])
    assert low < LIFT < high, (low, high)
    for name in (f"{EVENT}[-1]", f"{EVENT}[+1]"):  # the weeks around it were not lifted
        around = fitted.idata.posterior["event"].sel(events=name).mean("category").values
        assert abs(float(around.mean())) < 0.3, name

    # The horizon: the event's week sells more than the weeks either side of it.
    _, paths = runs.forecast(prepared, fitted, config)
    total = paths.values.sum(axis=1).mean(axis=0)  # expected catalog units per horizon week
    t = list(paths.dates).index(ahead)
    assert total[t] > 1.4 * max(total[t - 1], total[t + 1]), total[t - 1 : t + 2]

    # The unseen event's weeks (the horizon's first four: its run-up, its week and the week after):
    # the seen event moved demand by a factor of 2, so the total's 80% interval there is wider
    # for its level than in the horizon's last two weeks, which no event touches.
    draws = paths.values.sum(axis=1)
    q10, q50, q90 = np.quantile(draws, [0.1, 0.5, 0.9], axis=0)
    width = (q90 - q10) / q50
    assert width[:4].min() > 1.5 * width[-2:].max(), width  # measured 1.27-1.41 against 0.65-0.69
