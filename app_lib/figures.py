"""Plotly figures of the app: Figure 2, ValAcc over evaluations, λ trajectories, candidate timeline, λ heatmap."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from manifoldmix_core import activity
from manifoldmix_core.events import INGREDIENTS
from manifoldmix_core.methods import METHODS, Marker

from .live import STATUS_COLOURS
from .scoreboard import INGREDIENT_LABEL
from .vocabulary import PALETTE, component_colours, counted, method_label, to_percent

INGREDIENT_MARKER, UNKNOWN_MARKER = Marker("circle", 7, "#9e9e9e"), Marker("x", 10, "#333333")
DOWNLOAD_FORMATS = ("png", "svg")


def chart_config(name: str, fmt: str = "png") -> dict:
    """plotly's camera button saves the figure as PNG or SVG under a telling file name, at twice the screen resolution."""
    return {"toImageButtonOptions": {"format": fmt, "filename": name, "scale": 2}, "displaylogo": False}
RUN_SYMBOL_SUFFIX = ("", "-open", "-dot", "-open-dot")
COINCIDE_DIGITS = 2  # points within 0.005 accuracy points of each other sit on one spot of Figure 2


def marker(kind_label: str) -> Marker:
    """A kind's marker in Figure 2 (kinds are labelled as in scoreboard.kind_label)."""
    by_label = {m.label: m.marker for m in METHODS.values()} | {INGREDIENT_LABEL: INGREDIENT_MARKER}
    return by_label.get(kind_label, UNKNOWN_MARKER)


def method_colours() -> dict[str, str]:
    """Each method's colour, by label, for charts coloured by method (ingredients' own ValAcc in grey)."""
    return {m.label: m.marker.colour for m in METHODS.values()} | {INGREDIENT_LABEL: INGREDIENT_MARKER.colour}


def _looks(look: Marker, suffix: str, on_top: list[bool]) -> dict:
    """A trace's symbol and outline: hollow with a thick outline in its colour where a point sits on one drawn before
    (per point then), else filled with a thin dark outline."""
    def one(top: bool) -> dict:
        return {"symbol": look.symbol + ("-open" + suffix.removeprefix("-open") if top else suffix),
                "line": {"width": 3 if top else 1, "color": look.colour if top else "#222"}}
    if not any(on_top):
        return one(False)
    each = [one(top) for top in on_top]
    return {"symbol": [e["symbol"] for e in each],
            "line": {"width": [e["line"]["width"] for e in each], "color": [e["line"]["color"] for e in each]}}


def figure2(points: pd.DataFrame, y_label: str, title: str = "") -> go.Figure:
    """The paper's Figure 2: accuracy on the held-out / ID test set against average OOD accuracy.

    Large markers are drawn first and small ones on top; a point that lands on one already drawn (an ensemble on the
    uniform soup, the greedy ensemble on the ManifoldMixMS star) is drawn hollow with a thick outline, so both show.
    """
    fig = go.Figure()
    runs = list(dict.fromkeys(points["run"])) if len(points) else []
    groups = sorted(points.groupby(["kind", "run"], sort=False), key=lambda g: -marker(g[0][0]).size)  # small markers on top
    drawn: set[tuple[float, float]] = set()
    for (kind, run), group in groups:
        look = marker(kind)
        several = len(runs) > 1 and kind != INGREDIENT_LABEL
        suffix = RUN_SYMBOL_SUFFIX[runs.index(run) % len(RUN_SYMBOL_SUFFIX)] if several else ""
        name = kind if len(runs) <= 1 or kind == INGREDIENT_LABEL else f"{kind} · {run}"
        at = [(round(x, COINCIDE_DIGITS), round(y, COINCIDE_DIGITS)) for x, y in zip(group["avg_ood"], group["y"], strict=True)]
        on_top = [spot in drawn for spot in at]
        drawn.update(at)
        fig.add_trace(go.Scatter(
            x=group["avg_ood"], y=group["y"], mode="markers", name=name, text=group["model"],
            legendgroup=kind, showlegend=name not in {t.name for t in fig.data},
            marker={"size": look.size, "color": look.colour, **_looks(look, suffix, on_top)},
            hovertemplate="%{text}<br>avg OOD %{x:.2f}%<br>" + y_label + " %{y:.2f}%<extra></extra>"))
    fig.update_layout(title=title or None, xaxis_title="Average accuracy on the OOD sets (%)",
                      yaxis_title=f"{y_label} accuracy (%)", legend={"orientation": "h", "y": -0.2},
                      margin={"t": 40 if title else 10, "b": 10}, height=480)
    return fig


