import pandas as pd
import pytest

from forecast.prep.calendar import infer_frequency


@pytest.mark.parametrize(
    ("dates", "code"),
    [
        (pd.date_range("2024-01-01", periods=30, freq="D"), "D"),
        (pd.date_range("2024-01-01", periods=30, freq="7D"), "W"),
        (pd.date_range("2024-01-01", periods=30, freq="MS"), "M"),
        (pd.date_range("2024-01-31", periods=30, freq="ME"), "M"),
        (pd.date_range("2024-01-01", periods=12, freq="QS"), "Q"),
    ],
)
def test_infers_frequency_from_dates(dates, code):
    assert infer_frequency(dates).code == code


def test_a_few_missing_periods_do_not_change_the_frequency():
    dates = pd.date_range("2024-01-01", periods=40, freq="7D").delete([3, 10, 11])
    assert infer_frequency(dates).code == "W"


def test_future_dates_continue_the_grid():
    monthly = pd.date_range("2024-01-31", periods=6, freq="ME")
    freq = infer_frequency(monthly)
    assert list(freq.future(monthly[-1], 3)) == list(pd.date_range("2024-07-31", periods=3, freq="ME"))
    weekly = pd.date_range("2024-01-01", periods=6, freq="7D")
    assert infer_frequency(weekly).future(weekly[-1], 1)[0] == pd.Timestamp("2024-02-12")


def test_unknown_spacing_is_a_clear_error():
    with pytest.raises(ValueError, match="typical gap between dates is 3 days"):
        infer_frequency(pd.date_range("2024-01-01", periods=10, freq="3D"))
    with pytest.raises(ValueError, match="at least two distinct dates"):
        infer_frequency(pd.to_datetime(["2024-01-01"]))


def test_sparse_weekly_data_is_still_weekly():
    dates = pd.date_range("2024-01-01", periods=20, freq="7D")[[0, 2, 4, 5, 9, 11]]
    assert infer_frequency(dates).code == "W"
