"""The backtest's self-contained HTML report: plots as inline PNGs, the comparison in words, the tables.

The ``backtest_*`` tables stay the source of truth; the report is a view of them a planner can open,
mail or archive without a server.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from forecast.contract.segments import INTERMITTENT_ADI, NEW_MAX_PERIODS
from forecast.evaluation.backtest import FROM_ATTRIBUTES, MODEL, NO_POOLING  # noqa: E402

PALETTE = {MODEL: "#1f5fa8", NO_POOLING: "#7fa7d6", FROM_ATTRIBUTES: "#6a3d9a"}
BASELINE_COLORS = {
    "seasonal_naive": "#d95f02",
    "auto_ets": "#e6ab02",
    "croston": "#66a61e",
    "tsb": "#1b9e77",
    "adida": "#a6761d",
    "auto_ets_bottom_up": "#17becf",
    "auto_ets_min_trace": "#e7298a",
}
OTHER = "#9a9a9a"
SEGMENT_ORDER = ["all", "regular", "intermittent", "new", "unseen", "cold_start", "stockout", "declining"]
CALIBRATION = ["coverage_50", "coverage_80", "coverage_95", "pit_coverage_80"]
INTERVALS = ["coverage_50", "coverage_80", "coverage_95"]  # nominal: the number in the name

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #b42318; font-weight: 600; }
.note { color: #555; font-size: 0.9rem; } img { max-width: 100%; }
"""


def _png(fig, alt: str = "") -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    alt = f' alt="{html.escape(alt)}"' if alt else ""
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"{alt}>'


def _color(method: str) -> str:
    return PALETTE.get(method) or BASELINE_COLORS.get(method, OTHER)


def _methods(metrics: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(metrics["method"]))
    first = [m for m in (MODEL, NO_POOLING, FROM_ATTRIBUTES) if m in present]
    return first + [m for m in present if m not in first]


def accuracy_plot(metrics: pd.DataFrame) -> str:
    """CRPS by product segment, every method side by side (lower is better)."""
    rows = metrics[(metrics["fold"] == 0) & (metrics["level"] == "product")]
    segments = [s for s in SEGMENT_ORDER if s in set(rows["segment"])]
    methods = _methods(rows)
    fig, axes = plt.subplots(1, len(segments), figsize=(3.2 * len(segments), 3.6), squeeze=False)
    for ax, segment in zip(axes[0], segments, strict=True):
        part = rows[rows["segment"] == segment].set_index("method")["crps"]
        present = [m for m in methods if m in part.index]
        ax.barh(present[::-1], part[present[::-1]], color=[_color(m) for m in present[::-1]])
        ax.set_title(f"{segment} (n={int(rows[rows['segment'] == segment]['n_series'].max())})", fontsize=10)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("CRPS (units)", fontsize=8)
    fig.suptitle("Accuracy by product segment: mean CRPS over all folds (lower is better)", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def _level_order(levels) -> list[str]:
    """``product``, the hierarchy's attributes as they come, ``total``: of those present."""
    present = list(dict.fromkeys(levels))
    middle = [lv for lv in present if lv not in ("product", "total")]
    return [lv for lv in ["product", *middle, "total"] if lv in present]


def level_plot(metrics: pd.DataFrame) -> str:
    """Skill at every level: each method's CRPS relative to seasonal naive's (below 1 beats it)."""
    rows = metrics[(metrics["fold"] == 0) & (metrics["segment"] == "all")]
    table = rows.pivot_table(index="level", columns="method", values="crps")
    if "seasonal_naive" not in table.columns:
        return ""
    rel = table.div(table["seasonal_naive"], axis=0)
    rel = rel.reindex([lv for lv in _level_order(rows["level"]) if lv in rel.index])
    methods = [m for m in _methods(rows) if m in rel.columns and m != FROM_ATTRIBUTES]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(methods)
    x = np.arange(len(rel.index))
    for i, m in enumerate(methods):
        ax.bar(
            x + i * width,
            rel[m],
            width,
            label=m,
            color=_color(m),
            alpha=1 if m in PALETTE else 0.6,  # the baselines lighter, each in its own colour
        )
    ax.axhline(1, color="black", lw=0.8)
    ax.set_xticks(x + 0.4 - width / 2, rel.index)
    ax.set_ylabel("CRPS / seasonal naive CRPS")
    ax.set_title("Accuracy by level (aggregates of the model from summed sample paths)", fontsize=11)
    ax.legend(fontsize=7, ncol=4)
    return _png(fig)


def level_coverage_plot(metrics: pd.DataFrame) -> str:
    """Calibration at every level: each method's share of actuals inside its 50%, 80% and 95%
    intervals, all folds, against the nominal share (dashed)."""
    rows = metrics[(metrics["fold"] == 0) & (metrics["segment"] == "all")]
    columns = [c for c in INTERVALS if c in rows.columns and rows[c].notna().any()]
    if rows.empty or not columns:
        return ""
    levels = _level_order(rows["level"])
    methods = [m for m in _methods(rows) if m != FROM_ATTRIBUTES]
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.8), squeeze=False, sharey=True)
    x = np.arange(len(levels))
    shift = 0.5 / max(len(methods), 1)
    for ax, column in zip(axes[0], columns, strict=True):
        nominal = int(column.removeprefix("coverage_")) / 100
        table = rows.pivot_table(index="level", columns="method", values=column).reindex(levels)
        for i, m in enumerate(m for m in methods if m in table.columns):
            own = m in PALETTE
            ax.plot(
                x - 0.25 + i * shift,
                table[m],
                marker="o" if own else ".",
                ms=6 if own else 5,
                lw=1.4 if own else 0.6,
                color=_color(m),
                label=m,
            )
        ax.axhline(nominal, color="black", lw=1, ls="--")
        ax.set_xticks(x, levels, fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{column.removeprefix('coverage_')}% interval (nominal {nominal:.0%})", fontsize=10)
        ax.tick_params(labelsize=8)
    axes[0][0].set_ylabel("share of actuals inside")
    fig.suptitle("Coverage by level: dashed at the nominal share", fontsize=11)
    fig.tight_layout()
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, 0.0))
    return _png(fig, alt="coverage by level")


