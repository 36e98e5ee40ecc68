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
        n_draw, n_prod, n_time = self.values.shape
        d, p, t = np.meshgrid(np.arange(n_draw), np.arange(n_prod), np.arange(n_time), indexing="ij")
        return pd.DataFrame(
            {
                "draw": d.ravel().astype(np.int32),
                "p": p.ravel().astype(np.int32),
                "t": t.ravel().astype(np.int32),
                "quantity": self.values.ravel().astype(np.int32),
            }
        )
