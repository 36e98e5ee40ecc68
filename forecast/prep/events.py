"""Calendar events (holidays, sales, launches of the season) as features of every period.

An event moves demand in the period that holds it and in the periods around it: shoppers buy for
Christmas in the weeks before it and less in the week after. Each ``(event, offset)`` pair is one
0/1 column over all periods (history and horizon), ``offset`` counted in periods from the one holding
the event (negative: before it), within the frequency's window (``WINDOWS``): a daily catalog sees a
few days either side, a weekly one two weeks before and one after, a monthly or quarterly one the
period itself (a month already holds the run-up to its holiday). A recurring event (Christmas every
year) is one name, so its years share a column and the history's Christmases inform the horizon's.

A column that is never on in the history has no coefficient: nothing could be learned of it. Where
it is on in the horizon (a shop's first Christmas) it is one of the unseen columns
(``unseen_event_features``): the forecast cannot say which way such a day goes, only that calendar
days move this catalog's demand as much as its seen events did, so the horizon model draws each
unseen column's effect as large as the seen columns' effects are
(``forecast.model.builder._unseen_events``). A column on in the history and the horizon is kept, so
an event in the horizon lifts the forecast by what its past occurrences showed.

An event on in more than ``DENSE_SHARE`` of the history's periods (SNAP days: ten days a month, so
most weeks) gets its own period's column only: its run-up and after-effect columns would be on in
most periods too, nearly the same column as its own and as every product's level.

Columns on in exactly the same history periods are one column (``Christmas[+1] = NewYear``), on in
the horizon wherever any of them is: the history cannot tell their effects apart, only their sum,
and two coefficients of which only the sum is informed leave the sampler a ridge along their
difference that it crosses slowly (weekly data put Christmas and New Year a week apart every year:
on the M5-shaped catalog 10 such pairs held stage 1's R-hat over its bar).

The default calendar, when a catalog brings none, is a country's public holidays from the
``holidays`` package (offline data, no network): ``country_holidays``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from forecast.prep.calendar import Frequency

EVENT_DATE = "date"
EVENT = "event"
REGION = "region"  # optional: where the event holds (kept for analysts; the model reads every event)

# Per frequency code, the window of offsets (periods before, periods after) each event gets a
# column for.
WINDOWS: dict[str, tuple[int, int]] = {"D": (3, 1), "W": (2, 1), "M": (0, 0), "Q": (0, 0)}

_OBSERVED = " (observed)"


DENSE_SHARE = 0.25  # an event on in more of the history's periods gets no lead and lag columns
MERGED = " = "  # joins the names of columns merged for being on in the same history periods


def column_name(event: str, offset: int) -> str:
    """``Christmas Day`` for the event's own period, ``Christmas Day[-2]`` two periods before it."""
    return event if offset == 0 else f"{event}[{offset:+d}]"


_FAR = -(10**9)  # the period index of a day far outside the dates: no offset brings it inside


def _periods(days: pd.DatetimeIndex, dates: pd.DatetimeIndex, frequency: Frequency, pad: int) -> np.ndarray:
    """Per day, the index into ``dates`` of the period holding it: a period runs from its label to
    the next label (to its label, from the previous one, for month-end labels). The grid is extended
    by ``pad`` periods either side, so a day just outside ``dates`` gets an index below 0 or past
    the end (its run-up or after-effect may fall inside); a day farther out gets ``_FAR``."""
    before = pd.DatetimeIndex([dates[0] - frequency.offset * k for k in range(pad, 0, -1)])
    grid = before.append(dates).append(frequency.future(dates[-1], pad))
    values = days.values.astype(grid.values.dtype)
    if isinstance(frequency.offset, pd.offsets.MonthEnd):
        pos = np.searchsorted(grid.values, values, side="left")
        outside = (pos >= len(grid)) | (values <= (grid[0] - frequency.offset).to_datetime64())
    else:
        pos = np.searchsorted(grid.values, values, side="right") - 1
        outside = (pos < 0) | (values >= (grid[-1] + frequency.offset).to_datetime64())
    return np.where(outside, _FAR, pos - pad)


def _event_columns(
    events: pd.DataFrame, dates: pd.DatetimeIndex, frequency: Frequency
) -> dict[tuple[str, int], np.ndarray]:
    """Per ``(event, offset)`` in the frequency's window that falls inside ``dates``, its 0/1
    column over ``dates``."""
    before, after = WINDOWS[frequency.code]
    days = pd.DatetimeIndex(pd.to_datetime(events[EVENT_DATE])).normalize()
    names = events[EVENT].astype(str).str.strip().to_numpy()
    period = _periods(days, dates, frequency, pad=max(before, after) + 1)
    columns: dict[tuple[str, int], np.ndarray] = {}
    for offset in range(-before, after + 1):
        t = period + offset
        inside = (t >= 0) & (t < len(dates))
        for name, when in zip(names[inside], t[inside], strict=True):
            columns.setdefault((name, offset), np.zeros(len(dates)))[when] = 1.0
    return columns


