"""A retail catalog that differs from the model where real retail does, with its truth kept.

``forecast.prep.synthetic`` writes the catalog the model was written for: negative binomial demand
around a log-linear mean with one dispersion for the whole catalog. Real retail departs from it in
known ways; this generator starts from that catalog (``generate_retail_data``, unchanged, the same
seed) and adds each departure on top, every one documented, with its parameters and a switch
(``Realism``) so that each can be measured alone:

- ``holidays``: an event calendar (``EVENTS``: Easter, a summer sale, Black Friday, Christmas) whose
  effects reach weeks before and after the event (``EVENTS[name].profile``: week offset -> weight)
  and vary by category (each category's lift is the event's ``lift`` times exp(N(0,
  ``holiday_category_sd``))). The model has yearly Fourier terms only, so a one-week spike that
  moves with the calendar (Easter, Black Friday) is what it cannot draw.
- ``ramp_up``: a product launched inside the data sells ``1 - exp(-(age + 1) / tau)`` of its level
  in its ``age``-th week (``tau`` per product, uniform in ``ramp_weeks``): demand grows with age.
  Its ``launch_date`` (products column, the launch week's Monday; empty for a product on sale from
  the first week) says when, as a retailer's listing date would: a slow launch's first sale comes
  weeks after it, and its weeks without a sale have no sales row.
- ``end_of_life``: a share ``eol_share`` of the established products declines from a week in the
  last year of history or in the horizon, by a factor ``eol_final`` over ``eol_weeks`` (uniform in
  the range) weeks, log-linearly, and is discontinued after its ``end_date`` (products column): no
  demand and no sales after it.
- ``stockouts``: a share ``stockout_share`` of the products runs out of stock now and then
  (``stockout_rate`` of their history weeks, in runs of 1 to 4 weeks); the week's ``availability``
  (sales column, the in-stock fraction 0..1) is 0 or partial, and the recorded sales are the true
  demand thinned by it (Binomial(demand, availability)). The horizon's actuals are true demand.
- ``product_dispersion``: each product's negative binomial dispersion is the catalog's ``alpha``
  times exp(N(0, ``dispersion_sd``)) (the model has one).
- ``product_elasticity``: each product's price elasticity is its category's plus N(0,
  ``elasticity_sd``), acting on log(price / the product's median regular price in history).
- ``shared_shocks`` (off unless asked for, so the published figures of the default catalog stand):
  demand shocks shared by every product in a week, catalog-wide (``shock_sigma``) and per category
  (``shock_group_sigma``), each an AR(1) with ``shock_phi`` (``generate_retail_data``'s; the
  realised shocks in ``base.shocks``). The truth's ``mean`` is given the realised shocks, so it
  knows the horizon's: a forecast's score against it shows what the shocks cost.

Weekly data; the history ends so that the held-out ``horizon`` weeks start on the first Monday of
October (``year``), the holiday season. ``forecast.evaluation.truth.score_against_truth`` scores any
forecast's sample paths against the held-out actuals relative to the true distribution's own CRPS,
overall and by segment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from dateutil.easter import easter

from forecast.prep.synthetic import Truth, generate_retail_data


@dataclass(frozen=True)
class Event:
    """A calendar event: its log lift at full weight and its weight by week offset from the event's
    week (negative: weeks before)."""

    lift: float
    profile: dict[int, float]


EVENTS: dict[str, Event] = {
    # Easter week and the week before it.
    "easter": Event(0.25, {-1: 0.6, 0: 1.0}),
    # A three-week summer sale from the first Monday of July.
    "summer_sale": Event(0.3, {0: 1.0, 1: 0.7, 2: 0.4}),
    # Black Friday's week, a dip the week before (shoppers wait) and Cyber Monday's week after.
    "black_friday": Event(0.7, {-1: -0.15, 0: 1.0, 1: 0.35}),
    # The weeks before Christmas build up; the week after falls back.
    "christmas": Event(0.5, {-3: 0.4, -2: 0.7, -1: 1.0, 0: 0.6, 1: -0.3}),
}

# Segment flags of the truth rows: a week an event moves (``EVENTS``' profiles, either way); a
# product launched in the last 52 weeks of history or in the horizon; in its end-of-life decline,
# still on sale; discontinued (past its ``end_date``: true demand zero, nothing for the truth to
# miss); a product that had stock-outs in its history; a product whose true mean over the horizon
# is under ``sparse_below`` units a week.
SEGMENTS = ("holiday", "new", "declining", "discontinued", "stockout", "sparse")


@dataclass(frozen=True)
class Realism:
    """Which departures from the model's world are on, and their parameters (module docstring)."""

    holidays: bool = True
    holiday_category_sd: float = 0.4
    ramp_up: bool = True
    ramp_weeks: tuple[float, float] = (2.0, 10.0)
    end_of_life: bool = True
    eol_share: float = 0.12
    eol_weeks: tuple[int, int] = (8, 30)
    eol_final: float = 0.15
    stockouts: bool = True
    stockout_share: float = 0.3
    stockout_rate: float = 0.08
    product_dispersion: bool = True
    dispersion_sd: float = 0.7
    product_elasticity: bool = True
    elasticity_sd: float = 0.5
    shared_shocks: bool = False
    shock_sigma: float = 0.1
    shock_group_sigma: float = 0.05
    shock_phi: float = 0.7

    FEATURES = (
        "holidays",
        "ramp_up",
        "end_of_life",
        "stockouts",
        "product_dispersion",
        "product_elasticity",
        "shared_shocks",
    )

    @classmethod
    def none(cls) -> Realism:
        """Every departure off: the synthetic catalog's demand (redrawn), on this calendar."""
        return cls(**{f: False for f in cls.FEATURES})

    def only(self, *features: str) -> Realism:
        """These features on (with this object's parameters), every other off."""
        unknown = set(features) - set(self.FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {', '.join(self.FEATURES)}")
        return replace(self, **{f: f in features for f in self.FEATURES})


@dataclass
class RealisticData:
    # History: (date, product_id, quantity, price, promo, availability); a row per week with a
    # sale, a promotion or a stock-out, as a point-of-sale extract joined with inventory.
    sales: pd.DataFrame
    # product_id, category, brand, color, launch_date (NaT: on sale from the first week), end_date
    # (NaT: not discontinued)
    products: pd.DataFrame
    events: pd.DataFrame  # date (the event's day), event
    plan: pd.DataFrame  # the horizon's (date, product_id, price, promo) for products on sale
    # Every (date, product) of the horizon: the true distribution (``mean``, ``dispersion``: negative
    # binomial, variance mean + mean^2 / dispersion), the held-out actual ``demand``, price, promo,
    # ``active`` (on sale that week) and the segment flags (SEGMENTS).
    truth: pd.DataFrame
    # Every active (date, product) of the history: mean, dispersion, true ``demand``, recorded
    # ``quantity``, availability, price, promo, holiday.
    history: pd.DataFrame
    params: pd.DataFrame  # per product: launch, end_date, ramp tau, decline start, dispersion, elasticity
    base: Truth  # the synthetic catalog's parameters the demand starts from
    realism: Realism
    horizon_start: pd.Timestamp


def holdout_start(year: int) -> pd.Timestamp:
    """The first Monday on or after 1 October of ``year``: the first held-out week."""
    day = pd.Timestamp(year=year, month=10, day=1)
    return day + pd.Timedelta(days=(7 - day.weekday()) % 7)


def event_calendar(first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """The events (``EVENTS``) falling between ``first`` and ``last``, a row per (date, event)."""
    rows = []
    for year in range(first.year - 1, last.year + 2):
        rows += [
            (pd.Timestamp(easter(year)), "easter"),
            (pd.Timestamp(year=year, month=7, day=1) + _to_monday(year, 7), "summer_sale"),
            (_black_friday(year), "black_friday"),
            (pd.Timestamp(year=year, month=12, day=25), "christmas"),
        ]
    frame = pd.DataFrame(rows, columns=["date", "event"])
    pad = pd.Timedelta(weeks=4)
    keep = (frame["date"] >= first - pad) & (frame["date"] <= last + pad)
    return frame[keep].sort_values("date").reset_index(drop=True)


def _to_monday(year: int, month: int) -> pd.Timedelta:
    day = pd.Timestamp(year=year, month=month, day=1)
    return pd.Timedelta(days=(7 - day.weekday()) % 7)


def _black_friday(year: int) -> pd.Timestamp:
    first = pd.Timestamp(year=year, month=11, day=1)
    thanksgiving = first + pd.Timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thanksgiving + pd.Timedelta(days=1)


def event_weights(dates: pd.DatetimeIndex, events: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per event name, its weight in each week of ``dates`` (weeks labelled by their first day)."""
    weights = {name: np.zeros(len(dates)) for name in EVENTS}
    pos = pd.Series(np.arange(len(dates)), index=dates)
    for day, name in events[["date", "event"]].itertuples(index=False):
        week = dates[0] + pd.Timedelta(weeks=int(np.floor((day - dates[0]).days / 7)))
        for offset, w in EVENTS[name].profile.items():
            t = pos.get(week + pd.Timedelta(weeks=offset))
            if t is not None:
                weights[name][t] += w
    return weights


def generate_realistic_catalog(
    n_products: int = 400,
    n_weeks: int = 156,
    horizon: int = 13,
    seed: int = 42,
    realism: Realism | None = None,
    year: int = 2025,
    alpha: float = 2.5,
    sparse_below: float = 0.5,
) -> RealisticData:
    """``n_weeks`` weeks of history and ``horizon`` held-out weeks starting on the first Monday of
    October of ``year``, for ``n_products`` products of the synthetic catalog (seed ``seed``) with
    the departures of ``realism`` (default: all on but the shared shocks).

    Each feature draws its parameters from a random stream of its own whether it is on or off, so
    switching one leaves every other feature's draws as they were. ``sparse_below``: a product whose
    true mean over the horizon is below it (units a week) is in the ``sparse`` segment.
    """
    realism = realism or Realism()
    first_out = holdout_start(year)
    start = first_out - pd.Timedelta(weeks=n_weeks)
    base = generate_retail_data(
        n_products=n_products,
        n_periods=n_weeks,
        start=str(start.date()),
        seed=seed,
        horizon=horizon,
        alpha=alpha,
        **(
            {
                "shock_sigma": realism.shock_sigma,
                "shock_group_sigma": realism.shock_group_sigma,
                "shock_phi": realism.shock_phi,
            }
            if realism.shared_shocks
            else {}
        ),  # fmt: skip
    )
    total = n_weeks + horizon
    dates = pd.date_range(start, periods=total, freq="7D")
    products = base.products.copy()
    pid = pd.Index(products["product_id"])
    n = len(pid)
    frame = base.mean
    p_idx = pid.get_indexer(frame["product_id"])
    t_idx = pd.Index(dates).get_indexer(frame["date"])
    mu0 = np.zeros((n, total))
    price = np.full((n, total), np.nan)
    promo = np.zeros((n, total))
    launched = np.zeros((n, total), dtype=bool)
    mu0[p_idx, t_idx] = frame["mean"].to_numpy()
    price[p_idx, t_idx] = frame["price"].to_numpy()
    promo[p_idx, t_idx] = frame["promo"].to_numpy()
    launched[p_idx, t_idx] = True
    launch_idx = np.where(launched.any(axis=1), launched.argmax(axis=1), total)
    t = np.arange(total)
    category = products["category"].to_numpy()

    streams = np.random.SeedSequence([seed, 1729]).spawn(7)
    r_hol, r_ramp, r_eol, r_stock, r_disp, r_elast, r_draw = (np.random.default_rng(s) for s in streams)
    log_mult = np.zeros((n, total))

    # Holidays: per (event, category) lift; weights by week from the calendar.
    events = event_calendar(dates[0], dates[-1])
    weights = event_weights(dates, events)
    categories = sorted(set(category))
    cat_pos = pd.Index(categories).get_indexer(category)
    holiday_effect = np.zeros((n, total))
    for name, event in EVENTS.items():
        lift = event.lift * np.exp(r_hol.normal(0, realism.holiday_category_sd, len(categories)))
        holiday_effect += lift[cat_pos][:, None] * weights[name][None, :]
    holiday_week = np.any([w != 0 for w in weights.values()], axis=0)
    if realism.holidays:
        log_mult += holiday_effect

    # Launch ramp-up: products launched inside the data (week > 0).
    tau = r_ramp.uniform(*realism.ramp_weeks, n)
    ramped = (launch_idx > 0) & (launch_idx < total)
    age = t[None, :] - launch_idx[:, None]
    ramp = np.log1p(-np.exp(-(np.maximum(age, 0) + 1) / tau[:, None]))
    if realism.ramp_up:
        log_mult += np.where(ramped[:, None], ramp, 0.0)

    # End of life: established products decline log-linearly, then are discontinued.
    eol_pick = (r_eol.uniform(size=n) < realism.eol_share) & (launch_idx == 0)
    decline_len = r_eol.integers(realism.eol_weeks[0], realism.eol_weeks[1] + 1, n)
    decline_at = r_eol.integers(max(n_weeks - 52, 0), total - 2, n)
    end_idx = decline_at + decline_len  # first week without demand
    eol = eol_pick & realism.end_of_life
    decline = np.log(realism.eol_final) / decline_len
    since = t[None, :] - decline_at[:, None]
    log_mult += np.where(eol[:, None] & (since >= 0), decline[:, None] * since, 0.0)
    end_date = pd.Series(pd.NaT, index=pid, dtype="datetime64[ns]")
    end_date[eol] = dates[0] + pd.to_timedelta((end_idx[eol] - 1) * 7, unit="D")
    active = launched & ~(eol[:, None] & (t[None, :] >= end_idx[:, None]))

    # Per-product price response: a deviation from the category's elasticity.
    ref = _reference_price(price, promo, launched, n_weeks)
    elasticity_dev = r_elast.normal(0, realism.elasticity_sd, n)
    log_rel_price = np.nan_to_num(np.log(price / ref[:, None]))
    if realism.product_elasticity:
        log_mult += elasticity_dev[:, None] * log_rel_price

    disp_dev = np.exp(r_disp.normal(0, realism.dispersion_sd, n))
    dispersion = alpha * (disp_dev if realism.product_dispersion else np.ones(n))

    mu = np.where(active, mu0 * np.exp(log_mult), 0.0)
    lam = r_draw.gamma(dispersion[:, None], mu / dispersion[:, None])
    demand = r_draw.poisson(lam)

    # Stock-outs in the history: runs of out-of-stock weeks for the products prone to them.
    prone = r_stock.uniform(size=n) < realism.stockout_share
    starts = r_stock.uniform(size=(n, n_weeks)) < realism.stockout_rate / 2.5
    run_len = r_stock.integers(1, 5, size=(n, n_weeks))
    partial = r_stock.uniform(0.1, 0.9, size=(n, n_weeks))
    full = r_stock.uniform(size=(n, n_weeks)) < 0.5
    out = np.zeros((n, n_weeks), dtype=bool)
    for p, s in zip(*np.nonzero(starts & prone[:, None]), strict=True):
        out[p, s : s + run_len[p, s]] = True
    availability = np.ones((n, total))
    if realism.stockouts:
        availability[:, :n_weeks] = np.where(out, np.where(full, 0.0, partial), 1.0)
    availability = np.where(active, availability, 1.0)
    quantity = r_stock.binomial(demand, availability)
    had_stockout = (availability[:, :n_weeks] < 1).any(axis=1)

    hp, ht = np.nonzero(active[:, :n_weeks])
    history = pd.DataFrame(
        {
            "date": dates[ht],
            "product_id": pid.to_numpy()[hp],
            "quantity": quantity[hp, ht].astype(np.int64),
            "price": price[hp, ht],
            "promo": promo[hp, ht].astype(np.int8),
            "availability": availability[hp, ht],
            "demand": demand[hp, ht].astype(np.int64),
            "mean": mu[hp, ht],
            "dispersion": dispersion[hp],
            "holiday": holiday_week[ht],
        }
    )
    recorded = (history["quantity"] > 0) | (history["promo"] == 1) | (history["availability"] < 1)
    sales_cols = ["date", "product_id", "quantity", "price", "promo", "availability"]
    sales = history.loc[recorded, sales_cols].reset_index(drop=True)

    fp = np.repeat(np.arange(n), horizon)
    ft = np.tile(np.arange(n_weeks, total), n)
    horizon_mean = mu[:, n_weeks:].mean(axis=1)
    truth = pd.DataFrame(
        {
            "date": dates[ft],
            "product_id": pid.to_numpy()[fp],
            "mean": mu[fp, ft],
            "dispersion": dispersion[fp],
            "demand": demand[fp, ft].astype(np.int64),
            "price": price[fp, ft],
            "promo": promo[fp, ft].astype(np.int8),
            "active": active[fp, ft],
            "holiday": holiday_week[ft],
            "new": launch_idx[fp] >= n_weeks - 52,
            "declining": eol[fp] & (ft >= decline_at[fp]) & active[fp, ft],
            "discontinued": eol[fp] & ~active[fp, ft],
            "stockout": had_stockout[fp],
            "sparse": horizon_mean[fp] < sparse_below,
        }
    )
    plan = truth.loc[truth["active"], ["date", "product_id", "price", "promo"]].reset_index(drop=True)
    launch_date = pd.Series(pd.NaT, index=pid, dtype="datetime64[ns]")
    inside = (launch_idx > 0) & (launch_idx < total)  # launched inside the data, the horizon included
    launch_date[inside] = dates[launch_idx[inside]]
    products["launch_date"] = launch_date.to_numpy()
    products["end_date"] = end_date.to_numpy()
    params = pd.DataFrame(
        {
            "launch": [dates[i] if i < total else pd.NaT for i in launch_idx],
            "ramp_tau": np.where(ramped & realism.ramp_up, tau, np.nan),
            "decline_start": [
                dates[i] if e and i < total else pd.NaT for i, e in zip(decline_at, eol, strict=True)
            ],
            "end_date": end_date.to_numpy(),
            "dispersion": dispersion,
            "elasticity": base.truth.elasticity[category].to_numpy()
            + (elasticity_dev if realism.product_elasticity else 0.0),
            "stockout_prone": prone & realism.stockouts,
        },
        index=pid,
    )
    return RealisticData(
        sales=sales,
        products=products,
        events=events,
        plan=plan,
        truth=truth,
        history=history,
        params=params,
        base=base.truth,
        realism=realism,
        horizon_start=first_out,
    )


def _reference_price(price, promo, launched, n_weeks) -> np.ndarray:
    """Per product, the median regular (non-promotion) price of its history weeks; a product with
    none (launched in the horizon): of its horizon weeks, else its median price."""
    regular = np.where((promo == 0) & launched, price, np.nan)
    ref = np.full(len(price), np.nan)
    for cols in (regular[:, :n_weeks], regular, np.where(launched, price, np.nan)):
        todo = np.isnan(ref) & ~np.isnan(cols).all(axis=1)
        if todo.any():
            ref[todo] = np.nanmedian(cols[todo], axis=1)
    return np.where(np.isnan(ref), 1.0, ref)


def describe(data: RealisticData) -> dict:
    """The catalog in figures: sizes, the features and how many rows each touches."""
    truth, history = data.truth, data.history
    return {
        "products": len(data.products),
        "history_weeks": int(history["date"].nunique()),
        "horizon": [str(truth["date"].min().date()), str(truth["date"].max().date())],
        "realism": {k: v for k, v in asdict(data.realism).items()},
        "discontinued": int(data.products["end_date"].notna().sum()),
        "stockout_weeks": int((history["availability"] < 1).sum()),
        "segments_rows": {s: int(truth[s].sum()) for s in SEGMENTS},
        "events": [f"{d.date()} {e}" for d, e in data.events.itertuples(index=False)],
    }


__all__ = [
    "EVENTS",
    "SEGMENTS",
    "Event",
    "RealisticData",
    "Realism",
    "describe",
    "event_calendar",
    "generate_realistic_catalog",
    "holdout_start",
]
