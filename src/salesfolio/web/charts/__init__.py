"""Plotly figures of the pages, built in Python with ``plotly.graph_objects`` and shipped as JSON.

Each function returns ``fig.to_json()``. A template puts it in a ``data-figure`` attribute (escaped by Jinja2
like any other attribute) and ``static/app.js`` draws it with ``Plotly.newPlot``: no inline script, no ``|safe``.
Text that comes from the data (client names, IDs) is HTML-escaped before it goes into hover labels, because
plotly.js renders a subset of HTML there. Numbers in hover labels are formatted by
:class:`~salesfolio.web.i18n.Lang`, axis numbers by plotly with the locale's separators.

The figures are split per page: :mod:`.overview` (overview and client page), :mod:`.segments` (Segments and
Team pages), :mod:`.models` (Models page), with the shared pieces in :mod:`.base`.
"""

from __future__ import annotations

from salesfolio.web.charts.base import FONT, GRID, MARGIN_COLOUR, MAX_BUBBLE, MIN_BUBBLE, PRIMARY
from salesfolio.web.charts.models import RANKING_COLOURS, frequency_chart, ranking_chart, reliability_chart
from salesfolio.web.charts.overview import contributions_chart, history_chart, map_axes, pareto_chart, portfolio_map
from salesfolio.web.charts.segments import (
    CTS_ORDER,
    MAX_CLIPPED,
    SEGMENT_COLOURS,
    SPLIT_LINE,
    DealPoint,
    Quadrant,
    cts_chart,
    heatmap_chart,
    rep_value_chart,
    segment_mix_chart,
    value_potential_chart,
    zones_chart,
)

__all__ = [
    "CTS_ORDER",
    "FONT",
    "GRID",
    "MARGIN_COLOUR",
    "MAX_BUBBLE",
    "MAX_CLIPPED",
    "MIN_BUBBLE",
    "PRIMARY",
    "RANKING_COLOURS",
    "SEGMENT_COLOURS",
    "SPLIT_LINE",
    "DealPoint",
    "Quadrant",
    "contributions_chart",
    "cts_chart",
    "frequency_chart",
    "heatmap_chart",
    "history_chart",
    "map_axes",
    "pareto_chart",
    "portfolio_map",
    "ranking_chart",
    "reliability_chart",
    "rep_value_chart",
    "segment_mix_chart",
    "value_potential_chart",
    "zones_chart",
]
