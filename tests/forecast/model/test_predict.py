"""Sample paths of discontinued products: exactly 0 after the end date, untouched before it."""

import numpy as np
import pandas as pd

from forecast.contract.paths import SamplePaths
from forecast.model.predict import summarise, zero_discontinued


def test_paths_after_the_end_date_are_zero_and_before_it_untouched():
    rng = np.random.default_rng(0)
    values = rng.poisson(5.0, size=(50, 3, 4)).astype(np.int64) + 1  # nowhere 0 to start with
    off = np.array([[False, True, True, True], [False] * 4, [False, False, False, True]])
    masked = zero_discontinued(values, off)
    assert masked.dtype == values.dtype and masked.shape == values.shape
    assert (masked[:, off] == 0).all()
    assert np.array_equal(masked[:, ~off], values[:, ~off])
    assert (masked[:, 0, 0] != 0).any()  # before the end date: demand, not all zeros
    # the summaries follow from the paths: mean and every quantile 0 where the product is off
    paths = SamplePaths(
        values=masked,
        products=np.array(["A", "B", "C"]),
        dates=pd.date_range("2024-03-04", periods=4, freq="7D"),
    )
    frame = summarise(paths)
    gone = frame[off.ravel()]
    assert (gone.drop(columns=["product_id", "date"]) == 0).all().all()
    assert (frame[~off.ravel()]["mean"] > 0).all()


def test_nothing_discontinued_leaves_the_paths_as_they_are():
    values = np.arange(24).reshape(2, 3, 4)
    assert zero_discontinued(values, None) is values