def valacc_figure(evals: pd.DataFrame, follow: str | None = None) -> go.Figure:
    """Every ValAcc evaluation in order (in %), coloured by method label, with the best-so-far of the followed method."""
    shown = evals.assign(method=evals["method"].map(lambda m: INGREDIENT_LABEL if m == INGREDIENTS else method_label(m)),
                         valacc=to_percent(evals["valacc"]), best=to_percent(evals["best"]), phase=evals["phase"].map(activity.phase),
                         candidate=evals["candidate"].where(evals["candidate"] != evals["method"], "–"),  # a soup measures itself
                         t=evals["t"].round(1))
    fig = px.scatter(shown, x="n", y="valacc", color="method", hover_data=["candidate", "phase", "t"],
                     color_discrete_map=method_colours(), labels={"n": "evaluation", "valacc": "ValAcc (%)", "method": "method",
                                                                  "candidate": "ingredient", "phase": "step", "t": "time (s)"})
    fig.update_traces(marker={"size": 5})
    followed = shown[evals["method"] == follow] if follow else shown.iloc[0:0]
    if len(followed):
        fig.add_trace(go.Scatter(x=followed["n"], y=followed["best"], mode="lines", line={"shape": "hv", "width": 2},
                                 name=f"{method_label(follow)}: best so far"))
    fig.update_layout(height=340, margin={"t": 10, "b": 10}, legend={"orientation": "h", "y": -0.25})
    return fig


def lambda_figure(trajectory: pd.DataFrame, candidate: str | None, components: list[str]) -> go.Figure:
    """λ per component over the optimizer's evaluations for one candidate, each component in its Partition colour."""
    fig = px.line(trajectory, x="evaluation", y="lambda", color="component", markers=True,
                  color_discrete_map=component_colours(components), category_orders={"component": components},
                  labels={"lambda": "λ", "evaluation": f"evaluation for {candidate}"})
    fig.update_yaxes(range=[-0.02, 1.02])
    fig.update_layout(height=340, margin={"t": 10, "b": 10}, legend={"orientation": "h", "y": -0.25})
    return fig


def timeline_figure(timeline: pd.DataFrame, time_unit: str = "s") -> go.Figure:
    """Candidates in Algorithm 1's order as bars over time, coloured skipped / optimised / accepted / rejected."""
    fig = go.Figure()
    for status, colour in STATUS_COLOURS.items():
        group = timeline[timeline["status"] == status]
        if not len(group):
            continue
        span = (group["end"] - group["start"]).clip(lower=(timeline["end"].max() - timeline["start"].min()) / 300 or 0.05)
        measured = group[["valacc", "evaluations"]].assign(valacc=to_percent(group["valacc"].astype(float)))  # ValAcc in %
        fig.add_trace(go.Bar(y=group["candidate"], x=span, base=group["start"], orientation="h", name=status,
                             marker_color=colour, customdata=measured,
                             hovertemplate="%{y}: " + status + "<br>ValAcc %{customdata[0]:.2f} %<br>"
                                           "%{customdata[1]} evaluations<extra></extra>"))
    fig.update_yaxes(categoryorder="array", categoryarray=list(timeline["candidate"])[::-1], title="candidate")
    fig.update_layout(barmode="overlay", height=max(220, 18 * len(timeline) + 80), margin={"t": 10, "b": 10},
                      xaxis_title=f"time ({time_unit})", legend={"orientation": "h", "y": 1.05})
    return fig


LAMBDA_MEANING = ("λ weights the soup so far and 1 − λ the candidate of the row, per component "
                  "(Algorithm 1: Ψ'ʲ = λʲ·Ψʲ + (1 − λʲ)·θᵢʲ)")


def lambda_heatmap(matrix: pd.DataFrame) -> go.Figure:
    """Final λ: accepted candidate (rows, in mixing order) × component; each cell's hover says what λ and 1 − λ weigh."""
    fig = px.imshow(matrix, zmin=0, zmax=1, color_continuous_scale="Viridis", text_auto=".2f", aspect="auto",
                    labels={"x": "component", "y": "accepted candidate", "color": "λ (soup so far)"})
    fig.update_traces(customdata=1 - matrix.to_numpy(),
                      hovertemplate="%{y}, %{x}<br>λ = %{z:.2f} on the soup so far<br>1 − λ = %{customdata:.2f} on %{y}<extra></extra>")
    fig.update_layout(height=max(220, 40 * len(matrix) + 140), margin={"t": 10, "b": 10})
    return fig


