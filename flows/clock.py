"""Stage timings of a flow run, logged as each stage ends."""

from __future__ import annotations

import logging
import time


class StageClock:
    """``lap("fit")`` records the seconds since the previous lap under ``fit`` and logs them."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter) -> None:
        self.logger = logger
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, stage: str) -> None:
        self.timings[stage] = round(time.perf_counter() - self._clock, 2)
        self._clock = time.perf_counter()
        self.logger.info("%s done in %.1f s", stage, self.timings[stage])
