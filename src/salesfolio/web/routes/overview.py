"""The overview: KPIs, portfolio map, Pareto curve, segments and top alerts of the clients in the user's scope.

One page for every role: the board sees the whole portfolio, a manager their team, a rep their own clients; the
numbers are aggregated over the scoped rows of the snapshot (:mod:`salesfolio.web.queries`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from salesfolio.store.models import ROLES
from salesfolio.web import charts, queries, rollups
from salesfolio.web.deps import AnyUser, CacheDep, DbSession, LangDep, Scope, SnapshotDep
from salesfolio.web.i18n import N_
from salesfolio.web.routes.models import forecast_horizon_months
from salesfolio.web.schemas import client_detail
from salesfolio.web.security import content_security_policy
from salesfolio.web.templating import NavItem, render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("overview", N_("Overview"), ROLES, "home")]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _splits(summary: dict[str, object]) -> tuple[float | None, float | None]:
    """The value and potential scores the analysis split the matrix at (``summary["matrix_splits"]``)."""
    splits = summary.get("matrix_splits") if isinstance(summary, dict) else None
    if not isinstance(splits, dict):
        return (None, None)
    return (_number(splits.get("value")), _number(splits.get("potential")))


@router.get("/", name="overview")
def overview(
    request: Request,
    db: DbSession,
    user: AnyUser,
    scope: Scope,
    snapshot: SnapshotDep,
    lang: LangDep,
    cache: CacheDep,
) -> Response:
    """The overview page of the chosen (default: newest) snapshot."""
    if snapshot is None:
        return render(request, "overview.html", {"empty": True})
    kpis = rollups.portfolio_kpis(db, snapshot, scope, cache)
    map_data = rollups.map_points(db, snapshot, scope, cache)
    curve = rollups.pareto_curve(db, snapshot, scope, cache)
    x_key, y_key = charts.map_axes(map_data)
    horizon = forecast_horizon_months(snapshot)
    splits = _splits(snapshot.summary or {})
    context = {
        "empty": False,
        "kpis": kpis,
        "map_data": map_data,
        "map_axes": (x_key, y_key),
        "map_figure": rollups.figure(
            cache, snapshot, scope, lang, ("map", splits), lambda: charts.portfolio_map(map_data, lang, splits)
        ),
        "pareto": curve,
        "pareto_figure": rollups.figure(
            cache, snapshot, scope, lang, "pareto", lambda: charts.pareto_chart(curve, lang)
        ),
        "segments": rollups.segment_summary(db, snapshot, scope, cache),
        "alerts": [(row, client_detail(row).signals) for row in queries.top_alerts(db, snapshot.id, scope)],
        "scope": scope,
        "horizon_months": horizon,
        "forecast": rollups.forecast_totals(db, snapshot, scope, cache),
        "growers": rollups.top_growers(db, snapshot, scope, horizon / 12, cache),
    }
    webgl = {"Content-Security-Policy": content_security_policy(webgl=True)}
    return render(request, "overview.html", context, headers=webgl)
