"""The run record: one row of ``forecast_runs`` (sql/002, 004 and 008), typed.

A run's record is made once when the run starts (``RunRecord.started``), gains what each stage
learns (``with_``), and ends in exactly one of three states, each set by one method, so that no
order of merging can change it:

- ``finished(published=True, published_by=...)``: status ``succeeded``, visible in ``latest_run``;
- ``finished(published=False)``: status ``unconverged``, written but not published;
- status ``failed``: written by ``storage.fail_run`` with the reason.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, date, datetime
from typing import Any

STATUSES = ("running", "succeeded", "unconverged", "failed")
PUBLISHERS = ("checks", "option", "manual")
DIAGNOSTICS = (
    "max_rhat",
    "min_ess_bulk",
    "min_ess_tail",
    "min_ess_hyper",
    "divergences",
    "min_bfmi",
    "verdict",
    "problems",
)


@dataclass(frozen=True)
class RunRecord:
    """A ``forecast_runs`` row; a field left ``None`` is not known (yet)."""

    run_id: str
    created_at: datetime | None = None
    finished_at: datetime | None = None
    status: str = "running"
    published: bool = False
    message: str | None = None
    # what was fitted, on what (``forecast.runs.describe``)
    frequency: str | None = None
    horizon: int | None = None
    n_products: int | None = None
    n_observations: int | None = None
    first_date: date | None = None
    last_date: date | None = None
    censored_rows: int | None = None  # history periods out of stock for part of the period: lower bounds
    # how (``forecast.runs.configured``)
    sampler: str | None = None
    seed: int | None = None
    config: dict[str, Any] | None = None
    config_hash: str | None = None
    package_version: str | None = None
    likelihood: str | None = None
    # how long, and how well (``forecast.model.diagnostics.verdict``)
    timings: dict[str, float] | None = None
    max_rhat: float | None = None
    min_ess_bulk: float | None = None
    min_ess_tail: float | None = None
    divergences: int | None = None
    min_ess_hyper: float | None = None
    min_bfmi: float | None = None
    verdict: str | None = None
    problems: str | None = None
    posterior_path: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    published_by: str | None = None
    # the writing process, for runs interrupted mid-write (``storage.mark_stale_runs_failed``)
    writer_pid: int | None = None
    writer_host: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown run status '{self.status}': one of {', '.join(STATUSES)}")
        if self.published_by is not None and self.published_by not in PUBLISHERS:
            raise ValueError(f"unknown publisher '{self.published_by}': one of {', '.join(PUBLISHERS)}")

    @classmethod
    def started(cls, run_id: str, **known: Any) -> RunRecord:
        """A run about to start work, now (UTC), with the process that writes it."""
        now = datetime.now(UTC).replace(tzinfo=None)
        return cls(run_id, created_at=now, writer_pid=os.getpid(), writer_host=socket.gethostname(), **known)

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def with_(self, **known: Any) -> RunRecord:
        """This record with more of the run known; the state fields change only through ``finished``."""
        state = {"status", "published", "published_by", "finished_at"} & set(known)
        if state:
            raise ValueError(f"{sorted(state)} change only when the run finishes (RunRecord.finished)")
        return replace(self, **known)

    def finished(self, published: bool, published_by: str | None = None) -> RunRecord:
        """The record of a written run: published (by the checks or the option) or unconverged."""
        if published and published_by is None:
            raise ValueError("a published run names who published it: checks, option or manual")
        return replace(
            self,
            status="succeeded" if published else "unconverged",
            published=published,
            published_by=published_by if published else None,
            finished_at=datetime.now(UTC).replace(tzinfo=None),
        )

    def diagnostics(self) -> dict[str, Any]:
        """The convergence summary (``forecast.model.diagnostics.verdict``'s fields)."""
        return {name: getattr(self, name) for name in DIAGNOSTICS}

    def as_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        """A record from a ``forecast_runs`` row as the database returns it (JSON columns as text)."""
        known = {k: v for k, v in row.items() if k in _NAMES}
        for name in ("config", "timings", "attempts"):
            if isinstance(known.get(name), str):
                known[name] = json.loads(known[name])
        known["attempts"] = known.get("attempts") or []
        known["published"] = bool(known.get("published"))
        return cls(**known)


_NAMES = frozenset(RunRecord.columns())
