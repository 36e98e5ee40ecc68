"""The convergence gate on real fits, and the automatic remedies that follow a failed first attempt."""

import arviz as az
import numpy as np
import pytest

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.model.diagnostics import MIN_ESS, Failure, checked_parameters, failures, parameter_table
from forecast.model.forms import choose_forms
from forecast.model.inference import Sampler, pool_chains
from forecast.model.remedies import (
    POOL_LIMIT,
    Settings,
    choose_remedy,
    fit_until_converged,
    pooling_stalled,
)

SETTINGS = Settings(chains=4, tune=600, draws=1000, target_accept=0.9, seed=1)
FORMS = {"product": np.full(3, 0.9), "groups": {"brand": 0.8, "color": 0.4}, "season": 0.9, "trend": 0.5}


def _divergent_at_low(scale: str, draws: int = 500):
    """Chains whose divergent transitions sit where ``scale`` is smallest (a funnel's neck)."""
    rng = np.random.default_rng(0)
    post = {
        name: np.exp(rng.normal(-1, 0.5, (2, draws)))
        for name in ("sigma_brand", "sigma_color", "trend_sigma")
    }
    diverging = post[scale] < np.quantile(post[scale], 0.02)
    return az.from_dict(
        posterior=post, sample_stats={"diverging": diverging, "energy": rng.normal(size=(2, draws))}
    )


def test_divergences_send_the_funnels_part_less_centered_with_smaller_steps():
    idata = _divergent_at_low("sigma_brand")
    remedy = choose_remedy([Failure("divergences", 9, 0)], SETTINGS, FORMS, idata, 1, set(), 4)
    assert remedy.forms == {"groups:brand": 0.4}  # halved
    assert remedy.settings.target_accept > SETTINGS.target_accept and not remedy.pool
    assert remedy.settings.seed != SETTINGS.seed  # new chains
    again = choose_remedy(
        [Failure("divergences", 2, 0)], remedy.settings, FORMS, idata, 2, {"geometry:groups:brand"}, 4
    )
    assert again.forms == {"groups:brand": 0.0}  # then non-centered
    trend = choose_remedy(
        [Failure("divergences", 9, 0)], SETTINGS, FORMS, _divergent_at_low("trend_sigma"), 1, set(), 4
    )
    assert trend.forms == {"trend": 0.25}


def test_a_few_divergences_anywhere_only_shorten_the_steps_until_they_are_as_short_as_they_go():
    """Two divergent draws that sit at no particular scale cannot name a funnel: no part is
    rewritten while the steps can still shrink; at the smallest steps, the likeliest part is."""
    rng = np.random.default_rng(0)
    post = {
        name: np.exp(rng.normal(-1, 0.5, (2, 500))) for name in ("sigma_brand", "sigma_color", "trend_sigma")
    }
    diverging = np.zeros((2, 500), bool)
    low = np.argsort(post["sigma_brand"].ravel())
    diverging.ravel()[low[300]] = diverging.ravel()[low[400]] = True  # a little below the middle
    idata = az.from_dict(
        posterior=post, sample_stats={"diverging": diverging, "energy": rng.normal(size=(2, 500))}
    )
    two = [Failure("divergences", 2, 0)]
    remedy = choose_remedy(two, SETTINGS, FORMS, idata, 1, set(), 4)
    assert remedy.forms == {} and remedy.settings.target_accept > SETTINGS.target_accept
    assert "smaller steps" in remedy.action and "less centered" not in remedy.action
    smallest = Settings(**{**SETTINGS.__dict__, "target_accept": 0.99})
    last = choose_remedy(two, smallest, FORMS, idata, 3, set(), 4)
    assert len(last.forms) == 1 and "less centered" in last.action  # the likeliest part, at last
    assert last.settings.target_accept == 0.99
    funnel = choose_remedy(two, SETTINGS, FORMS, _divergent_at_low("sigma_brand"), 1, set(), 4)
    assert funnel.forms == {"groups:brand": 0.4}  # a clear funnel is rewritten at once


def test_too_few_effective_draws_pool_more_chains_then_run_longer_chains():
    low = [Failure("ess", 200, MIN_ESS, "sigma_brand")]
    remedy = choose_remedy(low, SETTINGS, FORMS, None, 1, set(), 4)
    assert remedy.pool and remedy.settings.chains == 6  # 1.25 * 400 / 200 = 2.5 times the draws
    assert remedy.settings.draws == SETTINGS.draws and not remedy.forms
    full = Settings(**{**SETTINGS.__dict__, "chains": 4 * POOL_LIMIT})
    longer = choose_remedy(low, full, FORMS, None, 2, set(), 4)
    assert not longer.pool and longer.settings.chains == 4  # the configured chains, fresh
    assert longer.settings.draws == POOL_LIMIT * full.draws  # as many draws as the pooled chains held
    again = choose_remedy(low, longer.settings, FORMS, None, 3, {"longer"}, 4)
    assert again.pool and again.settings.draws == longer.settings.draws  # more of the long chains
    stalled = choose_remedy(low, longer.settings, FORMS, None, 4, {"longer", "stalled"}, 4)
    assert not stalled.pool and stalled.settings.draws == 2 * longer.settings.draws  # longer again


