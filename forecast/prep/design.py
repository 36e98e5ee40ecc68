"""Design matrices: from long-format sales and products to the arrays the model reads.

Everything here is pure (frames in, arrays out). Observations are one row per product and period
from the product's first sale to the end of the data: a period with no sales row sold zero, as in
point-of-sale extracts that omit zero-sale rows. A product with a ``launch_date`` in products has
observations from the period holding it instead (from the first period when it is before the data):
the weeks between its listing and its first sale are zeros it sold on the shelf, and a slow launch's
early weeks are what tell its ramp. A discontinued product (an ``end_date`` in products)
has observations up to the period holding its end date only: the zeros after it are the product
leaving the catalog, not its demand collapsing. Products with no sales at all have no observations
and are forecast from their attributes (cold start). A sales row whose ``availability`` is under 1
(out of stock for part of the period) is censored: its units are a lower bound on demand
(``Rows.censored``); a zero-sale period without a row is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.contract.schema import (
    AVAILABILITY,
    DATE,
    END_DATE,
    LAUNCH_DATE,
    NOT_ATTRIBUTES,
    PRICE,
    PRODUCT,
    PROMO,
    QUANTITY,
    Hierarchy,
)
from forecast.contract.segments import is_censored
from forecast.prep.calendar import Frequency
from forecast.prep.events import event_features, unseen_event_features


def panel_rows(
    keys: np.ndarray, first: np.ndarray, n_periods: int, last: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a dense panel: each key once per period from its ``first`` period to the last
    (``n_periods - 1``), or to its own ``last`` period where given (a discontinued product's; none
    when it is before ``first``); a period without a sales row sold zero. Returns ``(keys, periods)``."""
    first = np.asarray(first, dtype=np.int64)
    lengths = n_periods - first
    if last is not None:
        end = np.minimum(np.asarray(last, dtype=np.int64) + 1, n_periods)
        lengths = np.clip(end - first, 0, None)
    offset = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(np.asarray(keys), lengths), np.repeat(first, lengths) + offset


@dataclass
class Rows:
    """One row per (product, period) the model sees: observed history or the forecast horizon."""

    product_idx: np.ndarray  # int, index into Design.products
    time_idx: np.ndarray  # int, index into Design.dates
    log_price: np.ndarray  # log(price / the product's reference price)
    promo: np.ndarray  # 0/1
    y: np.ndarray  # units sold (zeros on the horizon)
    # True where the product was out of stock for part of the period (its ``availability`` below 1):
    # the sales are a lower bound on demand (censored). None: no row is (no availability column).
    censored: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.product_idx)


