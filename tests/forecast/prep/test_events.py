"""Calendar events as features: the lead and lag windows at the right periods for daily, weekly,
monthly and quarterly data, which columns are kept, and the public-holiday default."""

import numpy as np
import pandas as pd
import pytest

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.contract.schema import Hierarchy
from forecast.prep.calendar import frequency_from_code, infer_frequency
from forecast.prep.design import build_design, subset_design
from forecast.prep.events import country_holidays, default_events, event_features, unseen_event_features


def _events(*rows):
    return pd.DataFrame(rows, columns=["date", "event"]).assign(date=lambda f: pd.to_datetime(f["date"]))


def _on(matrix, names, dates):
    """Per column name, the dates it is on."""
    return {n: [str(d.date()) for d in dates[matrix[:, j] > 0]] for j, n in enumerate(names)}


def test_weekly_events_get_the_two_weeks_before_and_the_week_after():
    dates = pd.date_range("2023-01-02", periods=110, freq="7D")  # Mondays; history: the first 100
    events = _events(("2023-12-25", "xmas"), ("2024-12-25", "xmas"), ("2023-07-04", "july"))
    matrix, names = event_features(events, dates, frequency_from_code("W"), n_train=100)
    assert matrix.shape == (110, len(names))
    on = _on(matrix, names, dates)
    # Christmas 2023 is a Monday: its own week; 2024's falls in the week from Monday 23 December.
    # Both years share the columns (2024 is in the horizon: its weeks are on there too).
    assert on["xmas"] == ["2023-12-25", "2024-12-23"]
    assert on["xmas[-2]"] == ["2023-12-11", "2024-12-09"]
    assert on["xmas[-1]"] == ["2023-12-18", "2024-12-16"]
    assert on["xmas[+1]"] == ["2024-01-01", "2024-12-30"]
    assert on["july"] == ["2023-07-03"]
    assert names == ["july[-2]", "july[-1]", "july", "july[+1]", "xmas[-2]", "xmas[-1]", "xmas", "xmas[+1]"]
    assert set(np.unique(matrix)) == {0.0, 1.0}


def test_a_column_never_on_in_the_history_is_left_out_and_one_in_both_is_kept():
    dates = pd.date_range("2024-01-01", periods=60, freq="7D")  # history to 2024-10-21, horizon after
    events = _events(("2024-06-15", "summer"), ("2024-12-25", "xmas"), ("2023-12-25", "xmas"))
    matrix, names = event_features(events, dates, frequency_from_code("W"), n_train=43)
    # 2023's Christmas is before the data: only its week after (the first week of 2024) is on in the
    # history, so that column is kept (and is on again after 2024's Christmas, in the horizon); the
    # other Christmas columns are on in the horizon alone: nothing to learn them from.
    assert [n for n in names if n.startswith("xmas")] == ["xmas[+1]"]
    on = _on(matrix, names, dates)
    assert on["xmas[+1]"] == ["2024-01-01", "2024-12-30"]
    assert {"summer[-2]", "summer[-1]", "summer", "summer[+1]"} <= set(names)
    # The Christmas columns on in the horizon alone are its unseen ones: 0 in the history.
    unseen, unseen_names = unseen_event_features(events, dates, frequency_from_code("W"), n_train=43)
    assert unseen_names == ["xmas[-2]", "xmas[-1]", "xmas"]
    assert not unseen[:43].any()
    assert _on(unseen, unseen_names, dates) == {
        "xmas[-2]": ["2024-12-09"],
        "xmas[-1]": ["2024-12-16"],
        "xmas": ["2024-12-23"],
    }
    # With the whole calendar in the history, nothing is unseen.
    assert unseen_event_features(events, dates[:43], frequency_from_code("W"), n_train=43)[1] == []


def test_columns_on_in_the_same_history_periods_are_one_column_on_wherever_either_is():
    # Christmas and New Year fall a week apart every year: weekly, Christmas's week after is New
    # Year's week, and so on; their effects cannot be told apart, only their sum.
    dates = pd.date_range("2022-01-03", periods=120, freq="7D")  # Mondays; history: the first 110
    events = _events(
        *[(f"{y}-12-25", "xmas") for y in (2021, 2022, 2023)],
        *[(f"{y}-01-01", "new year") for y in (2022, 2023, 2024)],
    )
    matrix, names = event_features(events, dates, frequency_from_code("W"), n_train=110)
    assert "new year = xmas[+1]" in names and "new year[-1] = xmas" in names
    assert len(names) == len(set(names))
    history = matrix[:110]
    assert len({history[:, j].tobytes() for j in range(len(names))}) == len(names)
    on = _on(matrix, names, dates)
    assert on["new year = xmas[+1]"] == ["2022-12-26", "2024-01-01"]  # 2022-01-01 is before the data
    # every column of the unmerged calendar is one of the merged columns, in the history and horizon
    for name in ("xmas[-2]", "new year[+1]"):
        assert any(name in n.split(" = ") for n in names)


