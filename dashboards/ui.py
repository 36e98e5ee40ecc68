"""What every page shares: the database it reads, the run it shows, messages, downloads."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pandas as pd
import streamlit as st

from dashboards import data


def database() -> str:
    return data.db_path()


@contextmanager
def shown_problems():
    """Turn a ``DataProblem`` into a message on the page (and stop the page there)."""
    try:
        yield
    except data.DataProblem as problem:
        st.warning(str(problem), icon=":material/database:")
        st.stop()


def latest_run(db: str) -> dict:
    """The newest published run, with a caption naming it; stops the page with a message if none."""
    with shown_problems():
        run = data.require_run(db)
    st.caption(
        f"Run `{run['run_id']}` ({run.get('sampler')}, {run.get('verdict')}): "
        f"{run.get('n_products')} products, {run.get('frequency')} data to {_date(run.get('last_date'))}, "
        f"{run.get('horizon')} periods ahead. Database `{db}`."
    )
    return run


def _date(value) -> str:
    return "?" if value is None or pd.isna(value) else str(pd.Timestamp(value).date())


def download(frame: pd.DataFrame, name: str, label: str = "Download CSV", key: str | None = None) -> None:
    """A CSV download of exactly what the page shows."""
    st.download_button(
        label,
        frame.to_csv(index=False).encode(),
        file_name=re.sub(r"[^\w.-]+", "_", name) + ".csv",
        mime="text/csv",
        key=key or f"download-{name}",
        icon=":material/download:",
    )


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates without a time of day, for tables and downloads."""
    out = frame.copy()
    for col in out.columns:
        if (
            pd.api.types.is_datetime64_any_dtype(out[col])
            and (out[col].dropna().dt.normalize() == out[col].dropna()).all()
        ):
            out[col] = out[col].dt.date
    return out


def listed(names: tuple[str, ...] | list[str]) -> str:
    """``("category", "brand", "color")`` as "category, brand and color"."""
    names = list(names)
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def none_if_all(value: str) -> str | None:
    return None if value == ALL else value


ALL = "(all)"
