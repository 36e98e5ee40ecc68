"""Event effects in the model: absent without a calendar, pooled by category with one, fixed in a
sharded fit's stage 2; and, fitted (slow), the lift of a known event recovered and carried into
the horizon."""

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from forecast import runs, shards
from forecast.config.options import ForecastConfig
from forecast.contract.schema import Hierarchy
from forecast.model.builder import build_model
from forecast.model.forms import choose_forms
from forecast.model.priors import DEFAULT_PRIORS
from forecast.prep.calendar import infer_frequency
from forecast.prep.design import build_design
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


# ------------------------------------------------------------------------------------- fitted

LIFT = 0.8  # log lift of the event's own week: demand x2.2
N_TRAIN, HORIZON = 80, 8  # weeks of history and ahead
EVENT = "Mega Sale"
# The sale's weeks (a Thursday in each): four in the history, one in the horizon.
SALE_WEEKS = (15, 35, 55, 75, 84)


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
    return sales, data.products, plan, events, weeks[-1]


@pytest.mark.slow
def test_an_event_lift_is_recovered_and_lifts_the_horizon(event_catalog):
    sales, products, plan, events, ahead = event_catalog
    config = ForecastConfig(
        horizon=HORIZON, draws=300, tune=300, chains=2, attempt_budget=1.0, sample_paths=300, seed=2
    )
    prepared = runs.prepare(sales, products, config, plan, events)
    design = prepared.design
    assert design.event_names == [f"{EVENT}[-2]", f"{EVENT}[-1]", EVENT, f"{EVENT}[+1]"]
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