@dataclass
class Design:
    products: pd.Index  # product ids, model order
    levels: dict[str, pd.Index]  # attribute -> its level keys ("tops/Northwind" for nested brands)
    level_idx: dict[str, np.ndarray]  # attribute -> per-product index into levels[attribute]
    pool: str | None  # attribute that pools seasonality, trend, price and promo effects
    dates: pd.DatetimeIndex  # training periods followed by the horizon
    n_train: int
    fourier: np.ndarray  # (len(dates), n_terms)
    fourier_names: list[str]
    years: np.ndarray  # time in years from the last training period, per date
    train: Rows
    future: Rows
    ref_price: np.ndarray  # per product
    future_price_source: str  # what the horizon's prices and promotions assume
    n_obs: np.ndarray  # observed periods per product
    # per product, the index into dates of its last period on sale (the one holding its end_date;
    # -1 when that is before the first date, len(dates) - 1 when not discontinued); None: no product
    # has an end date
    end_period: np.ndarray | None = None
    sales_after_end: int = 0  # sales rows dated after their product's end_date: not read as history
    # per product, the index into dates of its launch where it launched inside the data: the period
    # holding its launch_date where given (len(dates) when after the horizon; -1 when in the first
    # period or before it); else the first sale's period when that is after the first period; for a
    # product without history, its first planned period (a plan names its launch); -1 otherwise
    # (established, or launch unknown). None: no product has one
    launch_period: np.ndarray | None = None
    sales_before_launch: int = 0  # sales rows dated before their product's launch_date: not read
    # (len(dates), k): calendar events and their lead/lag windows, a 0/1 column per (event, offset)
    # that occurs in the history (forecast.prep.events) less its fit on a constant and the Fourier
    # terms (``_beside_the_season``); no columns without an events calendar
    events: np.ndarray | None = None
    event_names: list[str] = field(default_factory=list)
    # (len(dates), k): the horizon's event columns that no history period has (0/1, 0 in the
    # history; ``forecast.prep.events.unseen_event_features``): no coefficient is learned for them,
    # the horizon model draws their effects (``forecast.model.builder._unseen_events``)
    unseen_events: np.ndarray | None = None
    unseen_event_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.events is None:
            self.events = np.zeros((len(self.dates), 0))
        if self.unseen_events is None:
            self.unseen_events = np.zeros((len(self.dates), 0))

    @property
    def pool_idx(self) -> np.ndarray:
        if self.pool is None:
            return np.zeros(len(self.products), dtype=np.int64)
        return self.level_idx[self.pool]

    @property
    def n_pool(self) -> int:
        return 1 if self.pool is None else len(self.levels[self.pool])

    @property
    def future_dates(self) -> pd.DatetimeIndex:
        return self.dates[self.n_train :]

    @property
    def censored_rows(self) -> int:
        """History rows read as lower bounds on demand (out of stock for part of the period)."""
        return 0 if self.train.censored is None else int(self.train.censored.sum())

    @property
    def had_stockout(self) -> np.ndarray:
        """Per product: True where its history has a censored period (the output's flag)."""
        if self.train.censored is None:
            return np.zeros(len(self.products), dtype=bool)
        hit = self.train.product_idx[self.train.censored]
        return np.bincount(hit, minlength=len(self.products)) > 0

    @property
    def discontinued(self) -> np.ndarray | None:
        """``(product, horizon period)``: True where the product's end date is before the period, so
        it sells nothing there; None when no product is discontinued within the horizon."""
        if self.end_period is None:
            return None
        off = np.arange(self.n_train, len(self.dates))[None, :] > self.end_period[:, None]
        return off if off.any() else None

    @property
    def off_sale(self) -> np.ndarray | None:
        """``(product, horizon period)``: True where the product is not on sale, after its end date
        (``discontinued``) or before a launch inside the horizon (``launch_period``), so it sells
        nothing there; None when no product is off sale within the horizon."""
        off = self.discontinued
        if self.launch_period is not None:
            before = np.arange(self.n_train, len(self.dates))[None, :] < self.launch_period[:, None]
            off = before if off is None else off | before
        return off if off is not None and off.any() else None


def end_periods(products: pd.DataFrame, dates: pd.DatetimeIndex) -> np.ndarray | None:
    """Per product (in ``products``' order), the index into ``dates`` of the last period on or before
    its ``end_date``; ``len(dates) - 1`` without one. None when no product has an end date."""
    if END_DATE not in products.columns:
        return None
    end = pd.to_datetime(products[END_DATE])
    if end.isna().all():
        return None
    last = np.searchsorted(dates.values, end.fillna(dates[-1]).to_numpy(dates.values.dtype), side="right") - 1
    return np.where(end.isna().to_numpy(), len(dates) - 1, last).astype(np.int64)


# ``launch_date_periods``' value for a product without a launch date.
NO_LAUNCH_DATE = -2


