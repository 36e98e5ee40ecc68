"""Sample paths: the forecast's draws of future demand, (path, product, period), with their labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class SamplePaths:
    """Sample paths as an array (draw, product, period) with the labels of its axes."""

    values: np.ndarray
    products: np.ndarray
    dates: pd.DatetimeIndex

    def frame(self) -> pd.DataFrame:
        """One row per (product, period, draw), in that order (product by product, as
        ``forecast_draws`` is written); ``p`` and ``t`` the positions in ``products`` and ``dates``."""
        n_draw, n_prod, n_time = self.values.shape
        cells = n_prod * n_time
        return pd.DataFrame(
            {
                "draw": np.tile(np.arange(n_draw, dtype=np.int32), cells),
                "p": np.repeat(np.arange(n_prod, dtype=np.int32), n_time * n_draw),
                "t": np.tile(np.repeat(np.arange(n_time, dtype=np.int32), n_draw), n_prod),
                "quantity": self.values.transpose(1, 2, 0).astype(np.int32).ravel(),
            }
        )
