"""A seeded catalog shaped like the M5 competition's Walmart data, generated (nothing downloaded).

The shape: items in 3 categories and 7 departments (``DEPARTMENTS``: 3,049 items by default, in M5's
department proportions for fewer), every item sold in every store (``STORES``: 10 stores in 3
states), a product being one item in one store (``FOODS_3_090_CA_1``: 30,490 products by default).
Attributes ``state``, ``store``, ``category``, ``department`` and ``item``: the hierarchy is
``--nested state,store --crossed category,department``.

Demand is simulated per product and day, then written daily (``frequency="D"``) or summed to
weeks (``"W"``: each week the sum of its seven daily draws, so a weekly catalog is exactly the weekly
sum of the daily catalog drawn with the same seed over the same days). Each day's quantity is
negative binomial (Poisson of a gamma) around a log-linear mean; what makes the mean:

- level: the department's (``DEPARTMENT_LEVEL``, FOODS_3 the fast sellers) + the item's
  (N(0, 1.1): a long tail) + the store's and its state's + the item-in-store's (N(0, 0.35)), so
  most products sell 0 to 2 a day (about two thirds of the daily cells are zero) and a few sell
  dozens; each product has its own dispersion (``Truth.dispersion``: intermittent, overdispersed);
- a weekly cycle per category (Saturday and Sunday busiest) and a yearly cycle per department;
- a small trend per item and per store (log per year);
- price: each item has a base price (by category), changes a few times in five years by 3% to 30%
  (more often up than down), each state a little off the item's price (and adopting a change up to
  2 weeks later), some stores a little off their state's; demand answers with a price elasticity per
  department plus one per item, against the product's geometric-mean price; no promotions (M5 has
  none: the sales file has no ``promo`` column);
- events (``EVENTS``, US holidays by their rules; ``events.csv``): a lift (or a dip) on the day and
  the days before, per category; stores closed on Christmas Day (mean 0: the row is there, with 0
  sold); SNAP days per state (``SNAP_DAYS``: days 1-10 of each month in CA, other sets in TX and
  WI) lift that state's demand, mostly food;
- shared shocks: an AR(1) per state and one per store (``SHOCK``), so a store's day is busier or
  slower for all its products at once.

Launches: most items are on sale from the first day; a share (``late_share``) launch later, each
store listing them on its own day (up to ``STORE_LAG_DAYS`` after the item's launch). A product's
rows start at its launch (the products file's ``launch_date``; empty: on sale from the first day),
one row per period from then on, zeros included, as M5's sales table has them.

The full daily catalog is about 55 M rows: ``M5Catalog.write`` writes it to Parquet in chunks (a
store's block of ``BLOCK`` items at a time), never holding more than one chunk. Draws are made per
chunk from random streams keyed by (seed, store, block), so the data do not depend on how they are
written. The truth is arrays, one value per product (``Truth``), plus the per-day calendar arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dateutil.easter import easter

# Department -> items in M5 (3,049 in all); the category is the name before the last underscore.
DEPARTMENTS: dict[str, int] = {
    "FOODS_1": 216,
    "FOODS_2": 398,
    "FOODS_3": 823,
    "HOBBIES_1": 416,
    "HOBBIES_2": 149,
    "HOUSEHOLD_1": 532,
    "HOUSEHOLD_2": 515,
}
CATEGORIES = ("FOODS", "HOBBIES", "HOUSEHOLD")
STORES = ("CA_1", "CA_2", "CA_3", "CA_4", "TX_1", "TX_2", "TX_3", "WI_1", "WI_2", "WI_3")
START = "2011-01-29"  # M5's first day, a Saturday: weeks run Saturday to Friday, as M5's do
PERIODS = {"D": 1826, "W": 260}  # five years

# Log daily mean of a median item in a median store, by department.
DEPARTMENT_LEVEL = {
    "FOODS_1": -0.8,
    "FOODS_2": -1.1,
    "FOODS_3": -0.3,
    "HOBBIES_1": -1.2,
    "HOBBIES_2": -2.3,
    "HOUSEHOLD_1": -0.7,
    "HOUSEHOLD_2": -1.7,
}
ITEM_SD, STORE_SD, STATE_SD, ITEM_STORE_SD = 1.3, 0.2, 0.1, 0.35
# Log price of a median item, and the spread of items' prices, by category.
PRICE_LEVEL = {"FOODS": (1.0, 0.5), "HOBBIES": (1.7, 0.8), "HOUSEHOLD": (1.6, 0.6)}
PRICE_CHANGE_WEEKS = 70.0  # mean weeks between an item's price changes
MAX_PRICE_CHANGES = 16
# Log lift of each weekday (Monday first) for a category with scale 1.
WEEKDAY = np.array([0.0, -0.08, -0.1, -0.08, 0.03, 0.22, 0.2])
# Shared shocks: AR(1) coefficient and innovation sd (log scale, per day) of states and stores.
SHOCK = {"phi": 0.5, "state_sd": 0.04, "store_sd": 0.06}
BLOCK = 256  # items per chunk and per random stream
STORE_LAG_DAYS = 60  # a late item reaches each store up to this many days after its launch

# SNAP days per state: the days of the month benefits are paid (M5's pattern).
SNAP_DAYS = {
    "CA": tuple(range(1, 11)),
    "TX": (1, 3, 5, 6, 7, 9, 11, 12, 15),
    "WI": (2, 3, 5, 6, 8, 9, 11, 12, 14, 15),
}
SNAP_LIFT = {"FOODS": 0.12, "HOBBIES": 0.02, "HOUSEHOLD": 0.04}


def _nth(weekday: int, n: int, month: int) -> Callable[[int], pd.Timestamp]:
    """The ``n``-th ``weekday`` (Monday 0) of ``month`` (``n`` -1: the last)."""

    def day(year: int) -> pd.Timestamp:
        if n > 0:
            first = pd.Timestamp(year=year, month=month, day=1)
            return first + pd.Timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
        last = pd.Timestamp(year=year, month=month, day=1) + pd.offsets.MonthEnd(0)
        return last - pd.Timedelta(days=(last.weekday() - weekday) % 7)

    return day


def _fixed(month: int, day: int) -> Callable[[int], pd.Timestamp]:
    return lambda year: pd.Timestamp(year=year, month=month, day=day)


@dataclass(frozen=True)
class Event:
    """A yearly event: its day in a year, and its log lift by day offset (negative: days before)."""

    day: Callable[[int], pd.Timestamp]
    profile: dict[int, float]
    closed: bool = False  # stores closed on the day: no sales


EVENTS: dict[str, Event] = {
    "NewYear": Event(_fixed(1, 1), {0: -0.25, -1: 0.08}),
    "MartinLutherKingDay": Event(_nth(0, 3, 1), {0: 0.03}),
    "SuperBowl": Event(_nth(6, 1, 2), {0: 0.12, -1: 0.06}),
    "ValentinesDay": Event(_fixed(2, 14), {0: 0.05}),
    "PresidentsDay": Event(_nth(0, 3, 2), {0: 0.03}),
    "StPatricksDay": Event(_fixed(3, 17), {0: 0.03}),
    "Easter": Event(lambda year: pd.Timestamp(easter(year)), {0: -0.1, -1: 0.1}),
    "Cinco De Mayo": Event(_fixed(5, 5), {0: 0.05}),
    "Mother's day": Event(_nth(6, 2, 5), {0: -0.05}),
    "MemorialDay": Event(_nth(0, -1, 5), {0: 0.08, -1: 0.05}),
    "Father's day": Event(_nth(6, 3, 6), {0: -0.03}),
    "IndependenceDay": Event(_fixed(7, 4), {0: -0.05, -1: 0.12}),
    "LaborDay": Event(_nth(0, 1, 9), {0: 0.05}),
    "ColumbusDay": Event(_nth(0, 2, 10), {0: 0.02}),
    "Halloween": Event(_fixed(10, 31), {0: 0.08, -1: 0.05}),
    "VeteransDay": Event(_fixed(11, 11), {0: 0.02}),
    "Thanksgiving": Event(_nth(3, 4, 11), {0: -0.35, -1: 0.2, -2: 0.1}),
    "Christmas": Event(_fixed(12, 25), {-3: 0.05, -2: 0.1, -1: 0.15}, closed=True),
}
EVENT_CATEGORY_SD = 0.3  # each category's lift is the event's times 1 + N(0, this)


def allocate_items(n_items: int) -> dict[str, int]:
    """Items per department for a catalog of ``n_items``: M5's proportions (largest remainders),
    at least one per department when ``n_items`` is 7 or more."""
    if n_items < 1:
        raise ValueError("need at least one item")
    total = sum(DEPARTMENTS.values())
    share = np.array(list(DEPARTMENTS.values())) * n_items / total
    counts = np.floor(share).astype(int)
    if n_items >= len(DEPARTMENTS):
        counts = np.maximum(counts, 1)
    while counts.sum() > n_items:  # the floor of 1 took too many: from the largest
        counts[np.argmax(counts)] -= 1
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    for k in order[: n_items - counts.sum()]:
        counts[k] += 1
    return dict(zip(DEPARTMENTS, counts.tolist(), strict=True))


@dataclass
class Truth:
    """What the catalog was drawn from, as arrays (log scale; days and weekdays from ``dates``).

    Per product (``M5Catalog.products`` order): ``level`` (log daily mean before the calendar,
    price and shocks), ``dispersion`` (negative binomial: variance mean + mean^2 / dispersion),
    ``elasticity``, ``trend`` (log per year), ``launch`` (index of the first day on sale), ``ref_price``
    (the price the elasticity acts against) and ``mean`` (the average true daily mean over the days
    on sale; filled as the chunks are drawn, NaN until then). Per day: ``shock_state`` (days x states),
    ``shock_store`` (days x stores), ``event`` (days x categories, the events' log lift),
    ``closed`` (stores closed), ``snap`` (days x states). Per department ``season_amplitude`` and
    ``season_phase``; per category ``weekday`` (categories x 7, Monday first) and ``snap_lift``.
    """

    level: np.ndarray
    dispersion: np.ndarray
    elasticity: np.ndarray
    trend: np.ndarray
    launch: np.ndarray
    ref_price: np.ndarray
    mean: np.ndarray
    shock_state: np.ndarray
    shock_store: np.ndarray
    event: np.ndarray
    closed: np.ndarray
    snap: np.ndarray
    season_amplitude: np.ndarray
    season_phase: np.ndarray
    weekday: np.ndarray
    snap_lift: np.ndarray

    def save(self, path: str | Path) -> None:
        """Every array into one ``.npz`` file."""
        np.savez_compressed(path, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: str | Path) -> Truth:
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})


def _ar1(rng: np.random.Generator, n: int, k: int, sd: float, phi: float) -> np.ndarray:
    e = sd * rng.normal(size=(n, k))
    x = np.zeros_like(e)
    for t in range(n):
        x[t] = e[t] + (phi * x[t - 1] if t else 0.0)
    return x


class M5Catalog:
    """The catalog's products, events and truth at once; its sales chunk by chunk (``chunks``).

    ``n_items`` items (M5's 3,049 by default) in ``stores``; ``frequency`` "D" (days) or "W" (weeks
    of seven days, summed from the daily draw); ``n_periods`` of them (default five years: 1,826
    days or 260 weeks) from ``start``; ``late_share`` of the items launch after the first day.
    """

    def __init__(
        self,
        n_items: int = sum(DEPARTMENTS.values()),
        stores: tuple[str, ...] = STORES,
        frequency: str = "D",
        n_periods: int | None = None,
        start: str = START,
        seed: int = 42,
        late_share: float = 0.3,
    ) -> None:
        if frequency not in PERIODS:
            raise ValueError(f"frequency is 'D' (daily) or 'W' (weekly), got {frequency!r}")
        self.frequency = frequency
        self.n_periods = PERIODS[frequency] if n_periods is None else int(n_periods)
        if self.n_periods < 1:
            raise ValueError("need at least one period")
        self.stores = tuple(stores)
        self.states = tuple(dict.fromkeys(s.split("_")[0] for s in self.stores))
        self.seed = seed
        self.days = pd.date_range(start, periods=self.n_periods * (7 if frequency == "W" else 1), freq="D")
        self.dates = self.days if frequency == "D" else self.days[::7]
        n_days = len(self.days)

        counts = allocate_items(n_items)
        self.departments = [d for d, n in counts.items() if n for _ in range(n)]
        dept = np.array(self.departments)
        self.items = np.array([f"{d}_{k + 1:03d}" for d, n in counts.items() for k in range(n)])
        dept_names = list(DEPARTMENTS)
        self._dept = np.array([dept_names.index(d) for d in dept])
        self._cat = np.array([CATEGORIES.index(d.rsplit("_", 1)[0]) for d in dept])
        self._store_state = np.array([self.states.index(s.split("_")[0]) for s in self.stores])
        n_i, n_s = len(self.items), len(self.stores)

        rng = np.random.default_rng([seed, 0])
        # Per item, then per store and state, then per product (store-major: product p = s * n_i + i).
        item_eff = rng.normal(0, ITEM_SD, n_i)
        store_eff = rng.normal(0, STORE_SD, n_s)
        state_eff = rng.normal(0, STATE_SD, len(self.states))
        item_store = rng.normal(0, ITEM_STORE_SD, (n_s, n_i))
        dept_level = np.array([DEPARTMENT_LEVEL[d] for d in dept])
        level = dept_level[None, :] + item_eff[None, :] + (store_eff + state_eff[self._store_state])[:, None]
        level = level + item_store
        dispersion = np.exp(rng.normal(np.log(0.8), 0.5, (n_s, n_i)))
        dept_elasticity = rng.normal(-1.5, 0.3, len(DEPARTMENTS))
        elasticity = np.broadcast_to(dept_elasticity[self._dept] + rng.normal(0, 0.3, n_i), (n_s, n_i))
        trend = rng.normal(0, 0.08, n_i)[None, :] + rng.normal(0, 0.04, n_s)[:, None]
        amplitude = rng.uniform(0.03, 0.15, len(DEPARTMENTS))
        phase = rng.uniform(0, 2 * np.pi, len(DEPARTMENTS))
        weekday = WEEKDAY[None, :] * rng.uniform(0.7, 1.3, (len(CATEGORIES), 1))
        snap_lift = np.array([SNAP_LIFT[c] for c in CATEGORIES]) * rng.uniform(0.7, 1.3, len(CATEGORIES))
        event_scale = 1 + rng.normal(0, EVENT_CATEGORY_SD, (len(EVENTS), len(CATEGORIES)))

        # Launches: late items launch on a day in the first 90% of the span, each store up to
        # STORE_LAG_DAYS later; the rest are on sale from day 0.
        late = rng.uniform(size=n_i) < late_share
        item_launch = np.where(late, rng.integers(1, max(int(0.9 * n_days), 2), n_i), 0)
        lag = np.where(late[None, :], rng.integers(0, STORE_LAG_DAYS + 1, (n_s, n_i)), 0)
        launch = np.minimum(item_launch[None, :] + lag, n_days - 1)

        # Prices: the item's path of changes (weeks since start), a state's offset and lag, a store's.
        n_weeks = -(-n_days // 7)
        cat_names = [CATEGORIES[c] for c in self._cat]
        mu_p = np.array([PRICE_LEVEL[c][0] for c in cat_names])
        sd_p = np.array([PRICE_LEVEL[c][1] for c in cat_names])
        self._base_price = mu_p + sd_p * rng.normal(size=n_i)
        self._change_week = np.cumsum(rng.exponential(PRICE_CHANGE_WEEKS, (n_i, MAX_PRICE_CHANGES)), axis=1)
        size = rng.uniform(0.03, 0.3, (n_i, MAX_PRICE_CHANGES))
        self._change = np.where(rng.uniform(size=(n_i, MAX_PRICE_CHANGES)) < 0.65, size, -size)
        self._state_price = rng.normal(0, 0.03, (len(self.states), n_i))
        self._state_lag = rng.integers(0, 3, (len(self.states), n_i))
        off = rng.uniform(size=(n_s, n_i)) < 0.2
        self._store_price = np.where(off, rng.normal(0, 0.02, (n_s, n_i)), 0.0)
        self._n_weeks = n_weeks

        # The calendar: shocks, events, SNAP days, per day.
        shock_state = _ar1(np.random.default_rng([seed, 3]), n_days, len(self.states),
                           SHOCK["state_sd"], SHOCK["phi"])  # fmt: skip
        shock_store = _ar1(np.random.default_rng([seed, 4]), n_days, n_s, SHOCK["store_sd"], SHOCK["phi"])
        self.events = self._event_frame()
        event = np.zeros((n_days, len(CATEGORIES)))
        closed = np.zeros(n_days, dtype=bool)
        pos = {d: t for t, d in enumerate(self.days)}
        for e, spec in enumerate(EVENTS.values()):
            for year in range(self.days[0].year, self.days[-1].year + 2):
                day = spec.day(year)
                for offset, lift in spec.profile.items():
                    t = pos.get(day + pd.Timedelta(days=offset))
                    if t is not None:
                        event[t] += lift * event_scale[e]
                if spec.closed and day in pos:
                    closed[pos[day]] = True
        dom = self.days.day.to_numpy()
        snap = np.stack([np.isin(dom, SNAP_DAYS.get(s, ())) for s in self.states], axis=1)

        self.truth = Truth(
            level=level.ravel(),
            dispersion=dispersion.ravel(),
            elasticity=np.ascontiguousarray(elasticity).ravel(),
            trend=trend.ravel(),
            launch=launch.ravel(),
            ref_price=np.full(n_s * n_i, np.nan),
            mean=np.full(n_s * n_i, np.nan),
            shock_state=shock_state,
            shock_store=shock_store,
            event=event,
            closed=closed,
            snap=snap,
            season_amplitude=amplitude,
            season_phase=phase,
            weekday=weekday,
            snap_lift=snap_lift,
        )
        self.products = self._product_frame(launch)

    # -- the products and the events ---------------------------------------------------------------

    @property
    def product_ids(self) -> np.ndarray:
        """Product ids, store-major (``p = store * n_items + item``), as in ``products``."""
        return np.char.add(np.char.add(np.tile(self.items, len(self.stores)), "_"),
                           np.repeat(np.array(self.stores), len(self.items)))  # fmt: skip

    def _product_frame(self, launch: np.ndarray) -> pd.DataFrame:
        n_i = len(self.items)
        store = np.repeat(np.array(self.stores), n_i)
        first = launch.ravel()
        launch_date = pd.Series(self.days[first].date, dtype=object).where(first > 0, None)
        return pd.DataFrame(
            {
                "product_id": self.product_ids,
                "launch_date": launch_date,
                "state": [s.split("_")[0] for s in store],
                "store": store,
                "category": np.tile([CATEGORIES[c] for c in self._cat], len(self.stores)),
                "department": np.tile(self.departments, len(self.stores)),
                "item": np.tile(self.items, len(self.stores)),
            }
        )

    def _event_frame(self) -> pd.DataFrame:
        """The event calendar (``date``, ``event``, ``region``): each event's day (a holiday:
        region empty) and each state's SNAP days (``SNAP_CA``, region ``CA``), inside the days."""
        first, last = self.days[0], self.days[-1]
        rows = [
            (spec.day(year), name, None)
            for year in range(first.year, last.year + 1)
            for name, spec in EVENTS.items()
        ]
        dom = self.days.day.to_numpy()
        for state in self.states:
            rows += [(d, f"SNAP_{state}", state) for d in self.days[np.isin(dom, SNAP_DAYS.get(state, ()))]]
        frame = pd.DataFrame(rows, columns=["date", "event", "region"])
        frame = frame[(frame["date"] >= first) & (frame["date"] <= last)]
        return frame.sort_values(["date", "event"], kind="stable").reset_index(drop=True)

    # -- the sales ---------------------------------------------------------------------------------

    def _prices(self, store: int, items: slice) -> np.ndarray:
        """Log price per week (weeks x items) of ``items`` in ``store``."""
        state = self._store_state[store]
        week = np.arange(self._n_weeks)[:, None, None] - self._state_lag[state, items][None, :, None]
        changed = week >= self._change_week[items][None, :, :]
        log_price = self._base_price[items][None, :] + (changed * self._change[items][None, :, :]).sum(axis=2)
        log_price = log_price + self._state_price[state, items] + self._store_price[store, items]
        # To the cent, at least 10 cents.
        return np.log(np.maximum(np.round(np.exp(log_price), 2), 0.1))

    def _draw(self, store: int, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One chunk's daily draw: product indices, quantity and price (days x items, 0 before
        launch), and each product's mean daily true mean over its days on sale."""
        n_i = len(self.items)
        items = slice(block * BLOCK, min((block + 1) * BLOCK, n_i))
        products = store * n_i + np.arange(n_i)[items]
        t = self.truth
        n_days = len(self.days)
        state = self._store_state[store]
        dept, cat = self._dept[items], self._cat[items]
        years = np.arange(n_days) / 365.25
        doy = 2 * np.pi * self.days.dayofyear.to_numpy() / 365.25
        dow = self.days.dayofweek.to_numpy()
        log_price_week = self._prices(store, items)
        log_price = log_price_week[np.arange(n_days) // 7]
        launch = t.launch[products]
        active = np.arange(n_days)[:, None] >= launch[None, :]
        ref = (log_price * active).sum(axis=0) / active.sum(axis=0)  # geometric-mean price on sale
        t.ref_price[products] = np.exp(ref)
        log_mu = (
            t.level[products][None, :]
            + t.season_amplitude[dept][None, :] * np.sin(doy[:, None] + t.season_phase[dept][None, :])
            + t.weekday[cat][:, dow].T
            + t.event[:, cat]
            + t.snap[:, state][:, None] * t.snap_lift[cat][None, :]
            + (t.shock_state[:, state] + t.shock_store[:, store])[:, None]
            + t.trend[products][None, :] * years[:, None]
            + t.elasticity[products][None, :] * (log_price - ref[None, :])
        )
        mu = np.where(t.closed[:, None], 0.0, np.exp(log_mu))
        alpha = t.dispersion[products]
        lam = np.random.default_rng([self.seed, 1, store, block]).gamma(alpha[None, :], mu / alpha[None, :])
        qty = np.where(active, np.random.default_rng([self.seed, 2, store, block]).poisson(lam), 0)
        t.mean[products] = (mu * active).sum(axis=0) / active.sum(axis=0)
        return products, qty, np.round(np.exp(log_price), 2), launch

    def chunk(self, store: int, block: int) -> pa.Table:
        """Sales rows of one store's block of ``BLOCK`` items: ``date``, ``product_id``,
        ``quantity``, ``price``, a row per period from the product's launch, product by product."""
        products, qty, price, launch = self._draw(store, block)
        if self.frequency == "W":
            n_w = len(self.dates)
            qty = qty.reshape(n_w, 7, -1).sum(axis=1)
            price = price[::7]
            launch = launch // 7
        n_t = qty.shape[0]
        keep = (np.arange(n_t)[None, :] >= launch[:, None]).ravel()  # items x periods, product-major
        p_idx = np.repeat(np.arange(len(products)), n_t)[keep]
        t_idx = np.tile(np.arange(n_t), len(products))[keep]
        ids = pa.array(self.product_ids[products])
        return pa.table(
            {
                "date": pa.array(self.dates.values.astype("datetime64[D]")[t_idx], pa.date32()),
                "product_id": ids.take(pa.array(p_idx)),
                "quantity": pa.array(qty.T.ravel()[keep], pa.int32()),
                "price": pa.array(price.T.ravel()[keep], pa.float64()),
            }
        )

    def chunks(self) -> Iterator[pa.Table]:
        """Every chunk, store by store, block by block (fills ``truth.mean`` and ``truth.ref_price``)."""
        n_blocks = -(-len(self.items) // BLOCK)
        for store in range(len(self.stores)):
            for block in range(n_blocks):
                yield self.chunk(store, block)

    def sales(self) -> pd.DataFrame:
        """Every sales row in one frame (small catalogs: the full daily one is about 55 M rows)."""
        frame = pa.concat_tables(self.chunks()).to_pandas()
        frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
        return frame

    def write(self, folder: str | Path, truth: bool = True) -> dict[str, int]:
        """``products.csv``, ``events.csv``, ``sales.parquet`` (chunk by chunk, a row group each)
        and, with ``truth``, ``truth.npz`` into ``folder``; returns the rows written of each."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.products.to_csv(folder / "products.csv", index=False)
        self.events.assign(date=self.events["date"].dt.date).to_csv(folder / "events.csv", index=False)
        rows = 0
        writer = None
        try:
            for table in self.chunks():
                if writer is None:
                    writer = pq.ParquetWriter(folder / "sales.parquet", table.schema, compression="zstd")
                writer.write_table(table)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        if truth:
            self.truth.save(folder / "truth.npz")
        return {"products": len(self.products), "events": len(self.events), "sales": rows}


def generate_m5(
    n_items: int = sum(DEPARTMENTS.values()),
    frequency: str = "D",
    n_periods: int | None = None,
    stores: tuple[str, ...] = STORES,
    start: str = START,
    seed: int = 42,
    late_share: float = 0.3,
) -> M5Catalog:
    """The M5-shaped catalog (``M5Catalog``): products, events and truth now; sales by ``chunks``,
    ``sales()`` (in memory) or ``write`` (to files)."""
    return M5Catalog(n_items, stores, frequency, n_periods, start, seed, late_share)