def test_pooling_that_pushes_a_passing_r_hat_over_the_bar_has_stalled():
    """More chains that disagree with the ones the run had: the next attempt runs longer chains,
    not yet more company."""
    over = [Failure("rhat", 1.013, 1.01, "shock_group_sigma")]
    assert pooling_stalled(1.0084, 1.013, over)  # passing on 4 chains, failing on 8
    assert pooling_stalled(1.02, 1.018, over)  # barely down
    assert not pooling_stalled(1.03, 1.013, over)  # coming down: more chains may finish the job
    assert not pooling_stalled(1.008, 1.009, [Failure("ess", 300, MIN_ESS, "trend_sigma")])  # R-hat passes
    low = [Failure("ess", 200, MIN_ESS, "sigma_brand")]
    pooled = Settings(**{**SETTINGS.__dict__, "chains": 8})
    after = choose_remedy(over + low, pooled, FORMS, None, 2, {"stalled"}, 4)
    assert not after.pool and after.settings.draws == 2 * SETTINGS.draws  # fresh, longer chains


def test_a_part_written_for_the_wrong_scale_is_written_for_the_scale_the_chains_found():
    """Slow mixing on a part whose exponent at its scale's posterior median is far from its own:
    that part is written again for that scale on fresh chains, once; else more chains."""
    rng = np.random.default_rng(0)
    idata = az.from_dict(posterior={"trend_sigma": np.exp(rng.normal(np.log(0.02), 0.3, (4, 200)))})
    asked = []

    def reform(part, scale):
        asked.append((part, scale))
        return 0.8 if part == "trend" else 0.45

    slow = [Failure("rhat", 1.011, 1.01, "trend[tops]"), Failure("ess", 370, MIN_ESS, "trend_sigma")]
    remedy = choose_remedy(slow, SETTINGS, FORMS, idata, 1, set(), 4, reform)
    assert remedy.forms == {"trend": 0.8} and not remedy.pool  # 0.5 -> 0.8, fresh chains
    assert remedy.settings.seed != SETTINGS.seed and remedy.settings.chains == 4
    assert asked[0][0] == "trend" and abs(asked[0][1] - 0.02) < 0.003  # at the posterior median
    assert "trend more centered" in remedy.action
    # once per part: then more chains
    again = choose_remedy(slow, SETTINGS, FORMS, idata, 2, {"geometry:trend"}, 4, reform)
    assert again.pool and not again.forms
    # a form already close to the one for the found scale is kept
    close = choose_remedy(slow, SETTINGS, {**FORMS, "trend": 0.7}, idata, 1, set(), 4, reform)
    assert close.pool and not close.forms


def test_chains_that_disagree_start_again_with_longer_tuning_once():
    apart = [Failure("rhat", 1.2, 1.01, "sigma_brand")]
    remedy = choose_remedy(apart, SETTINGS, FORMS, None, 1, set(), 4)
    assert not remedy.pool and remedy.settings.tune == 2 * SETTINGS.tune
    assert choose_remedy(apart, SETTINGS, FORMS, None, 2, {"restart"}, 4) is None


@pytest.fixture(scope="module")
def compiled(tiny_data):
    """The tiny catalog's model, compiled once for every fit below."""
    config = ForecastConfig(horizon=4)
    prepared = runs.prepare(tiny_data.sales, tiny_data.products, config)
    forms = choose_forms(prepared.design, config.merged_priors)
    model = runs.model_for(prepared.design, config, forms=forms)
    return model, forms, Sampler(model), checked_parameters(model)


def _gate(idata, names):
    return failures(idata, parameter_table(idata, names))


@pytest.mark.slow
def test_the_gate_passes_a_healthy_fit_and_fails_broken_ones(compiled):
    model, _, sampler, names = compiled
    healthy = sampler.sample(chains=4, tune=600, draws=1000, target_accept=0.95, seed=1, progressbar=False)
    assert _gate(healthy, names) == []
    few = sampler.sample(chains=4, tune=30, draws=100, target_accept=0.95, seed=1, progressbar=False)
    assert "ess" in {f.check for f in _gate(few, names)}
    rng = np.random.default_rng(0)
    apart = None
    for chain in range(4):  # each chain started at its own far point, with hardly any warm-up
        one = sampler.sample(chains=1, tune=20, draws=300, target_accept=0.95, seed=chain, progressbar=False,
                             init_mean=rng.normal(0, 3, sampler._compiled.n_dim))  # fmt: skip
        apart = one if apart is None else pool_chains(apart, one)
    assert apart.posterior.sizes["chain"] == 4
    assert "rhat" in {f.check for f in _gate(apart, names)}


@pytest.mark.slow
def test_a_first_attempt_short_of_draws_is_remedied_into_a_passing_fit(compiled):
    model, forms, sampler, _ = compiled
    config = ForecastConfig(horizon=4, draws=200, attempt_budget=6.0)
    fit = fit_until_converged(model, forms, config, 0.95, progressbar=False, sampler=sampler)
    first, last = fit.attempts[0], fit.attempts[-1]
    assert first.verdict == "not converged" and "ESS" in first.problems
    assert last.verdict == "converged" and fit.diagnostics["verdict"] == "converged" and not fit.found
    assert any(a.pooled for a in fit.attempts[1:])
    pooled_chains = sum(a.settings.chains for a in fit.attempts if a.pooled) + config.chains
    assert fit.idata.posterior.sizes["chain"] in (pooled_chains, config.chains)
