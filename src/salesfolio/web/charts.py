"""Plotly figures of the pages, built in Python with ``plotly.graph_objects`` and shipped as JSON.

Each function returns ``fig.to_json()``. A template puts it in a ``data-figure`` attribute (escaped by Jinja2
like any other attribute) and ``static/app.js`` draws it with ``Plotly.newPlot``: no inline script, no ``|safe``.
Text that comes from the data (client names, IDs) is HTML-escaped before it goes into hover labels, because
plotly.js renders a subset of HTML there. Numbers in hover labels are formatted by
:class:`~salesfolio.web.i18n.Lang`, axis numbers by plotly with the locale's separators.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio

from salesfolio.web import labels
from salesfolio.web.groups import CtsPoint
from salesfolio.web.i18n import Lang
from salesfolio.web.queries import SEGMENT_ORDER, MapData, MapPoint, MonthValue, ParetoCurve

FONT = "Inter, -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', sans-serif"
GRID = "#e6e7e9"
PRIMARY = "#066fd1"
MARGIN_COLOUR = "#2fb344"
MAX_BUBBLE = 44.0
MIN_BUBBLE = 5.0


def _layout(lang: Lang, **extra: object) -> go.Layout:
    # An empty template keeps the JSON small (plotly's default template adds about 6 kB to every figure).
    base: dict[str, object] = {
        "template": {},
        "font": {"family": FONT, "size": 12, "color": "#1d273b"},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 64, "r": 16, "t": 16, "b": 52},
        "separators": ",\u00a0" if lang.code == "pl" else ".,",
        "hoverlabel": {"font": {"family": FONT}},
        "hovermode": "closest",
    }
    base.update(extra)
    return go.Layout(**base)


def _axis(title: str, **extra: object) -> dict[str, object]:
    return {"title": {"text": title}, "gridcolor": GRID, "zeroline": False, "automargin": True, **extra}


def _e(text: str | None) -> str:
    return html.escape(text or "", quote=True)


def _bubble_sizes(values: Sequence[float | None]) -> list[float]:
    # Area proportional to the value: diameter ~ sqrt(value / max).
    positive = [v for v in values if v is not None and v > 0]
    top = max(positive) if positive else 0.0
    return [
        MIN_BUBBLE + (MAX_BUBBLE - MIN_BUBBLE) * math.sqrt(v / top)
        if v is not None and v > 0 and top > 0
        else MIN_BUBBLE
        for v in values
    ]


class _MapHover:
    """Hover texts of map points; the labels are translated once per chart, not once per point."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.names = {
            key: _e(lang.gettext(key))
            for key in ("Revenue TTM", "Margin TTM", "Headroom", "Value score", "Potential score")
        }
        self._tails: dict[tuple[str | None, str | None], str] = {}

    def __call__(self, p: MapPoint) -> str:
        lang, names = self.lang, self.names
        rows = [
            f"<b>{_e(p.name)}</b> ({_e(p.client_id)})",
            f"{names['Revenue TTM']}: {lang.money(p.revenue_ttm)}",
            f"{names['Margin TTM']}: {lang.money(p.margin_ttm)}",
            f"{names['Headroom']}: {lang.money(p.headroom)}",
        ]
        if p.value_score is not None and p.potential_score is not None:
            rows.append(
                f"{names['Value score']}: {lang.number(p.value_score)} · "
                f"{names['Potential score']}: {lang.number(p.potential_score)}"
            )
        key = (p.segment, p.risk_level)
        if key not in self._tails:
            self._tails[key] = (
                f"{_e(labels.segment_label(lang, p.segment))} · {_e(labels.risk_label(lang, p.risk_level))}"
            )
        rows.append(self._tails[key])
        return "<br>".join(rows)


def _figure_json(traces: Sequence[Mapping[str, object]], layout: go.Layout) -> str:
    """The figure's JSON with ``traces`` as plain dicts (``{"type": "scattergl", ...}``), the layout validated.

    Plotly validates a trace value by value; for 2,000-point scatters that was most of a page's time. The traces
    here are built by this module with known-good keys, so they skip it (the JSON is the same, tested).
    """
    figure = go.Figure(layout=layout).to_plotly_json()
    figure["data"] = [dict(trace) for trace in traces]
    return str(pio.to_json(figure, validate=False))


