"""Run configuration and prior defaults: one place, user overrides merged over defaults."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from forecast import __version__
from forecast.contract.schema import Hierarchy

SAMPLERS = ("nutpie", "pymc", "advi")

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
    # Zero-inflated likelihood: logit of the structural-zero probability; -2 is about 12%, and a
    # sd of 1.5 spans 1% to 60%.
    "zero_mu": -2.0,
    "zero_sigma": 1.5,
    "zero_group_sigma": 0.5,
    # Negative binomial dispersion alpha (variance = mu + mu^2 / alpha): log-normal around alpha = 3.
    "log_alpha_mu": 1.0,
    "log_alpha_sigma": 1.0,
}

# Catalogs with fewer products sample at a higher target acceptance (ForecastConfig.target_accept_for).
SMALL_CATALOG = 500

DEFAULT_HORIZON = {"D": 28, "W": 13, "M": 6, "Q": 4}


@dataclass(frozen=True)
class ForecastConfig:
    """Everything that decides a forecast run's result; its hash goes into the run record."""

    hierarchy: Hierarchy = field(default_factory=Hierarchy)
    horizon: int | None = None  # periods ahead; None: a default for the data's frequency
    sampler: str = "nutpie"
    likelihood: str = "negbin"  # or "zinb"; the default won the backtest in benchmarks/README.md
    pooling: str = "partial"  # "none": the no-pooling comparison model
    # 4 chains x 1,000 draws: R-hat compares four chains (eight halves), and the worst
    # hyperparameter's bulk ESS, at 0.15-0.2 per draw, runs near 600-800, clear of the 400 the
    # checks ask for. nutpie runs more chains than cores in turn.
    draws: int = 1000
    tune: int = 600
    # NUTS step-size target; None: by catalog size (``target_accept_for``)
    target_accept: float | None = None
    chains: int = 4
    # Time every sampling attempt together may take, as a multiple of the first attempt's (its
    # compile included): a fit that fails its checks is retried within it (forecast.model.remedies);
    # 1 turns the retries off.
    attempt_budget: float = 2.5
    seed: int = 1
    sample_paths: int = 500  # posterior predictive paths written to forecast_draws, per product
    fourier_order: int = 3  # yearly harmonics; daily data adds a weekly cycle of its own
    priors: dict[str, float] = field(default_factory=dict)  # overrides of DEFAULT_PRIORS

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler '{self.sampler}': choose one of {', '.join(SAMPLERS)}")
        if self.likelihood not in ("negbin", "zinb"):
            raise ValueError(f"unknown likelihood '{self.likelihood}': choose negbin or zinb")
        if self.pooling not in ("partial", "none"):
            raise ValueError(f"unknown pooling '{self.pooling}': choose partial or none")
        unknown = set(self.priors) - set(DEFAULT_PRIORS)
        if unknown:
            raise ValueError(f"unknown prior names: {sorted(unknown)}; known: {sorted(DEFAULT_PRIORS)}")
        for name in ("draws", "tune", "chains", "sample_paths"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.sampler != "advi" and self.chains < 2:
            raise ValueError(
                f"chains must be at least 2 for {self.sampler} (R-hat compares chains), got {self.chains}"
            )
        if self.attempt_budget < 1.0:
            raise ValueError(
                f"attempt_budget must be at least 1 (the first attempt), got {self.attempt_budget}"
            )
        if self.target_accept is not None and not 0.5 <= self.target_accept < 1.0:
            raise ValueError(f"target_accept must be in [0.5, 1), got {self.target_accept}")
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"horizon must be at least 1 period, got {self.horizon}")

    def target_accept_for(self, n_products: int) -> float:
        """The NUTS step-size target for a catalog of ``n_products``: the configured one, or by size.

        Above PyMC's 0.8 everywhere, against divergences. Below ``SMALL_CATALOG`` products 0.95: at
        0.9 nutpie's step size gave 15 leapfrog steps per draw at 200 products and the brand scale's
        tail ESS fell under the checks' 400 on two seeds of two; 0.95 (31 steps) passed both. At
        1,000 products 0.9 already takes 31 steps, and 0.95 cost 13% more time there and 53% at
        5,000 (benchmarks/README.md).
        """
        if self.target_accept is not None:
            return self.target_accept
        return 0.95 if n_products < SMALL_CATALOG else 0.9

    @property
    def merged_priors(self) -> dict[str, float]:
        return DEFAULT_PRIORS | self.priors

    def with_(self, **changes: Any) -> ForecastConfig:
        return replace(self, **changes)

    @classmethod
    def from_options(
        cls, nested: str | None = None, crossed: str | None = None, **options: Any
    ) -> ForecastConfig:
        """A configuration from command-line style options; an option left as ``None`` keeps its default."""
        return cls(
            hierarchy=Hierarchy.parse(nested, crossed), **{k: v for k, v in options.items() if v is not None}
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hierarchy"] = {
            "nested": list(self.hierarchy.nested),
            "crossed": list(self.hierarchy.crossed),
        }
        d["priors"] = self.merged_priors
        return d

    def hash(self) -> str:
        """Stable hash of the configuration and the package version that ran it."""
        payload = json.dumps({"config": self.to_dict(), "version": __version__}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
