"""Run configuration and prior defaults: one place, user overrides merged over defaults.

A new forecast option goes here, as a field of ``ForecastConfig`` (name, type, default, one-line
help); the CLI, the flows and the pipeline TOML's ``[forecast]`` table read it from here (``OPTIONS``).
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from forecast import __version__
from forecast.contract.schema import Hierarchy
from forecast.model.priors import DEFAULT_PRIORS, PRODUCT_EFFECTS

SAMPLERS = ("nutpie", "pymc", "advi")

# Catalogs with fewer products sample at a higher target acceptance (ForecastConfig.target_accept_for).
SMALL_CATALOG = 500

DEFAULT_HORIZON = {"D": 28, "W": 13, "M": 6, "Q": 4}


LIKELIHOODS = ("negbin", "zinb")
ON_OFF = ("on", "off")  # a component switched on or off
POOLINGS = ("partial", "none")
_PERIODS = {"D": "days", "W": "weeks", "M": "months", "Q": "quarters"}


def option(
    help: str,
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    shown: str | None = None,
    choices: tuple[str, ...] = (),
    at_least: float | None = None,
    below: float | None = None,
) -> Any:
    """A ``ForecastConfig`` field that is a forecast option, with its one-line ``help``: ``shown`` is
    the default in words where the data decides it; ``choices``, or ``at_least`` <= value < ``below``,
    the values it takes (checked by the config; the CLI's flags take the range too)."""
    meta = {"help": help, "shown": shown, "choices": choices, "at_least": at_least, "below": below}
    return field(default=default, default_factory=factory, metadata=meta)


# Stage 2 by NUTS fits each shard's history and draws its horizon on its own: shared shocks would
# not be shared (stage 2 by conditional sampling reads stage 1's and draws the horizon's once).
NO_SHARDED_SHOCKS = (
    "shared_shocks=on in a sharded run needs stage 2 by conditional sampling: use --stage2 auto or "
    "conditional, without the options that need NUTS"
)


# A new option goes here, as a field made by ``option(...)``; the CLI, the flows and the TOML read it
# from here.
@dataclass(frozen=True)
class ForecastConfig:
    """Everything that decides a forecast run's result; its hash goes into the run record.

    Each field is a forecast option (see ``OPTIONS``); ``hierarchy`` is two, ``nested`` and ``crossed``.
    """

    hierarchy: Hierarchy = field(
        default_factory=Hierarchy,
        metadata={
            "options": {
                "nested": "Nested attributes, outermost first (comma-separated; empty: none)",
                "crossed": "Crossed attributes (comma-separated; empty: none)",
            }
        },
    )
    horizon: int | None = option(
        "Periods ahead",
        None,
        shown=", ".join(f"{n} {_PERIODS[code]}" for code, n in DEFAULT_HORIZON.items()),
        at_least=1,
    )
    sampler: str = option("Sampler", "nutpie", choices=SAMPLERS)
    # negbin won the backtest in benchmarks/README.md
    likelihood: str = option("Likelihood; zinb: zero-inflated", "negbin", choices=LIKELIHOODS)
    pooling: str = option(
        "Pooling of product effects; none: the no-pooling comparison model", "partial", choices=POOLINGS
    )
    # 4 chains x 1,000 draws: R-hat compares four chains (eight halves), and the worst
    # hyperparameter's bulk ESS, at 0.15-0.2 per draw, runs near 600-800, clear of the 400 the
    # checks ask for. nutpie runs more chains than cores in turn.
    draws: int = option("Posterior draws per chain", 1000, at_least=1)
    tune: int = option("Tuning steps per chain", 600, at_least=1)
    # None: by catalog size (``target_accept_for``)
    target_accept: float | None = option(
        "NUTS step-size target",
        None,
        shown=f"0.95 under {SMALL_CATALOG} products, else 0.9",
        at_least=0.5,
        below=1.0,
    )
    chains: int = option("Chains (at least 2, but for advi)", 4, at_least=1)
    # A fit that fails its checks is retried within the budget (forecast.model.remedies).
    attempt_budget: float = option(
        "Time all sampling attempts may take, as a multiple of the first (its compile included): "
        "a fit that fails its checks is retried within it; 1: no retries",
        2.5,
        at_least=1.0,
    )
    seed: int = option("Random seed: the same seed reproduces a run", 1)
    sample_paths: int = option("Sample paths written per product (forecast_draws)", 500, at_least=1)
    fourier_order: int = option(
        "Yearly Fourier harmonics (daily data adds a weekly cycle of its own)", 3, at_least=0
    )
    product_effects: str = option(
        "Components with a deviation per product around its group's value (comma-separated: "
        "elasticity, promo, trend, season, dispersion, drift (its level drift's scale); empty: none)",
        "",
        shown="none",
    )
    launch_ramp: str = option(
        "Demand ramps up with a product's age after a launch inside the data, pooled by group",
        "off",
        choices=ON_OFF,
    )
    events: str = option(
        "Event effects from the events table (or holiday_country's holidays); off: none",
        "on",
        choices=ON_OFF,
    )
    level_drift: str = option(
        "Each product's level walks over time (a random walk, its forecast spreading with the "
        "horizon); on: for series that drift, at a cost in fitting time",
        "off",
        choices=ON_OFF,
    )
    shared_shocks: str = option(
        "Demand shocks shared by the products of a period, catalog-wide and per group, carried into "
        "the horizon in every sample path (totals' intervals that know products move together); "
        "auto: where the pre-fit finds them in the history",
        "auto",
        choices=("auto", *ON_OFF),
    )
    stockouts: str = option(
        "Periods with availability below 1: censored (sales a lower bound on demand) or read as demand",
        "censored",
        choices=("censored", "as_demand"),
    )
    # The events table when it has rows; else this country's public holidays (forecast.prep.events).
    holiday_country: str = option(
        "Country whose public holidays are the event calendar when the events table is empty "
        "(ISO code: US, DE, GB, ...; empty: none)",
        "",
    )
    priors: dict[str, float] = option(
        "Prior overrides by name (forecast.model.priors.DEFAULT_PRIORS)", factory=dict, shown="none"
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if meta.get("choices") and value not in meta["choices"]:
                raise ValueError(f"unknown {f.name} '{value}': choose one of {', '.join(meta['choices'])}")
            low, below = meta.get("at_least"), meta.get("below")
            if value is not None and (
                (low is not None and value < low) or (below is not None and value >= below)
            ):
                bounds = f"in [{low}, {below})" if below is not None else f"at least {low}"
                raise ValueError(f"{f.name} must be {bounds}, got {value}")
        effects = self.product_effect_list
        if set(effects) - set(PRODUCT_EFFECTS):
            raise ValueError(
                f"unknown product_effects {sorted(set(effects) - set(PRODUCT_EFFECTS))}; "
                f"choose from {', '.join(PRODUCT_EFFECTS)}"
            )
        if self.holiday_country:
            from forecast.prep.events import check_country  # the holidays package, only when named

            object.__setattr__(self, "holiday_country", check_country(self.holiday_country))
        unknown = set(self.priors) - set(DEFAULT_PRIORS)
        if unknown:
            raise ValueError(f"unknown prior names: {sorted(unknown)}; known: {sorted(DEFAULT_PRIORS)}")
        if self.sampler != "advi" and self.chains < 2:
            raise ValueError(
                f"chains must be at least 2 for {self.sampler} (R-hat compares chains), got {self.chains}"
            )

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
    def product_effect_list(self) -> tuple[str, ...]:
        """``product_effects`` as a tuple of component names."""
        return tuple(p.strip() for p in self.product_effects.split(",") if p.strip())

    @property
    def merged_priors(self) -> dict[str, float]:
        return DEFAULT_PRIORS | self.priors

    def with_(self, **changes: Any) -> ForecastConfig:
        return replace(self, **changes)

    @classmethod
    def from_options(
        cls, nested: str | None = None, crossed: str | None = None, **options: Any
    ) -> ForecastConfig:
        """A configuration from the options by name (``OPTIONS``), as the CLI, the flows and the
        pipeline TOML give them; an option left out or ``None`` keeps its default."""
        given = check_options({"nested": nested, "crossed": crossed, **options})
        hierarchy = Hierarchy.parse(given.pop("nested"), given.pop("crossed"))
        return cls(hierarchy=hierarchy, **{k: v for k, v in given.items() if v is not None})

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


@dataclass(frozen=True)
class Option:
    """One forecast option as the CLI, the flows and the pipeline TOML take it."""

    name: str
    kind: type  # int, float, str, or dict (priors: a prior's name to its value)
    default: Any  # None: the data decides (``shown`` says how)
    help: str
    shown: str | None = None
    choices: tuple[str, ...] = ()
    at_least: float | None = None
    below: float | None = None

    def describe(self, form: str = "") -> str:
        """The one-line help (``form``: how a value is written, after it), its choices and default."""
        choices = f" ({' | '.join(self.choices)})" if self.choices else ""
        return f"{self.help}{form}{choices} [default: {self.shown or self.default}]"

    def typed(self, value: Any, where: str = "") -> Any:
        """``value`` as this option takes it (an integer for a float option becomes a float), or a
        one-line ValueError that ``where`` (e.g. "[forecast] ") begins."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if self.kind is dict and isinstance(value, Mapping):
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
            if numbers and all(isinstance(k, str) for k in value):
                return {k: float(v) for k, v in value.items()}
            raise ValueError(f"{where}{self.name} maps names to numbers, got {dict(value)!r}")
        if isinstance(value, bool) or not isinstance(value, self.kind):
            raise ValueError(f"{where}{self.name} must be of type {self.kind.__name__}, got {value!r}")
        return value


def _kind(hint: Any) -> type:
    """The option's type from its field's: ``int`` for ``int | None``, ``dict`` for ``dict[str, float]``."""
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def _options() -> tuple[Option, ...]:
    hints = typing.get_type_hints(ForecastConfig)
    found: list[Option] = []
    for f in fields(ForecastConfig):
        meta = f.metadata
        if "options" in meta:  # the hierarchy: its attribute lists, comma-separated
            default = f.default_factory()
            found += [Option(n, str, ",".join(getattr(default, n)), h) for n, h in meta["options"].items()]
            continue
        default = f.default_factory() if f.default is MISSING else f.default
        keep = ("shown", "choices", "at_least", "below")
        found.append(
            Option(f.name, _kind(hints[f.name]), default, meta["help"], **{k: meta[k] for k in keep})
        )
    return tuple(found)


# Every forecast option, in ForecastConfig's order, by the name the CLI (--name), the flows
# (``options={"name": ...}``) and the pipeline TOML's [forecast] table give it.
OPTIONS = _options()
OPTION_NAMES = tuple(o.name for o in OPTIONS)
_BY_NAME = {o.name: o for o in OPTIONS}


def check_options(options: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``options`` by name, each value of its option's type (``None`` stays: the default); an
    unknown name or a value of another type is a one-line ValueError that ``where`` begins."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise ValueError(f"{where}unknown forecast option(s) {unknown}; known: {list(OPTION_NAMES)}")
    return {k: None if v is None else _BY_NAME[k].typed(v, where) for k, v in options.items()}
