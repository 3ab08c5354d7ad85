"""The Segments page: every segmentation of the analysis as a chart, with the clients of each cell.

Views (``?view=``): the current value x future potential matrix (``matrix``), cost to serve x net price after
Shapiro et al. 1987 (``cts``), opportunity zones of the open deals by value x win probability (``zones``), the
RFM grid (``rfm``), ABC tables on revenue and margin (``abc``) and heatmaps of a segmentation against rep,
region, industry, size class or contract type (``heatmap``).

Every number is aggregated in SQL over the snapshot rows in the user's scope (:func:`groups.group_totals`), so a
rep's heatmap counts the rep's clients only; sums by segment come from the snapshot's per-owner totals and the
others are computed once per snapshot and scope (:mod:`salesfolio.web.rollups`). Scatter plots draw at most
:data:`queries.MAP_LIMIT` clients (the largest by revenue) and say so. Under each chart the clients of the
selected cell are listed, 25 per page: a click on a table row or heatmap cell loads the list through HTMX
(``/segments/clients``, a partial) and the address follows (``?cell=``), so the selection has a link; a click on
a scatter point opens the client.

Opportunity zones come from the warehouse's open opportunities: the deals of clients in scope (prospects without
a client only for board and admin), classified by :func:`salesfolio.analytics.segments.opportunity_zones` with
the snapshot's configuration; the "large deal" split is the median of the deals the user sees unless configured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

import pandas as pd
from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from salesfolio.analytics import segments as seg
from salesfolio.analytics.config import CtsConfig, OpportunityZonesConfig, RfmConfig
from salesfolio.store.models import ROLES, Snapshot
from salesfolio.web import charts, groups, labels, queries, rollups
from salesfolio.web.deps import (
    AnyUser,
    CacheDep,
    DbSession,
    LangDep,
    Scope,
    SnapshotDep,
    get_snapshot_cache,
    get_workspace,
    open_warehouse,
)
from salesfolio.web.i18n import N_, Lang
from salesfolio.web.rollups import SnapshotCache
from salesfolio.web.security import content_security_policy
from salesfolio.web.templating import NavItem, path_for, render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("segments", N_("Segments"), ROLES, "grid")]

View = Literal["matrix", "cts", "zones", "rfm", "abc", "heatmap"]
VIEWS: dict[str, str] = {
    "matrix": N_("Value × potential"),
    "cts": N_("Cost to serve × net price"),
    "zones": N_("Opportunity zones"),
    "rfm": N_("RFM grid"),
    "abc": N_("ABC"),
    "heatmap": N_("Heatmaps"),
}
Segmentation = Literal["segment", "cts_segment", "rfm_segment", "abc_revenue", "abc_margin"]
SEGMENTATIONS: dict[str, str] = {
    "segment": N_("Value × potential segment"),
    "cts_segment": N_("Cost-to-serve segment"),
    "rfm_segment": N_("RFM segment"),
    "abc_revenue": N_("ABC on revenue"),
    "abc_margin": N_("ABC on margin"),
}
Dimension = Literal["owner", "region", "industry", "size_class", "contract_type"]
DIMENSIONS: dict[str, str] = {
    "owner": N_("Rep"),
    "region": N_("Region"),
    "industry": N_("Industry"),
    "size_class": N_("Size class"),
    "contract_type": N_("Contract type"),
}
Metric = Literal["clients", "revenue"]
HEATMAP_ROWS = 60
"""A heatmap shows at most this many rows (the largest by revenue); the page says how many it leaves out."""
CELL_KEYS = (*groups.GROUP_COLUMNS, *groups.RFM_KEYS)
ZONES = ("A", "B", "C", seg.UNKNOWN)
ORDERS: dict[str, tuple[str, ...]] = {
    "segment": (*queries.SEGMENT_ORDER, seg.UNKNOWN),
    "cts_segment": (*charts.CTS_ORDER, seg.UNKNOWN),
    "rfm_segment": (
        "champions", "loyal", "potential_loyalists", "new", "promising", "need_attention", "about_to_sleep",
        "at_risk", "cannot_lose", "hibernating", "lost", seg.UNKNOWN,
    ),
    "abc_revenue": ("A", "B", "C", seg.UNKNOWN),
    "abc_margin": ("A", "B", "C", seg.UNKNOWN),
}  # fmt: skip
"""Display order of each segmentation's values (values not listed follow, then clients without one)."""