def map_axes(data: MapData) -> tuple[str, str]:
    """Which columns the portfolio map plots, as (x, y).

    (``value_score``, ``potential_score``) when the snapshot has them; else revenue against headroom, or against
    margin when no client has a headroom (no potential assessed anywhere).
    """
    if data.uses_scores:
        return ("value_score", "potential_score")
    if any(p.headroom is not None for p in data.points):
        return ("revenue_ttm", "headroom")
    return ("revenue_ttm", "margin_ttm")


def portfolio_map(data: MapData, lang: Lang, splits: tuple[float | None, float | None] = (None, None)) -> str:
    """The portfolio map: a WebGL bubble chart (``scattergl``), one trace per risk level.

    x is the current value score and y the future potential score (0-100) when the snapshot has them, with the
    matrix splits drawn as lines (``splits``, else 50); otherwise x is revenue TTM (log scale; clients without
    positive revenue are left out) and y the headroom (potential minus revenue). Bubble area is proportional to
    margin TTM, or to revenue for clients without a margin; colour is the risk level. ``customdata`` carries the
    client ID, which ``app.js`` turns into a link on click.
    """
    x_key, y_key = map_axes(data)
    # Without a potential estimate a client has no headroom; it is drawn at 0 with an open marker (so the board
    # sees it and who should assess it) rather than left out. Scores have no such neutral position.
    fill_missing_y = y_key == "headroom"
    points = [
        p
        for p in data.points
        if getattr(p, x_key) is not None
        and (getattr(p, y_key) is not None or fill_missing_y)
        and (x_key != "revenue_ttm" or (p.revenue_ttm or 0) > 0)
    ]
    sizes = dict(
        zip(
            (p.client_id for p in points),
            _bubble_sizes([p.margin_ttm if p.margin_ttm is not None else p.revenue_ttm for p in points]),
            strict=True,
        )
    )
    traces: list[dict[str, object]] = []
    hover = _MapHover(lang)
    for level in (*labels.RISK_COLOURS, None):
        group = [p for p in points if (p.risk_level if p.risk_level in labels.RISK_COLOURS else None) == level]
        colour = labels.RISK_COLOURS[level] if level else labels.UNKNOWN_COLOUR
        for estimated in (True, False):
            part = [p for p in group if (getattr(p, y_key) is not None) == estimated]
            if not part:
                continue
            traces.append(
                {
                    "type": "scattergl",
                    "x": [getattr(p, x_key) for p in part],
                    "y": [getattr(p, y_key) or 0.0 for p in part],
                    "mode": "markers",
                    "name": labels.risk_label(lang, level),
                    "legendgroup": level or "unknown",
                    "showlegend": estimated or not any(getattr(p, y_key) is not None for p in group),
                    "marker": {
                        "size": [sizes[p.client_id] for p in part],
                        "color": colour,
                        "opacity": 0.7 if estimated else 0.9,
                        "symbol": "circle" if estimated else "circle-open",
                        "line": {"width": 1 if estimated else 2, "color": "#ffffff" if estimated else colour},
                    },
                    "customdata": [p.client_id for p in part],
                    "text": [hover(p) for p in part],
                    "hovertemplate": "%{text}<extra></extra>",
                }
            )
    if fill_missing_y and any(p.headroom is None for p in points):
        traces.append(
            {
                "type": "scattergl",
                "x": [None],
                "y": [None],
                "mode": "markers",
                "name": lang.gettext("○ no potential estimate (drawn at 0)"),
                "marker": {"symbol": "circle-open", "size": 10, "color": "#5b6b82", "line": {"width": 2}},
                "hoverinfo": "skip",
            }
        )
    titles = {
        "value_score": lang.gettext("Current value score (0-100)"),
        "potential_score": lang.gettext("Future potential score (0-100)"),
        "revenue_ttm": lang.gettext("Revenue TTM (%(currency)s, log scale)") % {"currency": lang.currency},
        "headroom": lang.gettext("Headroom: potential minus revenue (%(currency)s)") % {"currency": lang.currency},
        "margin_ttm": lang.gettext("Margin TTM (%(currency)s)") % {"currency": lang.currency},
    }
    shapes: list[dict[str, object]] = []
    xaxis = _axis(titles[x_key])
    yaxis = _axis(titles[y_key])
    if x_key == "value_score":
        x_split = splits[0] if splits[0] is not None else 50.0
        y_split = splits[1] if splits[1] is not None else 50.0
        line = {"color": "#9ba9be", "width": 1, "dash": "dash"}
        shapes = [
            {"type": "line", "x0": x_split, "x1": x_split, "y0": 0, "y1": 100, "line": line},
            {"type": "line", "x0": 0, "x1": 100, "y0": y_split, "y1": y_split, "line": line},
        ]
        xaxis["range"] = [-3, 103]
        yaxis["range"] = [-3, 103]
    else:
        xaxis["type"] = "log"
    layout = _layout(
        lang,
        xaxis=xaxis,
        yaxis=yaxis,
        shapes=shapes,
        height=480,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "itemsizing": "constant"},
        margin={"l": 72, "r": 16, "t": 40, "b": 56},
    )
    return _figure_json(traces, layout)


