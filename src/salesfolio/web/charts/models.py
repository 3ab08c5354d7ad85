"""Figures of the Models page: purchase frequency, ranking comparison, reliability curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from salesfolio.web.charts.base import (
    MARGIN_COLOUR,
    PRIMARY,
    _axis,
    _bubble_sizes,
    _e,
    _layout,
)
from salesfolio.web.charts.segments import _split_shapes
from salesfolio.web.i18n import Lang


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