def partition_figure(stack: list, components: dict[str, str], palette: dict[str, str], sizes: dict[str, int]) -> go.Figure:
    """The ViT as its stack of units (input at the bottom), each bar in its component's colour.

    Over each bar sits a nearly transparent marker carrying the unit's name as customdata: plotly selects markers
    reliably on a click or in a box (bars on a categorical axis it does not), so the selection event says which
    units to assign (partition_editor.selected_units). The drag mode is pan on fixed axes, not select: Streamlit
    turns click selection off while a box tool is active, and a click is the editor's main gesture.
    """
    fig = go.Figure()
    centres, rows, names, hovers = [], [], [], []
    for unit in stack:
        component = components[unit.name]
        in_block = unit.row.startswith("block")
        base = 0.5 if unit.name.endswith("MLP") else 0.0
        width = 0.5 if in_block else 1.0
        n = sum(sizes.get(p, 0) for p in unit.params)
        fig.add_trace(go.Bar(x=[width], base=[base], y=[unit.row], orientation="h", marker_color=palette.get(component, "#cccccc"),
                             name=component, text=f"{unit.name.split(' ')[-1] if in_block else unit.name}<br>{component}",
                             textposition="inside", insidetextanchor="middle", textangle=0, showlegend=False, hoverinfo="skip"))
        centres.append(base + width / 2)
        rows.append(unit.row)
        names.append([unit.name])
        hovers.append(f"{unit.name}: {component} ({len(unit.params)} tensors, {n:,} parameters)")
    fig.add_trace(go.Scatter(x=centres, y=rows, mode="markers", customdata=names, text=hovers, hovertemplate="%{text}<extra></extra>",
                             marker={"symbol": "square", "size": 26, "opacity": 0.01, "color": "#000000"}, showlegend=False,
                             selected={"marker": {"opacity": 0.01}}, unselected={"marker": {"opacity": 0.01}}))
    fig.update_layout(barmode="overlay", height=max(300, 30 * len({u.row for u in stack}) + 40), margin={"t": 10, "b": 10},
                      xaxis={"visible": False, "range": [0, 1], "fixedrange": True}, dragmode="pan", selectdirection="any",
                      yaxis={"categoryorder": "array", "categoryarray": list(dict.fromkeys(u.row for u in stack)), "fixedrange": True})
    return fig


MIN_SPAN = 1.0  # accuracy points: a sweep figure's axes never zoom in further, so noise does not look like a gap


def _span(low: pd.Series, high: pd.Series) -> list[float]:
    """An axis range holding every interval (from `low` to `high`), at least MIN_SPAN points wide (around the middle),
    and not past 100 % by more than its padding."""
    low, high = low.min(), high.max()
    middle, width = (low + high) / 2, max(high - low, MIN_SPAN) * 1.15
    padding = (width - width / 1.15) / 2
    top = min(middle + width / 2, 100 + padding)  # past 100 % only the padding shows
    return [top - width, top]


def _bars(centres: pd.Series, halves: pd.Series) -> tuple[pd.Series, pd.Series]:
    """An accuracy's 95 % interval as error bars above and below its mean, cut at 0 and 100 % (no accuracy lies beyond)."""
    return pd.concat([halves, 100 - centres], axis=1).min(axis=1), pd.concat([halves, centres], axis=1).min(axis=1)


def sweep_figure(frame: pd.DataFrame) -> go.Figure:
    """Figure 2 for a sweep: one marker per setting at its mean over seeds, error bars the 95 % interval the table gives
    (none with one seed of a seeded optimizer; a deterministic setting's one run has its own), on axes at least MIN_SPAN
    points wide."""
    fig, id_set, one_run = go.Figure(), frame.attrs.get("id_set"), frame.attrs.get("one_run") or []
    frame = frame.reset_index(drop=True)
    id_half, ood_half = frame["ID ±95%"].astype(float).fillna(0), frame["OOD ±95%"].astype(float).fillna(0)
    (id_up, id_down), (ood_up, ood_down) = _bars(frame["ID mean"], id_half), _bars(frame["OOD mean"], ood_half)
    for i, row in frame.iterrows():
        runs = "one run: the seed changes nothing" if row["setting"] in one_run else counted(row["seeds"], "seed")
        fig.add_trace(go.Scatter(
            x=[row["OOD mean"]], y=[row["ID mean"]], mode="markers", name=f"{row['setting']} ({runs})",
            marker={"size": 14, "color": PALETTE[i % len(PALETTE)], "symbol": "star", "line": {"width": 1, "color": "#222"}},
            error_x={"type": "data", "array": [ood_up[i]], "arrayminus": [ood_down[i]], "visible": True},
            error_y={"type": "data", "array": [id_up[i]], "arrayminus": [id_down[i]], "visible": True},
            hovertemplate=f"{row['setting']}<br>avg OOD %{{x:.2f}}% ± {ood_half[i]:.2f}<br>ID %{{y:.2f}}% ± {id_half[i]:.2f}<extra></extra>"))
    fig.update_xaxes(range=_span(frame["OOD mean"] - ood_down, frame["OOD mean"] + ood_up))
    fig.update_yaxes(range=_span(frame["ID mean"] - id_down, frame["ID mean"] + id_up))
    fig.update_layout(xaxis_title="Average accuracy on the OOD sets (%), mean ± 95 % interval over seeds",
                      yaxis_title=f"{id_set or 'ID test'} accuracy (%), mean ± 95 %",
                      legend={"orientation": "h", "y": -0.2}, margin={"t": 10, "b": 10}, height=480)
    return fig