def test_an_event_on_in_most_periods_gets_its_own_column_only():
    # SNAP-like days: ten a month, so most weeks hold one; a run-up column would be on in most weeks too
    dates = pd.date_range("2023-01-02", periods=60, freq="7D")
    days = pd.date_range("2023-01-01", "2024-03-01", freq="D")
    events = pd.concat(
        [_events(*[(str(d.date()), "snap") for d in days if d.day <= 10]), _events(("2023-07-04", "july"))]
    )
    matrix, names = event_features(events, dates, frequency_from_code("W"), n_train=50)
    assert [n for n in names if n.startswith("snap")] == ["snap"]
    assert {"july[-2]", "july[-1]", "july", "july[+1]"} <= set(names)  # a sparse event keeps its window


def _raw(design, events, frequency):
    """The design's event columns as 0/1 (``event_features``), over its dates."""
    return event_features(events, design.dates, frequency, design.n_train)[0]


def _holidays(design):
    return default_events(None, "US", design.dates[0], design.dates[-1])


def test_the_design_takes_the_seasonal_curve_out_of_each_event_column(tiny_data):
    config = ForecastConfig(horizon=4, holiday_country="US")
    prepared = runs.prepare(tiny_data.sales, tiny_data.products, config)
    design = prepared.design
    basis = np.column_stack([np.ones(len(design.dates)), design.fourier])
    history = design.events[: design.n_train]
    # orthogonal over the history to a constant and every Fourier term ...
    assert np.allclose(basis[: design.n_train].T @ history, 0.0, atol=1e-8)
    # ... and otherwise the 0/1 columns: what was taken off is a seasonal curve, in the horizon too
    raw = _raw(design, _holidays(design), prepared.frequency)
    taken = raw - design.events
    coef, *_ = np.linalg.lstsq(basis, taken, rcond=None)
    assert np.allclose(basis @ coef, taken, atol=1e-8)


def test_an_event_just_after_the_horizon_still_lifts_its_run_up_inside_it():
    dates = pd.date_range("2023-01-02", periods=60, freq="7D")  # ends 2024-02-19
    events = _events(("2023-02-14", "valentine"), ("2024-02-27", "valentine"))
    matrix, names = event_features(events, dates, frequency_from_code("W"), n_train=50)
    assert _on(matrix, names, dates)["valentine[-1]"] == ["2023-02-06", "2024-02-19"]


def test_daily_events_get_days_before_and_after():
    dates = pd.date_range("2024-01-01", periods=400, freq="D")
    events = _events(("2024-02-14", "valentine"))
    matrix, names = event_features(events, dates, frequency_from_code("D"), n_train=380)
    on = _on(matrix, names, dates)
    assert names == ["valentine[-3]", "valentine[-2]", "valentine[-1]", "valentine", "valentine[+1]"]
    assert on["valentine[-3]"] == ["2024-02-11"] and on["valentine"] == ["2024-02-14"]
    assert on["valentine[+1]"] == ["2024-02-15"]


