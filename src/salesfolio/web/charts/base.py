"""Shared pieces of the figures: layout, axes, escaping, bubble sizes, map hover texts, the JSON."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import plotly.io as pio

from salesfolio.web import labels
from salesfolio.web.i18n import Lang
from salesfolio.web.queries import MapPoint

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