# -- cells --------------------------------------------------------------------------------------------------------
def parse_cell(text: str | Mapping[str, str]) -> dict[str, str]:
    """The cell a query string (``segment=strategic&region=Mazowsze``) or a mapping selects; unknown keys dropped.

    >>> parse_cell("segment=strategic&q=x&rfm_r=5")
    {'segment': 'strategic', 'rfm_r': '5'}
    """
    pairs = parse_qsl(text, keep_blank_values=False) if isinstance(text, str) else list(text.items())
    return {k: v[:200] for k, v in pairs if k in CELL_KEYS and v}


def cell_key(cell: Mapping[str, str]) -> str:
    """The cell as a query string (the ``cell`` parameter of the page)."""
    return urlencode(list(cell.items()))


def merge_query(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """The query parameters of ``parts`` in one mapping (later parts win); for the templates' links."""
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


HELPERS = {"cell_key": cell_key, "merge": merge_query, "parse": parse_cell}
"""Functions the segment templates use to build their links."""


def value_label(lang: Lang, key: str, value: str | None, reps: Mapping[str, str]) -> str:
    """How a group key's value is shown: segment names, rep names, ``R 5`` / ``F 3``, "not set" for none."""
    if value is None or value == groups.NOT_SET:
        return lang.gettext("not set")
    if key in ("segment", "cts_segment", "rfm_segment"):
        return labels.segment_label(lang, value)
    if key in ("abc_revenue", "abc_margin"):
        return labels.segment_label(lang, value) if value == seg.UNKNOWN else value
    if key == "owner":
        return reps.get(value, value)
    if key in groups.RFM_KEYS:
        return f"{'R' if key == 'rfm_r' else 'F'} {value}"
    return value


def cell_text(lang: Lang, cell: Mapping[str, str], reps: Mapping[str, str]) -> str:
    """The cell in words: ``Strategic · Mazowsze``."""
    return " · ".join(value_label(lang, k, v, reps) for k, v in cell.items())


def _ordered(values: set[str | None], order: tuple[str, ...]) -> list[str | None]:
    known = [v for v in order if v in values]
    rest = sorted(v for v in values if v is not None and v not in order)
    return [*known, *rest, *([None] if None in values else [])]


def _config(snapshot: Snapshot, section: str, model: Any) -> Any:
    """A section of the snapshot's analysis configuration as its pydantic model (defaults when unreadable)."""
    raw = (snapshot.config or {}).get(section)
    try:
        return model.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        return model()


def _read_rep_names(request: Request) -> dict[str, str] | None:
    with open_warehouse(get_workspace(request)) as warehouse:
        return queries.rep_names(warehouse) if warehouse is not None else None


def _rep_names(request: Request, db: DbSession) -> dict[str, str]:
    """rep_id -> name, read from the warehouse once per warehouse data version ({} while it is busy)."""
    key = ("rep_names", rollups.warehouse_version(db))
    return get_snapshot_cache(request).get_or_compute(key, lambda: _read_rep_names(request)) or {}


# -- views --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentRow:
    """A row of a segment table: the value (``code``), its cell and totals, and its share of the scope's total."""

    code: str | None
    cell: dict[str, str]
    total: groups.GroupTotal
    share: float | None


def segment_rows(totals: list[groups.GroupTotal], key: str, money: str = "revenue") -> list[SegmentRow]:
    """The rows of a one-key segment table in display order, with the share of positive revenue (or margin)."""
    by_code = {t.keys[0]: t for t in totals}
    base = sum(t.margin_positive if money == "margin" else t.revenue_positive for t in totals)
    out = []
    for code in _ordered(set(by_code), ORDERS.get(key, ())):
        total = by_code[code]
        part = total.margin_positive if money == "margin" else total.revenue_positive
        out.append(SegmentRow(code, {key: code or groups.NOT_SET}, total, part / base if base > 0 else None))
    return out


def _quadrants(rows: list[SegmentRow], positions: dict[str, tuple[int, int]]) -> list[charts.Quadrant]:
    found = {r.code: r.total for r in rows}
    return [
        charts.Quadrant(code, x, y, found[code].clients if code in found else 0,
                        found[code].revenue_ttm if code in found else None)
        for code, (x, y) in positions.items()
    ]  # fmt: skip


def _matrix(
    db: DbSession, snapshot: Snapshot, scope: queries.ClientScope, lang: Lang, cache: SnapshotCache
) -> dict[str, Any]:
    data = rollups.map_points(db, snapshot, scope, cache)
    rows = segment_rows(rollups.group_totals(db, snapshot, scope, cache=cache, keys=["segment"]), "segment")
    raw = (snapshot.summary or {}).get("matrix_splits")
    splits = raw if isinstance(raw, dict) else {}
    split = (_float(splits.get("value")), _float(splits.get("potential")))
    positions = {"strategic": (1, 1), "development": (0, 1), "maintain": (1, 0), "operational": (0, 0)}
    shown = sum(1 for p in data.points if p.value_score is not None and p.potential_score is not None)
    return {
        "rows": rows,
        "map_data": data,
        "shown": shown,
        "figure": rollups.figure(
            cache,
            snapshot,
            scope,
            lang,
            ("value_potential", split),
            lambda: charts.value_potential_chart(data, lang, split, _quadrants(rows, positions)),
        )
        if shown
        else None,
        "webgl": True,
    }


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _cts(
    db: DbSession, snapshot: Snapshot, scope: queries.ClientScope, lang: Lang, cache: SnapshotCache
) -> dict[str, Any]:
    points, total = rollups.cached(
        cache, snapshot, scope, "cts_points", lambda: groups.cts_points(db, snapshot.id, scope)
    )
    rows = segment_rows(rollups.group_totals(db, snapshot, scope, cache=cache, keys=["cts_segment"]), "cts_segment")
    config: CtsConfig = _config(snapshot, "cost_to_serve", CtsConfig)
    implied = rollups.cached(cache, snapshot, scope, "cts_splits", lambda: groups.cts_splits(db, snapshot.id, scope))
    splits = (
        config.cost_split if config.cost_split is not None else implied[0],
        config.price_split if config.price_split is not None else implied[1],
    )
    positions = {"carriage_trade": (1, 1), "passive": (0, 1), "aggressive": (1, 0), "bargain_basement": (0, 0)}
    unknown = sum(r.total.clients for r in rows if r.code in (None, seg.UNKNOWN))
    return {
        "rows": rows,
        "points": points,
        "total": total,
        "unknown": unknown,
        "splits": splits,
        "configured": (config.cost_split is not None, config.price_split is not None),
        "figure": rollups.figure(
            cache,
            snapshot,
            scope,
            lang,
            ("cts", splits),
            lambda: charts.cts_chart(points, lang, splits, _quadrants(rows, positions)),
        )
        if points
        else None,
        "webgl": True,
    }


@dataclass(frozen=True)
class Deal:
    """An open deal the user may see: its zone, and its client when the client is in scope."""

    opportunity_id: str
    client_id: str | None
    client_name: str | None
    in_scope: bool
    owner_id: str | None
    stage: str | None
    value: float | None
    probability: float | None
    expected_close: Any
    zone: str

    @property
    def weighted(self) -> float | None:
        """Value x win probability."""
        return None if self.value is None or self.probability is None else self.value * self.probability


@dataclass(frozen=True)
class Zones:
    """The open deals in scope by zone, with the splits used."""

    deals: list[Deal]
    value_split: float | None
    probability_split: float
    value_split_configured: bool


def scoped_zones(request: Request, db: DbSession, snapshot: Snapshot, scope: queries.ClientScope) -> Zones | None:
    """Open deals of the clients in scope (board and admin: every deal, prospects too) with their zone.

    None when the warehouse is busy. The zones are computed over the deals the user sees
    (:func:`salesfolio.analytics.segments.opportunity_zones`, the snapshot's ``opportunity_zones`` settings), once
    per snapshot, scope and warehouse data version (:func:`salesfolio.web.rollups.warehouse_version`).
    """
    return rollups.cached(
        get_snapshot_cache(request),
        snapshot,
        scope,
        ("zones", rollups.warehouse_version(db)),
        lambda: _scoped_zones(request, db, snapshot, scope),
    )


def _scoped_zones(request: Request, db: DbSession, snapshot: Snapshot, scope: queries.ClientScope) -> Zones | None:
    config: OpportunityZonesConfig = _config(snapshot, "opportunity_zones", OpportunityZonesConfig)
    with open_warehouse(get_workspace(request)) as warehouse:
        if warehouse is None:
            return None
        found = groups.open_deals(warehouse)
    names = groups.clients_in_scope(db, snapshot.id, scope, [d["client_id"] for d in found if d["client_id"]])
    everything = scope.kind == "all"
    kept = [d for d in found if (d["client_id"] in names) or everything]
    if not kept:
        return Zones([], config.value_split, config.probability_split, config.value_split is not None)
    frame = pd.DataFrame(
        {
            "opportunity_id": [str(d["opportunity_id"]) for d in kept],
            "client_id": [d["client_id"] for d in kept],
            "value": [d["value"] for d in kept],
            "probability": [d["probability"] for d in kept],
        }
    )
    zones = seg.opportunity_zones(frame, config)
    deals = [
        Deal(
            opportunity_id=str(d["opportunity_id"]),
            client_id=d["client_id"],
            client_name=names.get(d["client_id"]) if d["client_id"] else None,
            in_scope=d["client_id"] in names,
            owner_id=d["owner_id"],
            stage=d["stage"],
            value=_float(d["value"]),
            probability=_float(d["probability"]),
            expected_close=d["expected_close"],
            zone=str(zone),
        )
        for d, zone in zip(kept, zones.deals["zone"].tolist(), strict=True)
    ]
    value_split = None if math.isnan(zones.value_split) else zones.value_split
    return Zones(deals, value_split, zones.probability_split, config.value_split is not None)


@dataclass(frozen=True)
class ZoneRow:
    """Deals, value and weighted value of one zone."""

    zone: str
    deals: int
    value: float
    weighted: float


def _zones(
    request: Request, db: DbSession, snapshot: Snapshot, scope: queries.ClientScope, lang: Lang
) -> dict[str, Any]:
    zones = scoped_zones(request, db, snapshot, scope)
    if zones is None:
        return {"busy": True, "figure": None, "rows": [], "zones": None, "webgl": False}
    # The view (zone totals over every deal, the largest drawn, the figure) once per snapshot, scope, warehouse
    # data version and language: tens of thousands of deals otherwise summed and sorted on every request.
    question = ("zones_view", rollups.warehouse_version(db), rollups.lang_key(lang))
    view = rollups.cached(get_snapshot_cache(request), snapshot, scope, question, lambda: _zones_view(zones, lang))
    return dict(view)  # a copy: the page adds the selected cell's list to it


def _zones_view(zones: Zones, lang: Lang) -> dict[str, Any]:
    rows = [
        ZoneRow(
            zone,
            sum(1 for d in zones.deals if d.zone == zone),
            math.fsum(d.value or 0.0 for d in zones.deals if d.zone == zone),
            math.fsum(d.weighted or 0.0 for d in zones.deals if d.zone == zone),
        )
        for zone in ZONES
    ]
    drawable = sorted(
        (d for d in zones.deals if d.zone in ("A", "B", "C") and (d.value or 0) > 0),
        key=lambda d: (-(d.value or 0.0), d.opportunity_id),
    )
    drawn = drawable[: queries.MAP_LIMIT]
    points = [
        charts.DealPoint(
            d.opportunity_id,
            d.client_id if d.in_scope else None,
            d.client_name or lang.gettext("Prospect (no client)"),
            d.stage,
            d.value or 0.0,
            d.probability or 0.0,
            d.zone,
        )
        for d in drawn
    ]
    return {
        "busy": False,
        "zones": zones,
        "rows": [r for r in rows if r.deals or r.zone != seg.UNKNOWN],
        "drawn": len(points),
        "drawable": len(drawable),
        "figure": charts.zones_chart(points, lang, zones.value_split, zones.probability_split) if points else None,
        "webgl": True,
    }


def _rfm(
    db: DbSession, snapshot: Snapshot, scope: queries.ClientScope, lang: Lang, cache: SnapshotCache
) -> dict[str, Any]:
    bins = _config(snapshot, "rfm", RfmConfig).bins
    grid = {t.keys: t for t in rollups.group_totals(db, snapshot, scope, cache=cache, keys=list(groups.RFM_KEYS))}
    scores = [str(s) for s in range(1, bins + 1)]
    rows = list(reversed(scores))  # R 5 (bought most recently) on top

    def name(r: str, f: str) -> str:
        five = (math.ceil(int(r) * 5 / bins), math.ceil(int(f) * 5 / bins))
        return labels.segment_label(lang, seg.RFM_SEGMENTS.get(five, seg.UNKNOWN))

    counts = [[grid[(r, f)].clients if (r, f) in grid else 0 for f in scores] for r in rows]
    figure = None
    if any(any(row) for row in counts):
        figure = rollups.figure(
            cache, snapshot, scope, lang, ("rfm", bins),
            lambda: charts.heatmap_chart(
                [f"R {r}" for r in rows],
                [f"F {f}" for f in scores],
                counts,
                [[grid[(r, f)].revenue_ttm if (r, f) in grid else None for f in scores] for r in rows],
                [[cell_key({"rfm_r": r, "rfm_f": f}) if (r, f) in grid else None for f in scores] for r in rows],
                lang,
                names=[[name(r, f) for f in scores] for r in rows],
            ),
        )  # fmt: skip
    table = segment_rows(rollups.group_totals(db, snapshot, scope, cache=cache, keys=["rfm_segment"]), "rfm_segment")
    return {"figure": figure, "rows": table, "bins": bins, "webgl": False}


def _abc(
    db: DbSession, snapshot: Snapshot, scope: queries.ClientScope, lang: Lang, cache: SnapshotCache
) -> dict[str, Any]:
    return {
        "revenue_rows": segment_rows(
            rollups.group_totals(db, snapshot, scope, cache=cache, keys=["abc_revenue"]), "abc_revenue"
        ),
        "margin_rows": segment_rows(
            rollups.group_totals(db, snapshot, scope, cache=cache, keys=["abc_margin"]), "abc_margin", money="margin"
        ),
        "figure": None,
        "webgl": False,
    }


def _heatmap(
    db: DbSession,
    snapshot: Snapshot,
    scope: queries.ClientScope,
    lang: Lang,
    segmentation: str,
    by: str,
    metric: str,
    reps: Mapping[str, str],
    cache: SnapshotCache,
) -> dict[str, Any]:
    totals = rollups.group_totals(db, snapshot, scope, cache=cache, keys=[by, segmentation])
    cells = {t.keys: t for t in totals}
    columns = _ordered({t.keys[1] for t in totals}, ORDERS.get(segmentation, ()))
    size: dict[str | None, float] = {}
    for t in totals:
        size[t.keys[0]] = size.get(t.keys[0], 0.0) + t.revenue_positive
    values = sorted(size, key=lambda v: (-size[v], v is None, v or ""))
    rows = values[:HEATMAP_ROWS]
    links = [
        [
            cell_key({by: r or groups.NOT_SET, segmentation: c or groups.NOT_SET}) if (r, c) in cells else None
            for c in columns
        ]
        for r in rows
    ]
    counts = [[cells[(r, c)].clients if (r, c) in cells else 0 for c in columns] for r in rows]
    revenue = [[cells[(r, c)].revenue_ttm if (r, c) in cells else None for c in columns] for r in rows]
    row_labels = [value_label(lang, by, r, reps) for r in rows]
    column_labels = [value_label(lang, segmentation, c, reps) for c in columns]
    # The labels (rep names from the warehouse) are part of the key: a busy warehouse shows IDs, not names.
    question = ("heatmap", by, segmentation, metric, tuple(row_labels), tuple(column_labels))
    figure = (
        rollups.figure(
            cache,
            snapshot,
            scope,
            lang,
            question,
            lambda: charts.heatmap_chart(row_labels, column_labels, counts, revenue, links, lang, metric=metric),
        )
        if rows
        else None
    )
    return {
        "figure": figure,
        "row_labels": row_labels,
        "column_labels": column_labels,
        "grid": [list(zip(counts[i], revenue[i], links[i], strict=True)) for i in range(len(rows))],
        "left_out": len(values) - len(rows),
        "webgl": False,
    }


# -- routes -------------------------------------------------------------------------------------------------------
def _page_query(view: str, segmentation: str, by: str, metric: str) -> dict[str, str]:
    query = {"view": view}
    if view == "heatmap":
        query.update({"segmentation": segmentation, "by": by, "metric": metric})
    return query


@router.get("/segments", name="segments")
def segments_page(
    request: Request,
    db: DbSession,
    user: AnyUser,
    scope: Scope,
    snapshot: SnapshotDep,
    lang: LangDep,
    cache: CacheDep,
    view: Annotated[View, Query(description="Which segmentation to show.")] = "matrix",
    segmentation: Annotated[Segmentation, Query(description="Heatmap columns.")] = "segment",
    by: Annotated[Dimension, Query(description="Heatmap rows.")] = "owner",
    metric: Annotated[Metric, Query(description="Heatmap colour.")] = "clients",
    cell: Annotated[str, Query(max_length=600, description="The selected cell, as a query string.")] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page of the cell's list.")] = 1,
) -> Response:
    """The Segments page: one view's chart and tables, and the clients (or deals) of the selected cell."""
    if snapshot is None:
        return render(request, "segments.html", {"empty": True, "views": VIEWS, "view": view})
    reps = _rep_names(request, db)
    if view == "matrix":
        context = _matrix(db, snapshot, scope, lang, cache)
    elif view == "cts":
        context = _cts(db, snapshot, scope, lang, cache)
    elif view == "zones":
        context = _zones(request, db, snapshot, scope, lang)
    elif view == "rfm":
        context = _rfm(db, snapshot, scope, lang, cache)
    elif view == "abc":
        context = _abc(db, snapshot, scope, lang, cache)
    else:
        context = _heatmap(db, snapshot, scope, lang, segmentation, by, metric, reps, cache)
    page_query = _page_query(view, segmentation, by, metric)
    if view == "zones":
        zone = dict(parse_qsl(cell)).get("zone", "")
        listing = _deal_list(context.get("zones"), zone if zone in ZONES else "", page)
    else:
        listing = _cell_list(db, snapshot, scope, lang, parse_cell(cell), page, reps)
    context.update(listing)
    context.update(
        {
            "empty": False,
            "views": VIEWS,
            "view": view,
            "segmentations": SEGMENTATIONS,
            "dimensions": DIMENSIONS,
            "segmentation": segmentation,
            "by": by,
            "metric": metric,
            "page_query": page_query,
            "reps": reps,
            **HELPERS,
            "value_label": lambda key, value: value_label(lang, key, value, reps),
        }
    )
    headers = {"Content-Security-Policy": content_security_policy(webgl=True)} if context["webgl"] else None
    return render(request, "segments.html", context, headers=headers)


def _cell_list(
    db: DbSession,
    snapshot: Snapshot,
    scope: queries.ClientScope,
    lang: Lang,
    cell: dict[str, str],
    page: int,
    reps: Mapping[str, str],
) -> dict[str, Any]:
    listing = groups.cell_clients(db, snapshot.id, scope, cell, page) if cell else None
    return {"cell": cell, "cell_text": cell_text(lang, cell, reps), "listing": listing, "kind": "clients", "reps": reps}


def _deal_list(zones: Zones | None, zone: str, page: int, page_size: int = groups.CELL_PAGE_SIZE) -> dict[str, Any]:
    deals = sorted(
        (d for d in (zones.deals if zones else []) if d.zone == zone),
        key=lambda d: (-(d.weighted or 0.0), d.opportunity_id),
    )
    pages = max(1, math.ceil(len(deals) / page_size))
    page = min(page, pages)
    return {
        "kind": "deals",
        "zone": zone,
        "cell": {"zone": zone} if zone else {},
        "deals": deals[(page - 1) * page_size : page * page_size],
        "deal_total": len(deals),
        "deal_page": page,
        "deal_pages": pages,
    }


@router.get("/segments/clients", name="segment_clients")
def segment_clients(
    request: Request,
    db: DbSession,
    user: AnyUser,
    scope: Scope,
    snapshot: SnapshotDep,
    lang: LangDep,
    view: Annotated[View, Query()] = "matrix",
    segmentation: Annotated[Segmentation, Query()] = "segment",
    by: Annotated[Dimension, Query()] = "owner",
    metric: Annotated[Metric, Query()] = "clients",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """The clients of one cell (HTMX partial): the cell is given by its keys, e.g. ``?segment=strategic``."""
    cell = parse_cell(dict(request.query_params))
    context: dict[str, Any] = {"page_query": _page_query(view, segmentation, by, metric), **HELPERS}
    headers = {"Vary": "HX-Request"}
    if snapshot is None:
        context.update({"cell": {}, "cell_text": "", "listing": None, "kind": "clients", "reps": {}})
    else:
        context.update(_cell_list(db, snapshot, scope, lang, cell, page, _rep_names(request, db)))
        chosen = {"snapshot": request.query_params["snapshot"]} if "snapshot" in request.query_params else {}
        target = {**chosen, **context["page_query"], "cell": cell_key(cell)} if cell else chosen
        headers["HX-Push-Url"] = path_for(request, "segments", {**target, "page": page if page > 1 else ""})
    return render(request, "_seg_clients.html", context, headers=headers)


@router.get("/segments/deals", name="segment_deals")
def segment_deals(
    request: Request,
    db: DbSession,
    user: AnyUser,
    scope: Scope,
    snapshot: SnapshotDep,
    zone: Annotated[str, Query(max_length=10, description="Zone: A, B, C or unknown.")] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """The open deals of one opportunity zone in the user's scope (HTMX partial)."""
    zone = zone if zone in ZONES else ""
    zones = scoped_zones(request, db, snapshot, scope) if snapshot is not None and zone else None
    busy = bool(zone) and snapshot is not None and zones is None
    context: dict[str, Any] = {"page_query": {"view": "zones"}, "busy": busy, **HELPERS}
    context.update(_deal_list(zones, zone, page))
    headers = {"Vary": "HX-Request"}
    if snapshot is not None:
        chosen = {"snapshot": request.query_params["snapshot"]} if "snapshot" in request.query_params else {}
        cell = {"cell": cell_key({"zone": zone})} if zone else {}
        headers["HX-Push-Url"] = path_for(
            request, "segments", {**chosen, "view": "zones", **cell, "page": page if page > 1 else ""}
        )
    return render(request, "_seg_deals.html", context, headers=headers)
