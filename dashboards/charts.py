"""Altair charts the pages share: forecast fans, forest plots, bars of metrics."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboards.data import ATTRIBUTES, BANDS

BAND_COLORS = {"95%": "#c6dbef", "80%": "#9ecae1", "50%": "#4292c6"}
LINE_COLORS = {"history": "#7f7f7f", "median forecast": "#08519c", "actual since": "#d62728"}


def fan(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    actuals: pd.DataFrame | None = None,
    title: str = "",
    y_title: str = "units per period",
    height: int = 320,
    actual_label: str = "actual since",
) -> alt.LayerChart:
    """History, the forecast's median and its 50/80/95% bands, and actuals that arrived since.

    ``history`` and ``actuals`` hold ``date, actual``; ``forecast`` holds ``date, p50`` and each
    band's ends (``p025/p975``, ``p10/p90``, ``p25/p75``).
    """
    bands = pd.concat(
        [
            pd.DataFrame({"date": forecast["date"], "band": band, "low": forecast[lo], "high": forecast[hi]})
            for band, (lo, hi) in reversed(BANDS.items())
            if lo in forecast and hi in forecast
        ],
        ignore_index=True,
    )
    lines = [
        history[["date", "actual"]].assign(series="history").rename(columns={"actual": "units"}),
        forecast[["date", "p50"]].assign(series="median forecast").rename(columns={"p50": "units"}),
    ]
    if actuals is not None and len(actuals):
        lines.append(
            actuals[["date", "actual"]].assign(series=actual_label).rename(columns={"actual": "units"})
        )
    lines_frame = pd.concat(lines, ignore_index=True)
    x = alt.X("date:T", title=None)
    area = (
        alt.Chart(bands)
        .mark_area()
        .encode(
            x=x,
            y=alt.Y("low:Q", title=y_title),
            y2="high:Q",
            color=alt.Color(
                "band:N",
                title="interval",
                scale=alt.Scale(domain=list(BAND_COLORS), range=list(BAND_COLORS.values())),
            ),
            order=alt.Order("band:N", sort="descending"),
            tooltip=[
                alt.Tooltip("date:T"),
                "band:N",
                alt.Tooltip("low:Q", format=",.1f"),
                alt.Tooltip("high:Q", format=",.1f"),
            ],
        )
    )
    colors = {**LINE_COLORS, actual_label: LINE_COLORS["actual since"]}
    present = [s for s in colors if s in set(lines_frame["series"])]
    line = (
        alt.Chart(lines_frame)
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=x,
            y=alt.Y("units:Q", title=y_title),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=present, range=[colors[s] for s in present]),
            ),
            tooltip=[alt.Tooltip("date:T"), "series:N", alt.Tooltip("units:Q", format=",.1f")],
        )
    )
    return alt.layer(area, line).resolve_scale(color="independent").properties(title=title, height=height)


def forest(
    effects: pd.DataFrame, height_per_level: int = 18, attributes: tuple[str, ...] = ATTRIBUTES
) -> alt.VConcatChart:
    """Posterior mean and 90% interval of every level's effect, one panel per attribute (log scale),
    ``attributes`` (the run's hierarchy) first in their order, then any others found."""
    lo = float(min(effects["hdi_05"].min(), 0)) if len(effects) else -1.0
    hi = float(max(effects["hdi_95"].max(), 0)) if len(effects) else 1.0
    x_scale = alt.Scale(domain=[lo, hi], nice=True)
    panels = []
    found = list(dict.fromkeys(effects["attribute"]))
    order = [a for a in attributes if a in found] + [a for a in found if a not in attributes]
    for attribute in order:
        frame = effects[effects["attribute"] == attribute]
        base = alt.Chart(frame).encode(
            y=alt.Y(
                "level:N",
                title=attribute,
                sort=alt.EncodingSortField("mean", order="descending"),
                axis=alt.Axis(labelLimit=260, labelOverlap=False),
            ),
            tooltip=[
                "level:N",
                alt.Tooltip("mean:Q", format=".3f"),
                alt.Tooltip("hdi_05:Q", format=".3f", title="5%"),
                alt.Tooltip("hdi_95:Q", format=".3f", title="95%"),
            ],
        )
        rule = base.mark_rule(color="#4292c6", strokeWidth=2).encode(
            x=alt.X("hdi_05:Q", title="effect on log demand (mean, 90% interval)", scale=x_scale),
            x2="hdi_95:Q",
        )
        point = base.mark_point(filled=True, color="#08519c", size=40).encode(x="mean:Q")
        zero = alt.Chart(frame).mark_rule(color="#999999", strokeDash=[4, 4]).encode(x=alt.datum(0))
        panels.append(
            alt.layer(zero, rule, point).properties(
                width=560, height=height_per_level * frame["level"].nunique()
            )
        )
    return alt.vconcat(*panels, spacing=18)


def bars(frame: pd.DataFrame, x: str, y: str, color: str | None = None, title: str = "", fmt: str = ",.3f"):
    """Horizontal bars of ``x`` per ``y`` (optionally grouped by ``color``)."""
    enc = {
        "x": alt.X(f"{x}:Q", title=x),
        "y": alt.Y(f"{y}:N", title=None, sort="x"),
        "tooltip": [f"{y}:N", alt.Tooltip(f"{x}:Q", format=fmt)],
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
        enc["yOffset"] = f"{color}:N"
        enc["tooltip"].insert(1, f"{color}:N")
    return alt.Chart(frame).mark_bar().encode(**enc).properties(title=title)


def totals(frame: pd.DataFrame, by: str) -> alt.LayerChart:
    """Units over the horizon per level of ``by``: mean as a bar, 80% and 95% intervals as rules."""
    y = alt.Y(f"{by}:N", title=None, sort=alt.EncodingSortField("mean", order="descending"))
    base = alt.Chart(frame).encode(
        y=y,
        tooltip=[
            f"{by}:N",
            alt.Tooltip("mean:Q", format=",.0f"),
            alt.Tooltip("p10:Q", format=",.0f"),
            alt.Tooltip("p90:Q", format=",.0f"),
        ],
    )
    bar = base.mark_bar(color="#9ecae1").encode(x=alt.X("mean:Q", title="units over the horizon"))
    r95 = base.mark_rule(color="#6baed6").encode(x="p025:Q", x2="p975:Q")
    r80 = base.mark_rule(color="#08519c", strokeWidth=3).encode(x="p10:Q", x2="p90:Q")
    return alt.layer(bar, r95, r80).properties(height=alt.Step(26))
