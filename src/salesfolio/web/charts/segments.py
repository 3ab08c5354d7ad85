"""Figures of the Segments and Team pages: matrices, opportunity zones, heatmaps, segment mix, rep value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from salesfolio.web import labels
from salesfolio.web.charts.base import (
    MARGIN_COLOUR,
    PRIMARY,
    _axis,
    _bubble_sizes,
    _e,
    _figure_json,
    _layout,
    _MapHover,
)
from salesfolio.web.groups import CtsPoint
from salesfolio.web.i18n import Lang
from salesfolio.web.queries import SEGMENT_ORDER, MapData

# -- Segments, Team and Models pages ----------------------------------------------------------------------------
SEGMENT_COLOURS: dict[str, str] = {
    "strategic": PRIMARY,
    "development": MARGIN_COLOUR,
    "maintain": "#f59f00",
    "operational": "#8a97ab",
    "carriage_trade": "#ae3ec9",
    "passive": MARGIN_COLOUR,
    "aggressive": "#d63939",
    "bargain_basement": "#f59f00",
    "A": MARGIN_COLOUR,
    "B": "#f59f00",
    "C": "#8a97ab",
}
"""Colour of each value x potential segment, cost-to-serve segment and opportunity zone (unknown: grey)."""
CTS_ORDER = ("carriage_trade", "passive", "aggressive", "bargain_basement")
SPLIT_LINE = {"color": "#9ba9be", "width": 1, "dash": "dash"}
MAX_CLIPPED = 0.98
"""The cost-to-serve axis ends at this quantile of the points (x 1.2); costlier clients sit at its edge."""


@dataclass(frozen=True)
class Quadrant:
    """A quadrant's label, position (``x`` and ``y`` 0 or 1: left/right, bottom/top) and what it holds."""

    code: str
    x: int
    y: int
    clients: int
    revenue: float | None


def _quadrant_notes(lang: Lang, quadrants: Sequence[Quadrant]) -> list[dict[str, object]]:
    notes: list[dict[str, object]] = []
    for q in quadrants:
        clients = lang.ngettext("%(num)s client", "%(num)s clients", q.clients) % {"num": lang.number(q.clients)}
        notes.append(
            {
                "xref": "paper",
                "yref": "paper",
                "x": 0.995 if q.x else 0.005,
                "y": 0.995 if q.y else 0.005,
                "xanchor": "right" if q.x else "left",
                "yanchor": "top" if q.y else "bottom",
                "showarrow": False,
                "align": "right" if q.x else "left",
                "text": f"{_e(labels.segment_label(lang, q.code))}<br>{_e(clients)} · "
                f"{_e(lang.money_compact(q.revenue))}",
                "font": {"color": SEGMENT_COLOURS.get(q.code, "#5b6b82"), "size": 13},
                "bgcolor": "rgba(255,255,255,0.85)",
            }
        )
    return notes


def _split_shapes(x: float | None, y: float | None) -> list[dict[str, object]]:
    shapes: list[dict[str, object]] = []
    if x is not None:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1})
    if y is not None:
        shapes.append({"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": y, "y1": y})
    for shape in shapes:
        shape["line"] = SPLIT_LINE
    return shapes


