"""The selectable samplers, on a tiny model."""

import numpy as np
import pytest

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.model import inference


@pytest.fixture(scope="module")
def prepared(tiny_data):
    return runs.prepare(tiny_data.sales, tiny_data.products, ForecastConfig(horizon=3))


def test_advi_forecasts_with_an_approximate_verdict(prepared):
    config = ForecastConfig(horizon=3, sampler="advi", draws=100, chains=2, sample_paths=50)
    fitted = runs.fit_model(prepared, config, progressbar=False)
    assert fitted.diagnostics["verdict"] == "approximate"
    assert fitted.idata.posterior.sizes["draw"] == 200
    forecasts, paths = runs.forecast(prepared, fitted, config)
    assert paths.values.shape == (50, len(prepared.design.products), 3)
    assert np.isfinite(forecasts["mean"]).all()


def test_a_seed_reproduces_a_run(prepared):
    config = ForecastConfig(horizon=3, sampler="advi", draws=50, chains=1, sample_paths=20, seed=9)
    a = runs.forecast(prepared, runs.fit_model(prepared, config, progressbar=False), config)[1]
    b = runs.forecast(prepared, runs.fit_model(prepared, config, progressbar=False), config)[1]
    assert np.array_equal(a.values, b.values)


@pytest.mark.slow
def test_pymc_nuts_samples_the_same_model(prepared):
    config = ForecastConfig(
        horizon=3, sampler="pymc", draws=100, tune=100, chains=2, sample_paths=20, attempt_budget=1.0
    )  # the first attempt only: retries would pool more chains
    fitted = runs.fit_model(prepared, config, progressbar=False)
    assert fitted.idata.posterior.sizes["chain"] == 2 and len(fitted.attempts) == 1
    assert fitted.diagnostics["verdict"] in ("converged", "not converged")
    assert fitted.parameters["r_hat"].notna().all()


def test_the_sampler_gets_the_catalog_sized_target_acceptance(prepared, monkeypatch):
    """The run record states the target acceptance the sampler was given."""
    given = []

    def sample(self, **kwargs):
        given.append(kwargs["target_accept"])
        raise RuntimeError("stop before sampling")

    monkeypatch.setattr(inference.Sampler, "__init__", lambda self, model, sampler="nutpie": None)
    monkeypatch.setattr(inference.Sampler, "sample", sample)
    n = len(prepared.design.products)
    for config in (ForecastConfig(horizon=3), ForecastConfig(horizon=3, target_accept=0.85)):
        with pytest.raises(RuntimeError, match="stop before sampling"):
            runs.fit_model(prepared, config, progressbar=False)
        assert (
            f"NUTS target acceptance {config.target_accept_for(n):.2f}"
            in runs.describe(prepared, config)["message"]
        )
    assert given == [0.95, 0.85]  # the tiny catalog is a small one
