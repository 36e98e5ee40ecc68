"""A seeded generator of retail sales that look like a real catalog.

Categories hold brands (nested; brand names can repeat across categories), colors cut across them,
demand is negative binomial around a log-linear mean with yearly seasonality per category, a small
per-product trend, price elasticity, promotion lift, a long tail of slow sellers, and products launched
recently (a few weeks of history) or not yet sold at all (no history). The truth is returned with the
data so tests can check what a fit recovers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CATALOG: dict[str, list[str]] = {
    "tops": ["Northwind", "Alder & Co", "Brightline", "Kestrel", "Juniper"],
    "bottoms": ["Northwind", "Denimworks", "Kestrel", "Solano"],
    "outerwear": ["Fjellstad", "Northwind", "Stormcap"],
    "footwear": ["Stride", "Kestrel", "Pathway", "Cobble"],
    "accessories": ["Alder & Co", "Lumen", "Tessellate", "Brightline", "Marlow"],
    "home": ["Hearth", "Lumen", "Cedar Lane"],
}
COLORS = ["black", "white", "navy", "grey", "red", "green", "beige", "blue"]
BASE_PRICE = {
    "tops": 25,
    "bottoms": 45,
    "outerwear": 120,
    "footwear": 80,
    "accessories": 15,
    "home": 30,
}


# Date spacing and periods per year of each frequency the generator writes (weekly: the demo's).
FREQUENCIES: dict[str, tuple[str, float]] = {
    "D": ("D", 365.25),
    "W": ("7D", 52.0),
    "M": ("MS", 12.0),
    "Q": ("QS", 4.0),
}


@dataclass
class Truth:
    """Parameters the data were drawn from (log scale, per period)."""

    intercept: float
    sigma: dict[str, float]  # sd of each group level's effects and of the product effects
    effects: dict[str, pd.Series]  # per attribute: effect by level key ("category/brand" for brands)
    product_effect: pd.Series
    elasticity: pd.Series  # by category
    promo_lift: pd.Series  # by category
    alpha: float  # negative binomial dispersion
    launch: pd.Series  # launch date by product (NaT: not launched inside the data)
    # Shared demand shocks (``shock_sigma``/``shock_group_sigma``): the log shift of each category in
    # each period (dates x categories, horizon included), and the AR(1) that made them.
    shocks: pd.DataFrame | None = None
    shock: dict[str, float] | None = None


@dataclass
class RetailData:
    sales: pd.DataFrame
    products: pd.DataFrame
    truth: Truth
    # Every active (date, product): true expected demand ``mean`` and the simulated ``quantity``,
    # zero-sale weeks included (the held-out truth for tests).
    mean: pd.DataFrame


def _shocks(
    rng, n: int, groups: list[str], sigma: float, group_sigma: float, phi: float, dates
) -> pd.DataFrame:
    """AR(1) shocks from 0, a catalog-wide one plus one per group: ``x_t = phi * x_(t-1) + e_t``."""
    e = sigma * rng.normal(size=(n, 1)) + group_sigma * rng.normal(size=(n, len(groups)))
    x = np.zeros_like(e)
    for t in range(n):
        x[t] = e[t] + (phi * x[t - 1] if t else 0.0)
    return pd.DataFrame(x, index=dates, columns=groups)


def generate_retail_data(
    n_products: int = 500,
    n_periods: int = 104,
    start: str = "2024-11-04",
    seed: int = 42,
    new_share: float = 0.08,
    unlaunched_share: float = 0.02,
    horizon: int = 0,
    alpha: float = 2.5,
    product_trend_sd: float = 0.08,
    frequency: str = "W",
    season_amplitude: tuple[float, float] = (0.1, 0.6),
    weekday_amplitude: float = 0.3,
    promo_rate: float = 0.07,
    price_changes: bool = True,
    level_shift: float = 0.0,
    shock_sigma: float = 0.0,
    shock_group_sigma: float = 0.0,
    shock_phi: float = 0.7,
    catalog: dict[str, list[str]] | None = None,
    colors: list[str] | None = None,
) -> RetailData:
    """Generate sales for ``n_products`` products over ``n_periods`` periods (weekly by default).

    ``horizon`` extra periods are simulated past the end and returned in ``mean``/``sales`` with
    dates beyond the training window, so tests can hold them out. Periods with no sale and no
    promotion produce no sales row, as in most point-of-sale extracts.

    The other catalogs a forecaster meets (``benchmarks/corpus.py``): ``frequency`` "D", "W", "M"
    or "Q" (daily data gets a day-of-week cycle of ``weekday_amplitude``); each category's yearly
    amplitude is drawn from ``season_amplitude`` ((0, 0): no seasonality); ``promo_rate`` is the
    share of periods on promotion (0: none); ``price_changes=False`` keeps every product's regular
    price fixed; ``level_shift`` moves every product's log level (-2: mostly intermittent);
    ``catalog`` (category -> brands) and ``colors`` replace the demo's attributes.
    ``shock_sigma`` and ``shock_group_sigma`` add demand shocks shared by every product in a period,
    catalog-wide and per category, each an AR(1) in time with ``shock_phi`` (``Truth.shocks``): what
    moves real sales together, and what a sum of independent products' draws does not know. The
    defaults (no shocks) reproduce the demo catalog draw for draw.
    """
    if n_products < 1 or n_periods < 2:
        raise ValueError("need at least 1 product and 2 periods")
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}: choose one of {', '.join(FREQUENCIES)}")
    catalog = catalog or CATALOG
    colors = colors or COLORS
    rng = np.random.default_rng(seed)
    categories = list(catalog)
    sigma = {"category": 0.5, "brand": 0.4, "color": 0.2, "product": 0.8}
    cat_eff = pd.Series(rng.normal(0, sigma["category"], len(categories)), index=categories)
    brand_keys = [f"{c}/{b}" for c in categories for b in catalog[c]]
    brand_eff = pd.Series(rng.normal(0, sigma["brand"], len(brand_keys)), index=brand_keys)
    color_eff = pd.Series(rng.normal(0, sigma["color"], len(colors)), index=colors)
    elasticity = pd.Series(rng.normal(-1.6, 0.4, len(categories)), index=categories)
    promo_lift = pd.Series(rng.normal(0.45, 0.15, len(categories)), index=categories)
    amp = pd.Series(rng.uniform(*season_amplitude, len(categories)), index=categories)
    phase = pd.Series(rng.uniform(0, 2 * np.pi, len(categories)), index=categories)
    intercept = np.log(2.0) + level_shift

    # Products: category by popularity, brand within category, color crossed.
    cat_weights = rng.dirichlet(np.full(len(categories), 4.0))
    cat = rng.choice(categories, size=n_products, p=cat_weights)
    brand = np.array([rng.choice(catalog[c]) for c in cat])
    color = rng.choice(colors, size=n_products, p=rng.dirichlet(np.full(len(colors), 3.0)))
    # Long tail: product effects skewed low, so most products sell a unit or two a week at most.
    prod_eff = rng.normal(0, sigma["product"], n_products) - rng.exponential(0.5, n_products)
    product_id = [f"P{i:05d}" for i in range(n_products)]
    products = pd.DataFrame({"product_id": product_id, "category": cat, "brand": brand, "color": color})

    total = n_periods + horizon
    spacing, periods_per_year = FREQUENCIES[frequency]
    dates = pd.date_range(start, periods=total, freq=spacing)
    # Launch week: most products existed before the data starts; some launched during it, a share
    # only in the last 12 weeks (new), a share not launched yet (no history: cold start).
    launch_idx = np.zeros(n_products, dtype=int)
    u = rng.uniform(size=n_products)
    new = u < new_share
    unlaunched = (u >= new_share) & (u < new_share + unlaunched_share)
    mid = (u >= new_share + unlaunched_share) & (u < new_share + unlaunched_share + 0.15)
    recent_from = max(n_periods - 12, 1)
    launch_idx[new] = rng.integers(recent_from, max(n_periods - 1, recent_from + 1), new.sum())
    launch_idx[unlaunched] = n_periods  # first possible sale is the first forecast week
    launch_idx[mid] = rng.integers(1, max(n_periods - 12, 2), mid.sum())

    # Prices: a base price per product, a permanent change for some, promotions at 25% off.
    base = np.array([BASE_PRICE.get(c, 30) for c in cat]) * np.exp(rng.normal(0, 0.3, n_products))
    base = np.round(base, 0) - 0.01
    change_week = rng.integers(min(10, total - 1), total, n_products)
    changed = price_changes & (rng.uniform(size=n_products) < 0.3)
    change = np.where(changed, rng.choice([0.9, 1.1, 1.2], n_products), 1.0)
    t = np.arange(total)
    regular = base[:, None] * np.where(t[None, :] >= change_week[:, None], change[:, None], 1.0)
    promo = rng.uniform(size=(n_products, total)) < promo_rate
    price = np.round(np.where(promo, regular * 0.75, regular), 2)
    ref = np.median(regular[:, :n_periods], axis=1)

    trend = rng.normal(0, product_trend_sd, n_products)  # per year
    years = t / periods_per_year
    week_of_year = 2 * np.pi * dates.dayofyear.values / 365.25
    season = amp[cat].values[:, None] * np.sin(week_of_year[None, :] + phase[cat].values[:, None])
    if frequency == "D":  # busier weekends, a day-of-week shape per category
        day_phase = pd.Series(rng.uniform(-0.5, 0.5, len(categories)), index=categories)
        day = 2 * np.pi * dates.dayofweek.values / 7
        season = season + weekday_amplitude * np.cos(
            day[None, :] - 2 * np.pi * 5.5 / 7 + day_phase[cat].values[:, None]
        )
    brand_key = np.char.add(np.char.add(cat.astype(str), "/"), brand.astype(str))
    level = intercept + cat_eff[cat].values + brand_eff[brand_key].values + color_eff[color].values + prod_eff
    log_mu = (
        level[:, None]
        + season
        + trend[:, None] * (years[None, :] - years[n_periods - 1])
        + elasticity[cat].values[:, None] * np.log(price / ref[:, None])
        + promo_lift[cat].values[:, None] * promo
    )
    shocks = None
    if shock_sigma > 0 or shock_group_sigma > 0:
        shocks = _shocks(np.random.default_rng([seed, 26]), total, categories, shock_sigma,
                         shock_group_sigma, shock_phi, dates)  # fmt: skip
        log_mu = log_mu + shocks[cat].to_numpy().T
    mu = np.exp(log_mu)
    active = t[None, :] >= launch_idx[:, None]
    lam = rng.gamma(alpha, mu / alpha)
    qty = np.where(active, rng.poisson(lam), 0)

    pi, ti = np.nonzero(active)
    frame = pd.DataFrame(
        {
            "date": dates[ti],
            "product_id": np.asarray(product_id)[pi],
            "quantity": qty[pi, ti].astype(np.int64),
            "price": price[pi, ti],
            "promo": promo[pi, ti].astype(np.int8),
        }
    )
    mean = frame.assign(mean=mu[pi, ti])
    # Like most point-of-sale extracts: a row per product and week with a sale, plus the weeks the
    # product was on promotion (the promotion calendar is known even when nothing sold).
    sales = frame[(frame["quantity"] > 0) | (frame["promo"] == 1)].reset_index(drop=True)

    launch = pd.Series(
        [dates[i] if i < total else pd.NaT for i in launch_idx], index=product_id, name="launch"
    )
    truth = Truth(
        intercept=intercept,
        sigma=sigma,
        effects={"category": cat_eff, "brand": brand_eff, "color": color_eff},
        product_effect=pd.Series(prod_eff, index=product_id),
        elasticity=elasticity,
        promo_lift=promo_lift,
        alpha=alpha,
        launch=launch,
        shocks=shocks,
        shock=None
        if shocks is None
        else {"sigma": shock_sigma, "group_sigma": shock_group_sigma, "phi": shock_phi},  # fmt: skip
    )
    return RetailData(sales=sales, products=products, truth=truth, mean=mean.reset_index(drop=True))