def value_potential_chart(
    data: MapData, lang: Lang, splits: tuple[float | None, float | None], quadrants: Sequence[Quadrant]
) -> str:
    """The current value x future potential matrix: a WebGL scatter of the clients' scores, one trace per segment.

    Split lines at ``splits`` (``summary["matrix_splits"]``, else 50), the quadrants labelled with their clients
    and revenue; bubble area is revenue TTM; ``customdata`` is the client ID (a click opens the client).
    """
    points = [p for p in data.points if p.value_score is not None and p.potential_score is not None]
    sizes = _bubble_sizes([p.revenue_ttm for p in points])
    traces: list[dict[str, object]] = []
    hover = _MapHover(lang)
    for code in (*SEGMENT_ORDER, None):
        index = [i for i, p in enumerate(points) if (p.segment if p.segment in SEGMENT_ORDER else None) == code]
        if not index:
            continue
        traces.append(
            {
                "type": "scattergl",
                "x": [points[i].value_score for i in index],
                "y": [points[i].potential_score for i in index],
                "mode": "markers",
                "name": labels.segment_label(lang, code),
                "marker": {
                    "size": [sizes[i] for i in index],
                    "color": SEGMENT_COLOURS.get(code or "", labels.UNKNOWN_COLOUR),
                    "opacity": 0.7,
                    "line": {"width": 1, "color": "#ffffff"},
                },
                "customdata": [points[i].client_id for i in index],
                "text": [hover(points[i]) for i in index],
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    x_split = splits[0] if splits[0] is not None else 50.0
    y_split = splits[1] if splits[1] is not None else 50.0
    layout = _layout(
        lang,
        xaxis=_axis(lang.gettext("Current value score (0-100)"), range=[-3, 103]),
        yaxis=_axis(lang.gettext("Future potential score (0-100)"), range=[-3, 103]),
        shapes=_split_shapes(x_split, y_split),
        annotations=_quadrant_notes(lang, quadrants),
        height=520,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "itemsizing": "constant"},
        margin={"l": 72, "r": 16, "t": 40, "b": 56},
    )
    return _figure_json(traces, layout)


def cts_chart(
    points: Sequence[CtsPoint], lang: Lang, splits: tuple[float | None, float | None], quadrants: Sequence[Quadrant]
) -> str:
    """Cost to serve x net price (Shapiro et al. 1987): a WebGL scatter, one trace per segment.

    x is the cost to serve per unit of revenue, y the net price index (margin %); split lines at ``splits``
    (cost, price). The x axis ends at the 98th percentile of the points x 1.2: costlier clients are drawn at its
    edge as triangles (their hover gives the true value). Bubble area is revenue; a click opens the client.
    """
    xs = sorted(p.cost_to_serve_index for p in points)
    x_max = None
    if xs:
        x_max = max(xs[min(len(xs) - 1, int(MAX_CLIPPED * len(xs)))] * 1.2, (splits[0] or 0.0) * 2, 0.01)
    sizes = _bubble_sizes([p.revenue_ttm for p in points])
    traces = []
    for code in (*CTS_ORDER, None):
        index = [i for i, p in enumerate(points) if (p.segment if p.segment in CTS_ORDER else None) == code]
        if not index:
            continue
        clipped = [x_max is not None and points[i].cost_to_serve_index > x_max for i in index]
        traces.append(
            go.Scattergl(
                x=[x_max if c else points[i].cost_to_serve_index for i, c in zip(index, clipped, strict=True)],
                y=[points[i].net_price_index for i in index],
                mode="markers",
                name=labels.segment_label(lang, code),
                marker={
                    "size": [sizes[i] for i in index],
                    "color": SEGMENT_COLOURS.get(code or "", labels.UNKNOWN_COLOUR),
                    "opacity": 0.7,
                    "symbol": ["triangle-right" if c else "circle" for c in clipped],
                    "line": {"width": 1, "color": "#ffffff"},
                },
                customdata=[points[i].client_id for i in index],
                text=[
                    "<br>".join(
                        [
                            f"<b>{_e(points[i].name)}</b> ({_e(points[i].client_id)})",
                            f"{_e(lang.gettext('Revenue TTM'))}: {lang.money(points[i].revenue_ttm)}",
                            f"{_e(lang.gettext('Net price index (margin %)'))}: "
                            f"{lang.percent(points[i].net_price_index)}",
                            f"{_e(lang.gettext('Cost to serve per unit of revenue'))}: "
                            f"{lang.percent(points[i].cost_to_serve_index)}",
                            _e(labels.segment_label(lang, points[i].segment)),
                        ]
                    )
                    for i in index
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    xaxis = _axis(lang.gettext("Cost to serve per unit of revenue"), tickformat=".0%")
    if x_max is not None:
        xaxis["range"] = [-0.02 * x_max, x_max * 1.03]
    layout = _layout(
        lang,
        xaxis=xaxis,
        yaxis=_axis(lang.gettext("Net price index (margin %)"), tickformat=".0%"),
        shapes=_split_shapes(*splits),
        annotations=_quadrant_notes(lang, quadrants),
        height=520,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "itemsizing": "constant"},
        margin={"l": 72, "r": 16, "t": 40, "b": 56},
    )
    return str(go.Figure(data=traces, layout=layout).to_json())


@dataclass(frozen=True)
class DealPoint:
    """An open opportunity on the zones chart (``client_id`` None: a prospect without a client)."""

    opportunity_id: str
    client_id: str | None
    client_name: str
    stage: str | None
    value: float
    probability: float
    zone: str


def zones_chart(deals: Sequence[DealPoint], lang: Lang, value_split: float | None, probability_split: float) -> str:
    """Open deals by value (log scale) x win probability, coloured by zone A / B / C, with the zone splits.

    ``customdata`` is the deal's client ID (a click opens the client; prospects without a client do nothing).
    """
    traces = []
    for zone in ("A", "B", "C"):
        part = [d for d in deals if d.zone == zone and d.value > 0]
        if not part:
            continue
        traces.append(
            go.Scattergl(
                x=[d.value for d in part],
                y=[d.probability for d in part],
                mode="markers",
                name=lang.gettext("Zone %(zone)s") % {"zone": zone},
                marker={"size": 9, "color": SEGMENT_COLOURS[zone], "opacity": 0.75, "line": {"width": 1}},
                customdata=[d.client_id for d in part],
                text=[
                    "<br>".join(
                        [
                            f"<b>{_e(d.client_name)}</b> · {_e(d.opportunity_id)}",
                            f"{_e(lang.gettext('Stage'))}: {_e(d.stage)}",
                            f"{_e(lang.gettext('Value'))}: {lang.money(d.value)} · "
                            f"{_e(lang.gettext('Probability'))}: {lang.percent(d.probability, 0)}",
                            f"{_e(lang.gettext('Weighted'))}: {lang.money(d.value * d.probability)}",
                        ]
                    )
                    for d in part
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    layout = _layout(
        lang,
        xaxis=_axis(lang.gettext("Deal value (%(currency)s, log scale)") % {"currency": lang.currency}, type="log"),
        yaxis=_axis(lang.gettext("Win probability"), tickformat=".0%", range=[-0.03, 1.03]),
        shapes=_split_shapes(value_split if value_split and value_split > 0 else None, probability_split),
        height=460,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"l": 72, "r": 16, "t": 40, "b": 56},
    )
    return str(go.Figure(data=traces, layout=layout).to_json())


def heatmap_chart(
    rows: Sequence[str],
    columns: Sequence[str],
    counts: Sequence[Sequence[int]],
    revenue: Sequence[Sequence[float | None]],
    links: Sequence[Sequence[str | None]],
    lang: Lang,
    *,
    metric: str = "clients",
    names: Sequence[Sequence[str]] | None = None,
) -> str:
    """A heatmap of clients (or revenue, ``metric="revenue"``) per cell, each cell annotated with both.

    ``rows`` and ``columns`` are the labels (escaped here), the matrices are ``[row][column]``; ``links`` holds
    what a click on the cell selects (``customdata``; None for an empty cell) and ``names`` an optional line per
    cell (the RFM segment). Categories are kept as text, in the order given (first row at the top).
    """
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for r, row in enumerate(rows):
        z.append([])
        text.append([])
        hover.append([])
        for c, column in enumerate(columns):
            n, money = counts[r][c], revenue[r][c]
            name = names[r][c] if names else ""
            z[-1].append((money if metric == "revenue" else n) if n else None)
            clients = lang.ngettext("%(num)s client", "%(num)s clients", n) % {"num": lang.number(n)}
            lines = [_e(name)] if name else []
            text[-1].append("<br>".join([*lines, f"{lang.number(n)} · {_e(lang.money_compact(money))}"]) if n else "")
            hover[-1].append(
                "<br>".join(
                    [
                        f"<b>{_e(row)}</b> · {_e(column)}",
                        *lines,
                        _e(clients),
                        f"{_e(lang.gettext('Revenue TTM'))}: {lang.money(money)}",
                    ]
                )
            )
    trace = go.Heatmap(
        z=z,
        x=[_e(c) for c in columns],
        y=[_e(r) for r in rows],
        text=text,
        texttemplate="%{text}",
        textfont={"size": 11},
        hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>",
        customdata=[list(row) for row in links],
        colorscale=[[0.0, "#eef4fc"], [1.0, "#0b5cad"]],
        xgap=2,
        ygap=2,
        colorbar={
            "title": {"text": _e(lang.gettext("Revenue TTM") if metric == "revenue" else lang.gettext("Clients"))},
            "thickness": 12,
        },
    )
    layout = _layout(
        lang,
        xaxis={"type": "category", "side": "top", "automargin": True, "showgrid": False, "ticks": ""},
        yaxis={"type": "category", "autorange": "reversed", "automargin": True, "showgrid": False, "ticks": ""},
        height=max(260, 46 * len(rows) + 110),
        margin={"l": 16, "r": 16, "t": 56, "b": 16},
        hovermode="closest",
    )
    return str(go.Figure(data=[trace], layout=layout).to_json())


def segment_mix_chart(
    reps: Sequence[str], segments: Sequence[str | None], counts: Sequence[Sequence[int]], lang: Lang
) -> str:
    """Clients per segment of each rep as horizontal stacked bars (``counts[rep][segment]``), first rep on top."""
    traces = []
    for s, code in enumerate(segments):
        values = [row[s] for row in counts]
        totals = [max(1, sum(row)) for row in counts]
        traces.append(
            go.Bar(
                x=values,
                y=[_e(r) for r in reps],
                orientation="h",
                name=labels.segment_label(lang, code),
                marker={"color": SEGMENT_COLOURS.get(code or "", labels.UNKNOWN_COLOUR)},
                hovertext=[
                    f"<b>{_e(rep)}</b><br>{_e(labels.segment_label(lang, code))}: {lang.number(v)} "
                    f"({lang.percent(v / t, 0)})"
                    for rep, v, t in zip(reps, values, totals, strict=True)
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    layout = _layout(
        lang,
        barmode="stack",
        xaxis=_axis(lang.gettext("Clients")),
        yaxis={"type": "category", "autorange": "reversed", "automargin": True},
        height=max(220, 30 * len(reps) + 110),
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "traceorder": "normal"},
        margin={"l": 16, "r": 16, "t": 40, "b": 48},
    )
    return str(go.Figure(data=traces, layout=layout).to_json())


def rep_value_chart(
    reps: Sequence[str], revenue: Sequence[float | None], headroom: Sequence[float | None], lang: Lang
) -> str:
    """Value against potential held per rep: revenue TTM and headroom as paired horizontal bars, first rep on top."""
    traces = [
        go.Bar(
            x=[v or 0.0 for v in values],
            y=[_e(r) for r in reps],
            orientation="h",
            name=name,
            marker={"color": colour},
            hovertext=[f"<b>{_e(rep)}</b><br>{_e(name)}: {lang.money(v)}" for rep, v in zip(reps, values, strict=True)],
            hovertemplate="%{hovertext}<extra></extra>",
        )
        for name, values, colour in (
            (lang.gettext("Revenue TTM"), revenue, PRIMARY),
            (lang.gettext("Headroom"), headroom, "#f59f00"),
        )
    ]
    layout = _layout(
        lang,
        barmode="group",
        xaxis=_axis(lang.currency, rangemode="tozero"),
        yaxis={"type": "category", "autorange": "reversed", "automargin": True},
        height=max(220, 40 * len(reps) + 110),
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "traceorder": "normal"},
        margin={"l": 16, "r": 16, "t": 40, "b": 48},
        bargap=0.3,
    )
    return str(go.Figure(data=traces, layout=layout).to_json())
