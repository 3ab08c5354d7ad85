"""Figures of the overview and the client page: portfolio map, Pareto curve, score contributions, history."""

from __future__ import annotations

import math

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
from salesfolio.web.i18n import Lang
from salesfolio.web.queries import MapData, MonthValue, ParetoCurve


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
