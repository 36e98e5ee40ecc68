"""The model's prior defaults, each with its reasoning; a run overrides them by name
(``ForecastConfig.priors``, ``--priors name=value``)."""

from __future__ import annotations

# Components that may get a deviation per product around its group's value (``product_effects``).
PRODUCT_EFFECTS = ("elasticity", "promo", "trend", "season", "dispersion", "drift")

# Weakly informative priors on the log scale of weekly unit demand. Reasoning, per entry:
DEFAULT_PRIORS: dict[str, float] = {
    # Global log level: a typical retail product sells 0.1 to 20 units per period, so the mean log
    # level sits near 0 with a wide sd; the data dominates it anyway.
    "intercept_mu": 0.0,
    "intercept_sigma": 2.0,
    # Group effects (category, brand, color, ...): sds around 0.5 allow groups to differ by a factor
    # of e**1 = 2.7 either way, without letting a single group run to 100x. Every scale across
    # groups or products has a Gamma(2, 2 / s) prior of mean s, zero at zero (forecast.model.builder._scale).
    "group_sigma": 0.5,
    # Product effects around their groups: products within a brand differ far more than brands do
    # (a long tail of slow sellers), so their sd gets more room.
    "product_sigma": 1.0,
    # Fourier seasonality coefficients: amplitude of at most ~40% swing around the level per harmonic;
    # the sd of the category deviations from the global shape is smaller.
    "season_sigma": 0.3,
    "season_group_sigma": 0.15,
    # Trend in log units per year: +-10% a year is a large drift for a whole category; categories
    # differ from the shared trend by less.
    "trend_sigma": 0.1,
    "trend_group_sigma": 0.05,
    # Price elasticity on log relative price: retail elasticities sit mostly between -0.5 and -3.
    "elasticity_mu": -1.0,
    "elasticity_sigma": 1.0,
    "elasticity_group_sigma": 0.5,
    # Promotion lift on the log scale: exp(0.3) = +35% typical, could be none or a doubling.
    "promo_mu": 0.3,
    "promo_sigma": 0.5,
    # Categories' lifts differ by less than the lift itself (0.15: +-16%); a larger prior scale
    # let the sampler wander where the non-centered lifts turn into a funnel (one divergence in
    # 4,000 draws on the demo).
    "promo_group_sigma": 0.15,
    # Calendar events (forecast.prep.events), per (event, offset) column, log scale: 0.5 lets a
    # holiday week run to +65% (or a week after it fall by 40%) at one sd and to a tripling at two,
    # as Black Friday or the weeks before Christmas do, while an event a year or two of history
    # shows only once or twice is held near no effect. Categories' lifts differ by less (0.2: +-22%,
    # toys and gifts lift more than groceries); few occurrences inform the difference, so the
    # prior keeps it modest.
    "event_sigma": 0.5,
    "event_group_sigma": 0.2,
    # Zero-inflated likelihood: logit of the structural-zero probability; -2 is about 12%, and a
    # sd of 1.5 spans 1% to 60%.
    "zero_mu": -2.0,
    "zero_sigma": 1.5,
    "zero_group_sigma": 0.5,
    # Negative binomial dispersion alpha (variance = mu + mu^2 / alpha): log-normal around alpha = 3.
    "log_alpha_mu": 1.0,
    "log_alpha_sigma": 1.0,
    # Per-product deviations (``product_effects``), each around its group's value with a scale
    # shared by the catalog. Price response differs between products of a category by about as much
    # as categories differ (0.3 on the elasticity); promotion lifts and trends by less; seasonal
    # shapes by a small share of their amplitude. Dispersion: a product's log alpha within a factor
    # of e**0.5 = 1.6 of the catalog's for most products.
    "elasticity_product_sigma": 0.3,
    "promo_product_sigma": 0.15,
    "trend_product_sigma": 0.05,
    "season_product_sigma": 0.1,
    "dispersion_product_sigma": 0.5,
    # Launch ramp (``launch_ramp``): a launched product sells 1 - exp(-age / tau) of its mature level,
    # tau in years. exp(-2.5) = 0.08 years, about a month; a sd of 1.5 spans a week to about a year
    # within two sds (with a sd of 1, 13 launches of a 22-week ramp were pulled to 15 weeks).
    # Groups differ by less (0.3 on log tau: +-35%).
    "ramp_mu": -2.5,
    "ramp_sigma": 1.5,
    "ramp_group_sigma": 0.3,
    # Level drift (``level_drift``): a product's log level walks by this much a year (sd): 0.2 is
    # +-22% in a year, a series that drifts but does not jump.
    "drift_sigma": 0.2,
    # A product's own drift scale (``product_effects`` "drift", with ``level_drift``): log-normal
    # around the catalog's, most within a factor of e**0.5 = 1.6 of it.
    "drift_product_sigma": 0.5,
    # Shared demand shocks (``shared_shocks``), per period, log scale: a catalog-wide innovation of
    # 0.05 (+-5%) a period and as much again per group; an AR(1) carries them on with phi ~
    # Beta(4, 2) (mean 0.67: a shock fades over a few periods, or lasts where the data say so).
    "shock_sigma": 0.05,
    "shock_group_sigma": 0.05,
    "shock_phi_alpha": 4.0,
    "shock_phi_beta": 2.0,
}