@pytest.mark.parametrize(
    ("code", "dates"),
    [
        ("M", pd.date_range("2023-01-01", periods=30, freq="MS")),
        ("M", pd.date_range("2023-01-31", periods=30, freq="ME")),  # month ends
        ("Q", pd.date_range("2023-01-01", periods=12, freq="QS")),
    ],
)
def test_monthly_and_quarterly_events_mark_the_period_holding_them_only(code, dates):
    frequency = infer_frequency(dates)
    assert frequency.code == code
    events = _events(("2023-12-25", "xmas"), ("2024-12-25", "xmas"))
    matrix, names = event_features(events, dates, frequency, n_train=len(dates) - 3)
    assert names == ["xmas"]
    held = dates[matrix[:, 0] > 0]
    assert [(d.year, (d.month - 1) // (3 if code == "Q" else 1)) for d in held] == [
        (2023, 3 if code == "Q" else 11),
        (2024, 3 if code == "Q" else 11),
    ]


def test_no_events_give_no_columns():
    dates = pd.date_range("2024-01-01", periods=10, freq="7D")
    for events in (None, _events()):
        matrix, names = event_features(events, dates, frequency_from_code("W"), 8)
        assert matrix.shape == (10, 0) and names == []


def test_the_design_carries_the_events_and_a_subset_keeps_them(tiny_data):
    freq = infer_frequency(tiny_data.sales["date"])
    plain = build_design(tiny_data.sales, tiny_data.products, Hierarchy(), freq, 6)
    assert plain.events.shape == (len(plain.dates), 0) and plain.event_names == []
    first = tiny_data.sales["date"].min()
    events = _events((first + pd.Timedelta(days=70), "sale"), (first + pd.Timedelta(days=434), "sale"))
    design = build_design(tiny_data.sales, tiny_data.products, Hierarchy(), freq, 6, events=events)
    assert design.events.shape == (len(design.dates), 4)
    assert design.event_names == ["sale[-2]", "sale[-1]", "sale", "sale[+1]"]
    on = _raw(design, events, freq)[:, 2]  # the design's columns less their seasonal fit: as 0/1
    assert on[10] == 1 and on[62] == 1 and on.sum() == 2
    sub = subset_design(design, np.array([0, 3]))
    assert sub.events is design.events and sub.event_names == design.event_names
    assert design.unseen_event_names == [] and design.unseen_events.shape == (len(design.dates), 0)
    # An event in the horizon alone: unseen columns, kept by a subset, named in the run record.
    ahead = pd.concat([events, _events((design.dates[-3], "launch"))], ignore_index=True)
    design = build_design(tiny_data.sales, tiny_data.products, Hierarchy(), freq, 6, events=ahead)
    assert design.unseen_event_names == ["launch[-2]", "launch[-1]", "launch", "launch[+1]"]
    assert design.unseen_events[design.n_train :].any(axis=0).all()
    assert subset_design(design, np.array([0, 3])).unseen_event_names == design.unseen_event_names
    line = runs.unseen_events_line(design)
    assert (
        line.startswith("4 event column(s) in the horizon never in the history, drawn")
        and "launch[-2]" in line
    )


def test_a_country_gives_its_public_holidays():
    us = country_holidays("us", range(2024, 2026))
    christmas = us[us["event"] == "Christmas Day"]["date"].dt.strftime("%Y-%m-%d").tolist()
    assert christmas == ["2024-12-25", "2025-12-25"]
    assert "Thanksgiving Day" in set(us["event"])
    assert not us["event"].str.contains("observed").any()  # an observed day is the holiday itself
    de = country_holidays("DE", [2024])
    assert "2024-10-03" in set(de["date"].dt.strftime("%Y-%m-%d"))  # German Unity Day


def test_an_unknown_country_is_one_line():
    with pytest.raises(ValueError) as raised:
        ForecastConfig(holiday_country="XX")
    assert "\n" not in str(raised.value) and "unknown holiday_country 'XX'" in str(raised.value)
    assert ForecastConfig(holiday_country="gb").holiday_country == "GB"


def test_the_events_table_wins_and_the_country_fills_an_empty_one():
    first, last = pd.Timestamp("2024-01-01"), pd.Timestamp("2025-03-01")
    given = _events(("2024-05-01", "spring sale"))
    assert default_events(given, "US", first, last) is given
    assert default_events(None, "", first, last) is None
    filled = default_events(_events(), "US", first, last)
    assert set(filled["date"].dt.year) == {2024, 2025, 2026}  # the next year: a run-up into the horizon


def test_prepare_fills_the_calendar_from_the_configured_country(tiny_data):
    plain = runs.prepare(tiny_data.sales, tiny_data.products, ForecastConfig(horizon=4)).design
    assert plain.event_names == []
    config = ForecastConfig(horizon=4, holiday_country="US")
    prepared = runs.prepare(tiny_data.sales, tiny_data.products, config)
    design = prepared.design
    assert "Christmas Day[-2]" in design.event_names
    assert "Christmas Day = New Year's Day[-1]" in design.event_names  # a week apart every year
    raw = _raw(design, _holidays(design), prepared.frequency)
    week = design.dates[raw[:, design.event_names.index("Christmas Day = New Year's Day[-1]")] > 0]
    assert all(d <= pd.Timestamp(d.year, 12, 25) < d + pd.Timedelta(days=7) for d in week)
    own = runs.prepare(
        tiny_data.sales, tiny_data.products, config, events=_events(("2025-01-20", "winter sale"))
    ).design
    assert {n.split("[")[0] for n in own.event_names} == {"winter sale"}
