import pytest

from forecast.config.options import SMALL_CATALOG, ForecastConfig
from forecast.contract.schema import Hierarchy
from forecast.model.priors import DEFAULT_PRIORS


def test_hierarchy_parses_cli_lists():
    h = Hierarchy.parse("region,store", "color,size")
    assert h.nested == ("region", "store")
    assert h.crossed == ("color", "size")
    assert h.pooling_attribute == "region"
    assert Hierarchy.parse(None, None) == Hierarchy()
    assert Hierarchy.parse("category", "").crossed == ()


def test_hierarchy_rejects_repeats_and_the_product_level():
    with pytest.raises(ValueError, match="listed twice"):
        Hierarchy(("category",), ("category",))
    with pytest.raises(ValueError, match="product level"):
        Hierarchy(("product_id",), ())


def test_config_hash_tracks_what_changes_results():
    base = ForecastConfig()
    assert base.hash() == ForecastConfig().hash()
    assert base.hash() != base.with_(seed=2).hash()
    assert base.hash() != base.with_(priors={"group_sigma": 0.3}).hash()
    assert base.merged_priors["group_sigma"] == DEFAULT_PRIORS["group_sigma"]
    assert base.with_(priors={"group_sigma": 0.3}).merged_priors["group_sigma"] == 0.3


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown sampler 'gibbs'"):
        ForecastConfig(sampler="gibbs")
    with pytest.raises(ValueError, match="unknown prior names"):
        ForecastConfig(priors={"not_a_prior": 1.0})
    with pytest.raises(ValueError, match="horizon"):
        ForecastConfig(horizon=0)
    with pytest.raises(ValueError, match="target_accept"):
        ForecastConfig(target_accept=1.0)
    with pytest.raises(ValueError, match="chains must be at least 2 for nutpie"):
        ForecastConfig(chains=1)  # one chain has no R-hat: its fit could not be checked
    with pytest.raises(ValueError, match="attempt_budget"):
        ForecastConfig(attempt_budget=0.5)
    assert ForecastConfig(sampler="advi", chains=1).chains == 1  # ADVI has no chains to compare


def test_target_acceptance_follows_catalog_size_unless_set():
    """Small catalogs sample with smaller steps (their brand scales missed the ESS bar at 0.9)."""
    default = ForecastConfig()
    assert default.target_accept_for(200) == 0.95
    assert default.target_accept_for(SMALL_CATALOG - 1) == 0.95
    assert default.target_accept_for(SMALL_CATALOG) == 0.9
    assert default.target_accept_for(5000) == 0.9
    assert ForecastConfig(target_accept=0.85).target_accept_for(200) == 0.85
    assert default.hash() != default.with_(target_accept=0.95).hash()


def test_the_options_are_the_config_fields_with_their_defaults_and_help():
    """One declaration: each field of ForecastConfig is an option (the hierarchy two, its attribute
    lists), and the options' defaults make the default configuration."""
    from dataclasses import fields

    from forecast.config.options import OPTION_NAMES, OPTIONS

    names = [f.name for f in fields(ForecastConfig)]
    assert list(OPTION_NAMES) == ["nested", "crossed", *names[1:]] and names[0] == "hierarchy"
    assert all(o.help and "\n" not in o.describe() for o in OPTIONS)
    assert ForecastConfig.from_options(**{o.name: o.default for o in OPTIONS}) == ForecastConfig()
    assert ForecastConfig.from_options() == ForecastConfig()