def launch_date_periods(
    products: pd.DataFrame, dates: pd.DatetimeIndex, frequency: Frequency
) -> np.ndarray | None:
    """Per product (in ``products``' order), the index into ``dates`` of the period holding its
    ``launch_date``: -1 when that is the first period or before it (on sale from the data's start),
    ``len(dates)`` when it is after the last period; ``NO_LAUNCH_DATE`` without one. None when no
    product has a launch date."""
    if LAUNCH_DATE not in products.columns:
        return None
    launch = pd.to_datetime(products[LAUNCH_DATE])
    if launch.isna().all():
        return None
    bounds = dates.append(frequency.future(dates[-1], 1))  # the last period ends where the next starts
    at = (
        np.searchsorted(bounds.values, launch.fillna(bounds[0]).to_numpy(bounds.values.dtype), side="right")
        - 1
    )
    at = np.where(at <= 0, -1, at)
    return np.where(launch.isna().to_numpy(), NO_LAUNCH_DATE, at).astype(np.int64)


def fourier_terms(
    dates: pd.DatetimeIndex, frequency: Frequency, order: int, history: int | None = None
) -> tuple[np.ndarray, list]:
    """Yearly Fourier terms (and weekly ones for daily data), as in Prophet's seasonality.

    A cycle the ``history`` (periods of it, default: all ``dates``) does not cover once is left
    out: less than a year of data cannot tell a yearly cycle from the level and the trend, and
    its terms would only be a ridge for the sampler (the same rule as Prophet's automatic
    seasonalities, there at two cycles). Returns an array of no columns when no cycle is left.
    """
    history = len(dates) if history is None else history
    cols, names = [], []
    year_frac = (dates.dayofyear.values - 1 + dates.hour.values / 24) / 365.25
    yearly_order = min(order, int(frequency.periods_per_year // 2))
    if frequency.code == "Q":  # four points a year: the second harmonic's sine is zero at every one
        yearly_order = min(yearly_order, 1)
    if history < round(frequency.periods_per_year):
        yearly_order = 0
    for k in range(1, yearly_order + 1):
        cols += [np.sin(2 * np.pi * k * year_frac), np.cos(2 * np.pi * k * year_frac)]
        names += [f"year_sin{k}", f"year_cos{k}"]
    if frequency.code == "D" and history >= 14:
        dow = dates.dayofweek.values / 7.0
        for k in range(1, 4):
            cols += [np.sin(2 * np.pi * k * dow), np.cos(2 * np.pi * k * dow)]
            names += [f"week_sin{k}", f"week_cos{k}"]
    if not cols:
        return np.zeros((len(dates), 0)), names
    return np.column_stack(cols), names


def level_keys(products: pd.DataFrame, hierarchy: Hierarchy) -> pd.DataFrame:
    """Per product, the key of its level in each attribute; nested keys carry their parents."""
    keys = pd.DataFrame(index=products.index)
    parent = None
    for attr in hierarchy.nested:
        value = products[attr].astype(str)
        keys[attr] = value if parent is None else parent + "/" + value
        parent = keys[attr]
    for attr in hierarchy.crossed:
        keys[attr] = products[attr].astype(str)
    return keys


def parent_groups(design: Design) -> dict[str, np.ndarray]:
    """For each attribute whose levels nest in earlier attributes' levels (every product of a
    brand in one category), per level the cell of those parents it sits in.

    Nesting is read from the products, not the configuration: a brand declared crossed whose
    products all sit in one category still nests there. A nested attribute's effects that sum to
    zero over the whole catalog leave a ridge between a parent's effect and its children's
    average, which only the priors pin (measured at 5,000 products: correlation -0.97, the
    category effect five times as uncertain as the sum the data inform; benchmarks/README.md,
    "the convergence corpus"); ``forecast.model.builder`` makes them sum to zero within their parents.
    """
    groups = {}
    attrs = list(design.level_idx)
    for i, attr in enumerate(attrs):
        idx, n = design.level_idx[attr], len(design.levels[attr])
        cell = np.zeros(n, dtype=np.int64)
        nested = False
        for parent in attrs[:i]:
            pidx = design.level_idx[parent]
            first = np.full(n, -1, dtype=np.int64)
            first[idx[::-1]] = pidx[::-1]  # each level's parent level, from one of its products
            if len(design.levels[parent]) > 1 and np.array_equal(first[idx], pidx):
                cell = cell * len(design.levels[parent]) + first
                nested = True
        if nested:
            groups[attr] = np.unique(cell, return_inverse=True)[1].astype(np.int64)
    return groups


def build_design(
    sales: pd.DataFrame,
    products: pd.DataFrame,
    hierarchy: Hierarchy,
    frequency: Frequency,
    horizon: int,
    fourier_order: int = 3,
    plan: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> Design:
    """Turn sales and products into model arrays for history and the next ``horizon`` periods.

    ``plan`` holds planned ``(date, product_id, [price], [promo])`` for horizon periods; periods and
    products it does not cover assume the last regular price and no promotion. ``events`` holds
    calendar events ``(date, event)`` (``forecast.prep.events.event_features``): none, no event
    columns.
    """
    missing = [a for a in hierarchy.attributes if a not in products.columns]
    if missing:
        raise ValueError(
            f"products have no column(s) {missing} named in the hierarchy; "
            f"available: {[c for c in products.columns if c not in NOT_ATTRIBUTES]}"
        )
    products = products.sort_values(PRODUCT).reset_index(drop=True)
    keys = level_keys(products.fillna({a: "unknown" for a in hierarchy.attributes}), hierarchy)
    levels, level_idx = {}, {}
    for attr in hierarchy.attributes:
        codes, uniques = pd.factorize(keys[attr], sort=True)
        levels[attr], level_idx[attr] = pd.Index(uniques, name=attr), codes.astype(np.int64)
    pid = pd.Index(products[PRODUCT].astype(str), name=PRODUCT)

    sales = sales.copy()
    sales[DATE] = pd.to_datetime(sales[DATE])
    unknown = set(sales[PRODUCT].astype(str)) - set(pid)
    if unknown:
        raise ValueError(
            f"{len(unknown)} product(s) in sales are not in products, e.g. {sorted(unknown)[:3]}"
        )
    first, last = sales[DATE].min(), sales[DATE].max()
    train_dates = frequency.grid(first, last)
    if len(train_dates) < 2:
        raise ValueError("need at least two periods of sales history")
    dates = train_dates.append(frequency.future(train_dates[-1], horizon))
    pos = pd.Series(np.arange(len(dates)), index=dates)
    sales["t"] = pos.reindex(sales[DATE]).values
    if sales["t"].isna().any():
        bad = sales.loc[sales["t"].isna(), DATE].iloc[0]
        raise ValueError(f"sales date {bad.date()} is off the {frequency.name} grid starting {first.date()}")
    sales["p"] = pid.get_indexer(sales[PRODUCT].astype(str))
    has_price = PRICE in sales.columns and sales[PRICE].notna().any()
    has_promo = PROMO in sales.columns
    has_stock = AVAILABILITY in sales.columns and sales[AVAILABILITY].notna().any()

    start = sales.groupby("p")["t"].min()  # the first sale's period
    n_train = len(train_dates)
    listed = launch_date_periods(products, dates, frequency)
    before_launch = 0
    if listed is not None:
        # From the launch date's period (the first one when before the data) instead, sales or not;
        # none when it is in the horizon or later. Sales rows before it are not read as history.
        given = listed != NO_LAUNCH_DATE
        begin = np.maximum(listed, 0)
        start = start.reindex(range(len(pid))).to_numpy(float)
        start = pd.Series(np.where(given, np.where(begin < n_train, begin, np.nan), start)).dropna()
        start = start.astype(np.int64)
        p_of = sales["p"].to_numpy()
        before_launch = int((given[p_of] & (sales["t"].to_numpy() < begin[p_of])).sum())
    end_period = end_periods(products, dates)
    last = None if end_period is None else end_period[start.index.to_numpy()]
    after_end = 0 if end_period is None else int((sales["t"] > end_period[sales["p"]]).sum())
    p_rows, t_rows = panel_rows(start.index.to_numpy(), start.to_numpy(), n_train, last)
    panel = pd.DataFrame({"p": p_rows, "t": t_rows})
    cols = ["p", "t", QUANTITY] + ([PRICE] if has_price else []) + ([PROMO] if has_promo else [])
    cols += [AVAILABILITY] if has_stock else []
    panel = panel.merge(sales[cols], on=["p", "t"], how="left").sort_values(["p", "t"])
    sold = np.bincount(panel.loc[panel[QUANTITY].notna(), "p"], minlength=len(pid))  # sales rows read
    panel[QUANTITY] = panel[QUANTITY].fillna(0).astype(np.int64)
    promo = panel[PROMO].fillna(0).astype(float).to_numpy() if has_promo else np.zeros(len(panel))

    ref_price = np.ones(len(pid))
    last_regular = np.ones(len(pid))
    if has_price:
        # A period with no sales row had the shelf price of the last regular (non-promotion)
        # period, not a promotion price carried past the promotion's end.
        observed = panel[PRICE].notna()
        shelf = panel[PRICE].where(promo == 0).groupby(panel["p"]).ffill()
        shelf = shelf.fillna(panel[PRICE].where(promo == 0).groupby(panel["p"]).bfill())
        panel[PRICE] = panel[PRICE].where(observed, shelf)
        regular = panel[(promo == 0) & observed.to_numpy()].dropna(subset=[PRICE])
        ref = regular.groupby("p")[PRICE].median()
        ref = ref.reindex(range(len(pid))).fillna(panel.groupby("p")[PRICE].median())
        ref_price = ref.fillna(1.0).to_numpy()
        last = regular.groupby("p")[PRICE].last().reindex(range(len(pid)))
        last_regular = last.fillna(pd.Series(ref_price)).to_numpy()
        log_price = np.log(panel[PRICE].to_numpy() / ref_price[panel["p"].to_numpy()])
        log_price = np.nan_to_num(log_price, nan=0.0)
    else:
        log_price = np.zeros(len(panel))

    # A panel row without a sales row (NaN availability) sold zero in stock: not censored.
    censored = is_censored(panel[AVAILABILITY].to_numpy()) if has_stock else None
    train = Rows(
        product_idx=panel["p"].to_numpy(np.int64),
        time_idx=panel["t"].to_numpy(np.int64),
        log_price=log_price,
        promo=promo,
        y=panel[QUANTITY].to_numpy(np.int64),
        censored=censored if censored is not None and censored.any() else None,
    )
    if has_price and plan is not None and PRICE in plan.columns:
        fresh = sold == 0  # no price of its own (a listed product may have zero rows only)
        ref_price = _launch_prices(plan, pid, fresh, ref_price)
        last_regular = np.where(fresh, ref_price, last_regular)
    fp = np.repeat(np.arange(len(pid)), horizon)
    ft = np.tile(np.arange(n_train, n_train + horizon), len(pid))
    future_price = last_regular[fp].copy()
    future_promo = np.zeros(len(fp))
    source = "last regular price, no promotion" if has_price else "no prices in the data; no promotion"
    if plan is not None and len(plan):
        future_price, future_promo, planned = _apply_plan(
            plan, pid, dates, n_train, horizon, future_price, future_promo
        )
        source = f"planned prices/promotions for {planned} product-periods; elsewhere {source}"
    future = Rows(
        product_idx=fp.astype(np.int64),
        time_idx=ft.astype(np.int64),
        log_price=np.log(future_price / ref_price[fp]),
        promo=future_promo,
        y=np.zeros(len(fp), dtype=np.int64),
    )
    fourier, names = fourier_terms(dates, frequency, fourier_order, n_train)
    event_matrix, event_names = event_features(events, dates, frequency, n_train)
    event_matrix = _beside_the_season(event_matrix, fourier, n_train)
    unseen_matrix, unseen_names = unseen_event_features(events, dates, frequency, n_train)
    years = (dates - train_dates[-1]).days.values / 365.25
    n_obs = np.bincount(train.product_idx, minlength=len(pid))
    return Design(
        products=pid,
        levels=levels,
        level_idx=level_idx,
        pool=hierarchy.pooling_attribute,
        dates=dates,
        n_train=n_train,
        fourier=fourier,
        fourier_names=names,
        years=years,
        train=train,
        future=future,
        ref_price=ref_price,
        future_price_source=source,
        n_obs=n_obs,
        end_period=end_period,
        sales_after_end=after_end,
        launch_period=launch_periods(train, len(pid), n_train, plan, pid, dates, listed),
        sales_before_launch=before_launch,
        events=event_matrix,
        event_names=event_names,
        unseen_events=unseen_matrix,
        unseen_event_names=unseen_names,
    )


def _beside_the_season(events: np.ndarray, fourier: np.ndarray, n_train: int) -> np.ndarray:
    """Each event column less its least-squares fit on a constant and the Fourier terms over the
    history (the same fit taken off in the horizon). An event's coefficient is still its lift (on
    against off, relative to the seasonal curve), but the events' sum no longer moves every
    product's level or the seasonal curve along with it: ridges the sampler crossed slowly where
    events cover most of the year (benchmarks/README.md, "the M5-shaped catalog")."""
    if not events.shape[1]:
        return events
    basis = np.column_stack([np.ones(len(events)), fourier])
    coef, *_ = np.linalg.lstsq(basis[:n_train], events[:n_train], rcond=None)
    return events - basis @ coef


def first_periods(rows: Rows, n_products: int) -> np.ndarray:
    """Per product, its first row's period (-1: no rows)."""
    first = np.full(n_products, -1, dtype=np.int64)
    order = np.argsort(rows.time_idx, kind="stable")[::-1]
    first[rows.product_idx[order]] = rows.time_idx[order]  # the earliest period wins
    return first


def launch_periods(
    train: Rows,
    n_products: int,
    n_train: int,
    plan: pd.DataFrame | None,
    pid: pd.Index,
    dates: pd.DatetimeIndex,
    listed: np.ndarray | None = None,
) -> np.ndarray | None:
    """Per product, the period of its launch inside the data (``Design.launch_period``): its first
    sale's period when after the first period; for a product without history, the first horizon
    period its plan names (a product not yet on sale is planned from its launch); else -1. A
    product's launch date (``listed``: ``launch_date_periods``) overrides both where given: a slow
    launch's first sale comes weeks after it; where the products carry launch dates, one with history
    and none is established (a slow seller's first sale in week 5 is not its launch)."""
    first = first_periods(train, n_products)
    launch = np.where(first > 0, first, -1)
    if plan is not None and len(plan):
        t = pd.Series(np.arange(len(dates)), index=dates).reindex(pd.to_datetime(plan[DATE])).to_numpy()
        p = pid.get_indexer(plan[PRODUCT].astype(str))
        known = (p >= 0) & ~np.isnan(t)
        planned = np.full(n_products, len(dates), dtype=np.int64)
        np.minimum.at(planned, p[known], t[known].astype(np.int64))
        fresh = (first < 0) & (planned < len(dates))
        launch = np.where(fresh, planned, launch)
    if listed is not None:  # launch dates given: a product with history but none is established
        launch = np.where(listed != NO_LAUNCH_DATE, listed, np.where(first >= 0, -1, launch))
    return launch if (launch >= 0).any() else None


def _launch_prices(plan, pid, fresh, ref_price):
    """Reference prices of products without history, from their planned regular prices.

    Such a product has no shelf price of its own to compare with: its planned regular price (the
    median over its planned non-promotion periods, else over all its planned periods) is its
    reference, so a launch price is not read as a price change.
    """
    priced = plan[plan[PRICE].notna()].copy()
    priced["p"] = pid.get_indexer(priced[PRODUCT].astype(str))
    priced = priced[(priced["p"] >= 0) & fresh[priced["p"].clip(lower=0).to_numpy()]]
    ref_price = ref_price.copy()
    if priced.empty:
        return ref_price
    regular = priced[priced[PROMO].fillna(0) == 0] if PROMO in priced.columns else priced
    ref = regular.groupby("p")[PRICE].median().combine_first(priced.groupby("p")[PRICE].median())
    ref_price[ref.index.to_numpy()] = ref.to_numpy()
    return ref_price


def _apply_plan(plan, pid, dates, n_train, horizon, price, promo):
    """Overlay planned prices and promotions on the horizon rows (product-major order)."""
    plan = plan.copy()
    plan[DATE] = pd.to_datetime(plan[DATE])
    future = pd.Series(np.arange(horizon), index=dates[n_train:])
    t = future.reindex(plan[DATE]).to_numpy()
    if np.isnan(t).any():
        bad = plan.loc[np.isnan(t), DATE].iloc[0].date()
        raise ValueError(
            f"plan date {bad} is not a forecast period; the horizon runs "
            f"{dates[n_train].date()} to {dates[-1].date()}"
        )
    p = pid.get_indexer(plan[PRODUCT].astype(str))
    if (p < 0).any():
        raise ValueError(f"plan names unknown product {plan.loc[p < 0, PRODUCT].iloc[0]!r}")
    row = p * horizon + t.astype(np.int64)
    if PRICE in plan.columns:
        given = plan[PRICE].notna().to_numpy()
        if (plan.loc[given, PRICE] <= 0).any():
            raise ValueError("plan has non-positive prices")
        price[row[given]] = plan.loc[given, PRICE].to_numpy(float)
    if PROMO in plan.columns:
        given = plan[PROMO].notna().to_numpy()
        promo[row[given]] = plan.loc[given, PROMO].astype(float).to_numpy()
    return price, promo, len(plan)


def _subset_rows(rows: Rows, new_pos: np.ndarray) -> Rows:
    keep = new_pos[rows.product_idx] >= 0
    return Rows(
        product_idx=new_pos[rows.product_idx[keep]],
        time_idx=rows.time_idx[keep],
        log_price=rows.log_price[keep],
        promo=rows.promo[keep],
        y=rows.y[keep],
        censored=None if rows.censored is None else rows.censored[keep],
    )


def subset_design(design: Design, product_idx: np.ndarray) -> Design:
    """The design of some products only: a shard, or a sample of the catalog.

    Dates, Fourier terms, event columns and the trend's time origin stay the catalog's, so every
    subset forecasts the same horizon dates on the same clock; attribute levels shrink to those the
    products use.
    """
    keep = np.unique(np.asarray(product_idx, dtype=np.int64))
    new_pos = np.full(len(design.products), -1, dtype=np.int64)
    new_pos[keep] = np.arange(len(keep))
    levels, level_idx = {}, {}
    for attr, idx in design.level_idx.items():
        used, inverse = np.unique(idx[keep], return_inverse=True)
        levels[attr] = design.levels[attr][used]
        level_idx[attr] = inverse.astype(np.int64)
    return Design(
        products=design.products[keep],
        levels=levels,
        level_idx=level_idx,
        pool=design.pool,
        dates=design.dates,
        n_train=design.n_train,
        fourier=design.fourier,
        fourier_names=design.fourier_names,
        years=design.years,
        train=_subset_rows(design.train, new_pos),
        future=_subset_rows(design.future, new_pos),
        ref_price=design.ref_price[keep],
        future_price_source=design.future_price_source,
        n_obs=design.n_obs[keep],
        end_period=None if design.end_period is None else design.end_period[keep],
        launch_period=None if design.launch_period is None else design.launch_period[keep],
        events=design.events,
        event_names=design.event_names,
        unseen_events=design.unseen_events,
        unseen_event_names=design.unseen_event_names,
    )