def _selected(
    events: pd.DataFrame | None,
    dates: pd.DatetimeIndex,
    frequency: Frequency,
    n_train: int,
    keep: Callable[[np.ndarray, int, bool], bool],
) -> tuple[np.ndarray, list[str]]:
    """The 0/1 columns over ``dates`` of the ``(event, offset)`` pairs ``keep(column, offset,
    dense)`` chooses (``dense``: the event is on in more than ``DENSE_SHARE`` of the history's
    periods), sorted by event then offset, and their names (``column_name``)."""
    if events is None or len(events) == 0:
        return np.zeros((len(dates), 0)), []
    columns = _event_columns(events, dates, frequency)
    dense = {
        name for (name, offset), col in columns.items() if offset == 0 and col[:n_train].mean() > DENSE_SHARE
    }
    chosen = sorted(k for k, col in columns.items() if keep(col, k[1], k[0] in dense))
    if not chosen:
        return np.zeros((len(dates), 0)), []
    return np.column_stack([columns[k] for k in chosen]), [column_name(*k) for k in chosen]


def event_features(
    events: pd.DataFrame | None, dates: pd.DatetimeIndex, frequency: Frequency, n_train: int
) -> tuple[np.ndarray, list[str]]:
    """The event matrix over ``dates`` (the design's history then horizon; the first ``n_train``
    are history): shape ``(len(dates), k)``, a 0/1 column per ``(event, offset)`` in the window
    ``WINDOWS[frequency.code]`` that is on in at least one history period, and the columns' names
    (``column_name``), sorted by event then offset. ``events``: rows of ``date``, ``event``."""
    matrix, names = _selected(
        events,
        dates,
        frequency,
        n_train,
        lambda col, offset, dense: col[:n_train].any() and (offset == 0 or not dense),
    )
    return _merge_identical(matrix, names, n_train)


def unseen_event_features(
    events: pd.DataFrame | None, dates: pd.DatetimeIndex, frequency: Frequency, n_train: int
) -> tuple[np.ndarray, list[str]]:
    """The horizon's unseen event columns: per ``(event, offset)`` in the window that is on in the
    horizon but in no history period, its 0/1 column over ``dates`` (0 in the history), and the
    columns' names, sorted as ``event_features``'. An event seen so often that it gets no lead or lag
    columns (``DENSE_SHARE``) gets no unseen ones either."""
    return _selected(
        events,
        dates,
        frequency,
        n_train,
        lambda col, offset, dense: not col[:n_train].any() and col[n_train:].any() and not dense,
    )


def _merge_identical(matrix: np.ndarray, names: list[str], n_train: int) -> tuple[np.ndarray, list[str]]:
    """One column per distinct history pattern: columns on in the same history periods merged (on
    in the horizon where any of them is), named by their names joined with ``MERGED``, in the order
    of their first column."""
    groups: dict[bytes, list[int]] = {}
    for j in range(matrix.shape[1]):
        groups.setdefault(matrix[:n_train, j].tobytes(), []).append(j)
    if len(groups) == matrix.shape[1]:
        return matrix, names
    members = list(groups.values())
    merged = np.column_stack([matrix[:, js].max(axis=1) for js in members])
    return merged, [MERGED.join(names[j] for j in js) for js in members]


def country_holidays(country: str, years: range | list[int]) -> pd.DataFrame:
    """A country's public holidays in ``years`` as events (``date``, ``event``), names in English
    where the package has them. A holiday moved to a weekday (``... (observed)``) is the same event
    as the day itself. ``country``: an ISO 3166 code (``US``, ``DE``, ``GB``); an unknown one is a
    ValueError."""
    import holidays

    code = check_country(country)
    calendar = holidays.country_holidays(code, years=list(years), language="en_US")
    rows = [
        (pd.Timestamp(day), name.removesuffix(_OBSERVED))
        for day, names in sorted(calendar.items())
        for name in names.split("; ")
    ]
    return pd.DataFrame(rows, columns=[EVENT_DATE, EVENT]).drop_duplicates().reset_index(drop=True)


def check_country(country: str) -> str:
    """``country`` as the holidays package names it (upper case), or a one-line ValueError."""
    import holidays

    code = country.strip().upper()
    if code not in holidays.list_supported_countries():
        raise ValueError(
            f"unknown holiday_country {country!r}: give an ISO 3166 country code the holidays package "
            f"knows, e.g. US, DE, GB (empty: no holidays)"
        )
    return code


def default_events(
    events: pd.DataFrame | None, country: str, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame | None:
    """The events a run uses: ``events`` when it has rows, else ``country``'s public holidays over
    the years from ``first`` to ``last`` (history and horizon; the next year too, for a run-up that
    reaches into the horizon), else None."""
    if events is not None and len(events):
        return events
    if not country:
        return events
    return country_holidays(country, range(first.year, last.year + 2))
