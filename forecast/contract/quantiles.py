"""The quantile grids: the forecast tables' quantiles and the backtest's stored and scored grids."""

from __future__ import annotations

BACKTEST_QUANTILES = ["p025", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p975"]