def pareto_chart(curve: ParetoCurve, lang: Lang) -> str:
    """The Pareto curve: cumulative share of revenue against the share of clients, largest first.

    Draws the 80 % line, marks where the curve crosses it, and labels the curve at 10 %, 20 % and 50 % of clients.
    """
    x = curve.client_share
    y = curve.revenue_share
    traces = [
        go.Scatter(
            x=x,
            y=y,
            mode="lines",
            line={"color": PRIMARY, "width": 3, "shape": "linear"},
            fill="tozeroy",
            fillcolor="rgba(6,111,209,0.08)",
            name=lang.gettext("Cumulative revenue"),
            hovertext=[
                _e(
                    lang.gettext("%(clients)s of clients make %(revenue)s of revenue")
                    % {"clients": lang.percent(xs), "revenue": lang.percent(ys)}
                )
                for xs, ys in zip(x, y, strict=True)
            ],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    ]
    annotations: list[dict[str, object]] = []
    if curve.clients:
        n = curve.clients
        crossing = curve.clients_for_80 / n
        traces.append(
            go.Scatter(
                x=[crossing],
                y=[next((ys for xs, ys in zip(x, y, strict=True) if xs >= crossing - 1e-12), 1.0)],
                mode="markers",
                marker={"size": 10, "color": "#d63939"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        annotations.append(
            {
                "x": crossing,
                "y": 0.8,
                "xanchor": "left",
                "yanchor": "top",
                "showarrow": False,
                "xshift": 8,
                "yshift": -6,
                "text": _e(
                    lang.ngettext(
                        "%(clients)s client (%(share)s) makes 80%% of revenue",
                        "%(clients)s clients (%(share)s) make 80%% of revenue",
                        curve.clients_for_80,
                    )
                    % {"clients": lang.number(curve.clients_for_80), "share": lang.percent(crossing)}
                ),
                "font": {"color": "#d63939"},
                "bgcolor": "rgba(255,255,255,0.85)",
            }
        )
        label_x, label_y = [], []
        for target in (0.1, 0.2, 0.5):
            rank = max(1, math.ceil(target * n))
            share = next((ys for xs, ys in zip(x, y, strict=True) if xs >= rank / n - 1e-12), None)
            if share is not None and rank < n:
                label_x.append(rank / n)
                label_y.append(share)
        traces.append(
            go.Scatter(
                x=label_x,
                y=label_y,
                mode="markers+text",
                marker={"size": 7, "color": PRIMARY},
                text=[lang.percent(v, 0) for v in label_y],
                textposition="top left",
                hoverinfo="skip",
                showlegend=False,
            )
        )
    layout = _layout(
        lang,
        xaxis=_axis(lang.gettext("Share of clients, largest first"), tickformat=".0%", range=[0, 1.0]),
        yaxis=_axis(lang.gettext("Cumulative share of revenue"), tickformat=".0%", range=[0, 1.05]),
        shapes=[
            {
                "type": "line",
                "x0": 0,
                "x1": 1,
                "y0": 0.8,
                "y1": 0.8,
                "line": {"color": "#d63939", "width": 1, "dash": "dash"},
            }
        ],
        annotations=annotations,
        showlegend=False,
        height=360,
    )
    return str(go.Figure(data=traces, layout=layout).to_json())


def contributions_chart(contributions: dict[str, float], lang: Lang) -> str:
    """Score breakdown: one horizontal bar per criterion, its points in the score, largest at the top."""
    items = sorted(contributions.items(), key=lambda kv: kv[1])
    names = [labels.criterion_label(lang, k) for k, _ in items]
    values = [v for _, v in items]
    hover = [
        f"<b>{_e(name)}</b>: {lang.decimal(v, 1)}<br>{_e(labels.criterion_description(lang, k))}"
        for name, (k, v) in zip(names, items, strict=True)
    ]
    trace = go.Bar(
        x=values,
        y=names,
        orientation="h",
        marker={"color": [PRIMARY if v >= 0 else "#d63939" for v in values]},
        text=[lang.decimal(v, 1) for v in values],
        textposition="outside",
        cliponaxis=False,
        hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>",
    )
    layout = _layout(
        lang,
        xaxis=_axis(lang.gettext("Points in the score")),
        yaxis={"automargin": True},
        height=max(220, 44 * len(items) + 80),
        margin={"l": 16, "r": 40, "t": 8, "b": 48},
        showlegend=False,
    )
    return str(go.Figure(data=[trace], layout=layout).to_json())


def history_chart(months: list[MonthValue], lang: Lang) -> str:
    """Monthly revenue (bars) and margin (line) over the months given."""
    x = [m.month.isoformat() for m in months]
    traces = [
        go.Bar(
            x=x,
            y=[m.revenue for m in months],
            name=lang.gettext("Revenue"),
            marker={"color": PRIMARY},
            hovertext=[f"{lang.month(m.month)}: {lang.money(m.revenue)}" for m in months],
            hovertemplate="%{hovertext}<extra></extra>",
        ),
        go.Scatter(
            x=x,
            y=[m.margin for m in months],
            name=lang.gettext("Margin"),
            mode="lines+markers",
            line={"color": MARGIN_COLOUR, "width": 2},
            connectgaps=False,
            hovertext=[f"{lang.month(m.month)}: {lang.money(m.margin)}" for m in months],
            hovertemplate="%{hovertext}<extra></extra>",
        ),
    ]
    layout = _layout(
        lang,
        xaxis=_axis("", type="date", tickformat="%m.%Y" if lang.code == "pl" else "%b %Y"),
        yaxis=_axis(lang.currency),
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        height=320,
        bargap=0.25,
        margin={"l": 64, "r": 16, "t": 32, "b": 40},
    )
    return str(go.Figure(data=traces, layout=layout).to_json())


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


def frequency_chart(
    bands: Sequence[str],
    predicted: Sequence[float | None],
    actual: Sequence[float | None],
    clients: Sequence[int],
    lang: Lang,
) -> str:
    """Forecast backtest by calibration frequency: mean predicted and actual purchases per client, grouped bars."""
    hover = [_e(lang.ngettext("%(num)s client", "%(num)s clients", n) % {"num": lang.number(n)}) for n in clients]
    traces = [
        go.Bar(
            x=list(bands),
            y=list(values),
            name=name,
            marker={"color": colour},
            hovertext=[f"{_e(name)}: {lang.decimal(v, 2)}<br>{h}" for v, h in zip(values, hover, strict=True)],
            hovertemplate="%{hovertext}<extra></extra>",
        )
        for name, values, colour in (
            (lang.gettext("Predicted"), predicted, PRIMARY),
            (lang.gettext("Actual"), actual, MARGIN_COLOUR),
        )
    ]
    layout = _layout(
        lang,
        barmode="group",
        xaxis=_axis(lang.gettext("Repeat purchases before the cut-off"), type="category"),
        yaxis=_axis(lang.gettext("Purchases per client in the holdout")),
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        height=320,
        margin={"l": 64, "r": 16, "t": 32, "b": 52},
    )
    return str(go.Figure(data=traces, layout=layout).to_json())


RANKING_COLOURS = {"model": PRIMARY, "recency": "#f59f00", "signals": "#d63939", "size": "#8a97ab"}


def ranking_chart(
    cutoffs: Sequence[str],
    values: Mapping[str, Sequence[float | None]],
    names: Mapping[str, str],
    lang: Lang,
    *,
    percent: bool,
    reference: float | None = None,
) -> str:
    """One churn backtest metric per cut-off (x) for each ranking (grouped bars: model, recency, signals, size).

    ``percent`` formats the metric as a share; ``reference`` draws a dashed line (0.5 for AUC: a coin toss).
    """
    traces = [
        go.Bar(
            x=list(cutoffs),
            y=list(series),
            name=names[key],
            marker={"color": RANKING_COLOURS.get(key, PRIMARY)},
            hovertext=[f"{_e(names[key])}: {lang.percent(v) if percent else lang.decimal(v, 2)}" for v in series],
            hovertemplate="%{hovertext}<extra></extra>",
        )
        for key, series in values.items()
    ]
    layout = _layout(
        lang,
        barmode="group",
        xaxis=_axis("", type="category"),
        yaxis=_axis("", tickformat=".0%" if percent else ".2f", rangemode="tozero"),
        shapes=_split_shapes(None, reference) if reference is not None else [],
        legend={"orientation": "h", "y": -0.18, "yanchor": "top", "x": 0},
        height=300,
        margin={"l": 52, "r": 8, "t": 12, "b": 40},
    )
    return str(go.Figure(data=traces, layout=layout).to_json())


def reliability_chart(curves: Sequence[tuple[str, Sequence[tuple[float, float, int]]]], lang: Lang) -> str:
    """The reliability diagram of the churn backtest, with the diagonal of perfect calibration.

    Observed churn rate against mean predicted probability per bin, one line per cut-off; marker area = clients
    in the bin (``curves``: (label, [(mean predicted, observed rate, clients), ...])).
    """
    palette = (PRIMARY, "#f59f00", MARGIN_COLOUR, "#ae3ec9", "#d63939")
    traces = [
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name=lang.gettext("Perfect calibration"),
            line={"color": "#9ba9be", "dash": "dash", "width": 1},
            hoverinfo="skip",
        )
    ]
    for i, (label, bins) in enumerate(curves):
        traces.append(
            go.Scatter(
                x=[b[0] for b in bins],
                y=[b[1] for b in bins],
                mode="lines+markers",
                name=_e(label),
                line={"color": palette[i % len(palette)], "width": 2},
                marker={"size": [min(size, 22.0) for size in _bubble_sizes([float(b[2]) for b in bins])]},
                hovertext=[
                    f"{_e(label)}<br>{_e(lang.gettext('Predicted'))}: {lang.percent(p)} · "
                    f"{_e(lang.gettext('Observed'))}: {lang.percent(o)}<br>"
                    + _e(lang.ngettext("%(num)s client", "%(num)s clients", n) % {"num": lang.number(n)})
                    for p, o, n in bins
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    layout = _layout(
        lang,
        xaxis=_axis(lang.gettext("Predicted churn probability"), tickformat=".0%", range=[-0.03, 1.03]),
        yaxis=_axis(lang.gettext("Observed rate"), tickformat=".0%", range=[-0.03, 1.03]),
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        height=360,
        margin={"l": 64, "r": 16, "t": 32, "b": 52},
    )
    return str(go.Figure(data=traces, layout=layout).to_json())