def coverage_plot(metrics: pd.DataFrame) -> str:
    """Coverage of the 80% and 95% intervals and the PIT-based 80% coverage, product level."""
    rows = metrics[(metrics["fold"] == 0) & (metrics["level"] == "product") & (metrics["segment"] == "all")]
    rows = rows.set_index("method").reindex(_methods(rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, col, target in ((axes[0], "coverage_80", 0.8), (axes[1], "coverage_95", 0.95)):
        ax.barh(rows.index[::-1], rows[col][::-1], color=[_color(m) for m in rows.index[::-1]])
        ax.axvline(target, color="black", lw=1, ls="--")
        ax.set_xlim(0, 1)
        ax.set_title(f"{col.replace('coverage_', '')}% interval: share of actuals inside", fontsize=10)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig)


def pit_plot(pit: pd.DataFrame) -> str:
    """PIT histograms, all products: flat at 0.1 for a calibrated forecast."""
    rows = pit[pit["segment"] == "all"]
    panels = [(m, rows[rows["method"] == m], _color(m)) for m in _methods(rows)]
    return _pit_grid(panels, "PIT histograms (randomized for counts): flat at 0.1 when calibrated")


def _pit_grid(panels: list[tuple[str, pd.DataFrame, str]], title: str) -> str:
    """PIT histograms side by side, up to four a row: per panel its title, its bins and colour."""
    cols = min(4, len(panels))
    n_rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(n_rows, cols, figsize=(3 * cols, 2.3 * n_rows), squeeze=False, sharey=True)
    for ax in axes.ravel():
        ax.set_visible(False)
    for ax, (name, part, color) in zip(axes.ravel(), panels, strict=False):
        ax.set_visible(True)
        part = part.sort_values("bin")
        ax.bar(part["bin"] / 10 + 0.05, part["share"], width=0.095, color=color)
        ax.axhline(0.1, color="black", lw=0.8, ls="--")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _png(fig)


def calibration_table(metrics: pd.DataFrame, method: str = MODEL) -> pd.DataFrame:
    """``method``'s calibration by product segment, all folds: the share of actuals inside its 50%,
    80% and 95% intervals and the randomized-PIT 80% coverage (the fair one for counts). A model can
    be calibrated overall and not where it matters (stock-outs, declining products)."""
    rows = metrics[(metrics["fold"] == 0) & (metrics["level"] == "product") & (metrics["method"] == method)]
    cols = ["segment", "n_series", "n_cells", *[c for c in CALIBRATION if c in rows.columns]]
    order = {s: i for i, s in enumerate(SEGMENT_ORDER)}
    return rows[cols].sort_values("segment", key=lambda s: s.map(order).fillna(len(order)))


def pit_segment_plot(pit: pd.DataFrame, method: str = MODEL) -> str:
    """``method``'s PIT histogram in each product segment: flat at 0.1 where it is calibrated."""
    rows = pit[pit["method"] == method]
    segments = [s for s in SEGMENT_ORDER if s in set(rows["segment"])]
    if not segments:
        return ""
    panels = [(s, rows[rows["segment"] == s], _color(method)) for s in segments]
    return _pit_grid(panels, f"PIT histograms of {method} by product segment: flat at 0.1 when calibrated")


def examples_plot(forecasts: pd.DataFrame, history: pd.DataFrame, n_history: int = 52) -> str:
    """A few products of the last fold: history, the model's fan (50%, 80%, 95%) and the actuals.

    One product per segment where the segment exists (regular, intermittent, new, unseen).
    """
    last = forecasts[forecasts["fold"] == forecasts["fold"].max()]
    model = last[last["method"] == MODEL]
    picks = []
    for segment in ("regular", "intermittent", "new", "unseen"):
        ids = model.loc[model["segment"] == segment].groupby("product_id")["actual"].sum()
        if len(ids):
            picks.append((segment, ids.sort_values().index[len(ids) // 2]))
    if not picks:
        return ""
    fig, axes = plt.subplots(1, len(picks), figsize=(4.2 * len(picks), 3.2), squeeze=False)
    cutoff = pd.Timestamp(last["cutoff"].iloc[0])
    for ax, (segment, pid) in zip(axes[0], picks, strict=True):
        h = history[(history["product_id"] == pid) & (history["date"] <= cutoff)].tail(n_history)
        f = model[model["product_id"] == pid].sort_values("date")
        ax.plot(h["date"], h["y"], color="#444", lw=1, label="history")
        for lo, hi, alpha in (("p025", "p975", 0.15), ("p10", "p90", 0.25), ("p25", "p75", 0.4)):
            ax.fill_between(f["date"], f[lo], f[hi], color=PALETTE[MODEL], alpha=alpha, lw=0)
        ax.plot(f["date"], f["p50"], color=PALETTE[MODEL], lw=1.5, label="median")
        ax.plot(f["date"], f["actual"], "o", color="#d62728", ms=3, label="actual")
        ax.axvline(cutoff, color="black", lw=0.6, ls=":")
        ax.set_title(f"{pid} ({segment})", fontsize=9)
        ax.tick_params(labelsize=7, axis="both")
        ax.tick_params(axis="x", rotation=45)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Example products, last fold: 50/80/95% bands of the hierarchical model", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def _comparison_html(v: dict) -> str:
    items = []
    for segment, s in v["segments"].items():
        word = "ahead of" if s["ahead"] else "<b>not</b> ahead of"
        cls = "ok" if s["ahead"] else "bad"
        pooled = ""
        if s.get("no_pooling_crps") is not None:
            change = s["model_crps"] / s["no_pooling_crps"] - 1
            pooled = f"; against the no-pooling model: {change:+.1%} CRPS"
        items.append(
            f'<li><span class="{cls}">{segment}</span>: hierarchical CRPS {s["model_crps"]:.3f} is {word} '
            f"every baseline (best: {html.escape(str(s['best_baseline']))}, {s['best_baseline_crps']:.3f})"
            f"{pooled}</li>"
        )
    cls = "ok" if v["coverage_ok"] else "bad"
    items.append(
        f'<li><span class="{cls}">80% coverage</span>: {v["pit_coverage_80"]:.1%} by randomized PIT '
        "(target 75-85%), the fair measure for counts; the closed interval [10%, 90%] quantiles holds "
        f"{v['coverage_80']:.1%} of actuals, more than 80% even for a calibrated count forecast because "
        "its end points carry probability mass</li>"
    )
    return "<ul>" + "".join(items) + "</ul>"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda x: f"{x:,.3f}", na_rep="", border=0)


def render(
    record: dict,
    metrics: pd.DataFrame,
    pit: pd.DataFrame,
    forecasts: pd.DataFrame,
    history: pd.DataFrame,
    comparison: dict,
    advice: str = "",
) -> str:
    """The report as one HTML string (no external files, scripts or fonts)."""
    product = metrics[(metrics["fold"] == 0) & (metrics["level"] == "product")]
    seg_table = product.pivot_table(index="method", columns="segment", values="crps").reindex(
        _methods(product)
    )
    seg_table = seg_table[[s for s in SEGMENT_ORDER if s in seg_table.columns]].reset_index()
    overall = product[product["segment"] == "all"][
        [
            "method",
            "n_series",
            "crps",
            "wql",
            "mase",
            "bias",
            *[c for c in CALIBRATION if c in product.columns],
        ]
    ]
    levels = metrics[(metrics["fold"] == 0) & (metrics["segment"] == "all")]
    level_table = levels.pivot_table(index="method", columns="level", values="crps")
    level_table = level_table.reindex(columns=_level_order(level_table.columns)).reset_index()
    level_coverage = levels.pivot_table(index="method", columns="level", values="coverage_80")
    level_coverage = level_coverage.reindex(columns=_level_order(level_coverage.columns)).reset_index()
    fits = pd.DataFrame(record.get("fits") or [])
    cutoffs = ", ".join(str(c) for c in record.get("cutoffs", []))
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Backtest {record['backtest_id']}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Backtest {html.escape(record['backtest_id'])}</h1>",
        f"<p class='note'>{record.get('n_products')} products, {record.get('frequency')} data; "
        f"{record.get('folds')} folds of {record.get('horizon')} periods, cutoffs {cutoffs}. "
        "Every fold fits only on data up to its cutoff. Scores from a common grid of 21 quantiles.</p>",
        "<h2>Verdict</h2>",
        _comparison_html(comparison),
        f"<p>{html.escape(advice)}</p>" if advice else "",
        "<h2>Accuracy by segment</h2>",
        accuracy_plot(metrics),
        _table(seg_table),
        f"<p class='note'>Segments at each cutoff: <i>new</i> at most {NEW_MAX_PERIODS} periods of "
        f"history, <i>intermittent</i> average demand interval above {INTERMITTENT_ADI}, <i>unseen</i> no history (only the "
        "project's models can forecast them), <i>cold_start</i> a sample of established products "
        "whose whole history was hidden from one more fit (method hierarchical_from_attributes) next to "
        "the same products forecast with history. Across those: <i>stockout</i> products with periods "
        "out of stock (availability under 1) before the cutoff, <i>declining</i> products with an end "
        "date after it; a discontinued product's periods after its end date are not scored.</p>",
        "<h2>Accuracy by level</h2>",
        level_plot(metrics),
        _table(level_table),
        "<p class='note'>Aggregates of the project's models are their products' sample paths summed; "
        "a baseline forecasts each aggregated series itself; auto_ets_bottom_up and auto_ets_min_trace "
        "make AutoETS's forecasts of every series coherent (hierarchicalforecast's BottomUp, the "
        "products' forecasts summed, and MinTrace mint_shrink, every level's forecast weighed by its "
        "in-sample errors), with normal intervals.</p>",
        "<h3>Coverage by level</h3>",
        level_coverage_plot(metrics),
        "<p class='note'>80% interval coverage by level (nominal 0.8):</p>",
        _table(level_coverage),
        "<h2>Calibration</h2>",
        coverage_plot(metrics),
        pit_plot(pit),
        _table(overall),
        "<h3>Calibration by segment</h3>",
        _table(calibration_table(metrics)),
        pit_segment_plot(pit),
        "<h2>Examples</h2>",
        examples_plot(forecasts, history),
        "<h2>Fits</h2>",
        _table(fits) if len(fits) else "<p>no fits recorded</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write(path: Path, text: str) -> Path:
    """Write the report atomically: a reader never opens half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
