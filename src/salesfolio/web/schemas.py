"""API schemas, one family per entity (``UserPublic``, ``SnapshotPublic``, ``ClientSummary``, ``ClientDetail``, ...).

Output models list exactly what leaves the app: no password hash, no internal columns. Input models
(:class:`AssessmentIn`) are strict (``ConfigDict(strict=True)``), so JSON ``false`` is not a number and ``"3"`` not
an integer. The snapshot's ``details`` JSON is read tolerantly by :func:`client_detail`: missing keys give empty
sections, values of the wrong type are dropped, NaN and infinities become null.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from salesfolio.store.models import Assessment, Snapshot, SnapshotClient, User

Scalar = float | int | str | bool | None


class UserPublic(BaseModel):
    """A user as the API shows them (no password hash)."""

    username: str
    full_name: str
    role: Literal["admin", "board", "manager", "rep"]
    rep_id: str | None
    team: str | None
    language: str

    @classmethod
    def of(cls, user: User) -> UserPublic:
        """From the store row."""
        return cls(
            username=user.username,
            full_name=user.full_name,
            role=user.role,  # type: ignore[arg-type]
            rep_id=user.rep_id,
            team=user.team,
            language=user.language,
        )


class SnapshotPublic(BaseModel):
    """An analysis snapshot (its per-client results are read through the client endpoints)."""

    id: int
    label: str
    as_of: dt.date
    created_at: dt.datetime
    status: str

    @classmethod
    def of(cls, snapshot: Snapshot) -> SnapshotPublic:
        """From the store row."""
        return cls(
            id=snapshot.id,
            label=snapshot.label,
            as_of=snapshot.as_of,
            created_at=_utc(snapshot.created_at),
            status=snapshot.status,
        )


SUMMARY_FIELDS = (
    "client_id",
    "name",
    "owner_id",
    "team",
    "industry",
    "region",
    "country",
    "size_class",
    "contract_type",
    "revenue_ttm",
    "margin_ttm",
    "growth",
    "potential",
    "headroom",
    "score",
    "band",
    "abc_revenue",
    "abc_margin",
    "segment",
    "cts_segment",
    "rfm_segment",
    "risk_level",
    "expected_loss",
    "n_signals",
    "churn_probability",
    "p_alive",
    "expected_revenue",
)


def _utc(value: dt.datetime) -> dt.datetime:
    # The store writes UTC; SQLite gives it back without the zone. RFC 3339 (OpenAPI date-time) needs one.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ClientSummary(BaseModel):
    """A client's row in a snapshot: the numbers the list shows and filters on."""

    client_id: str
    name: str
    owner_id: str | None
    team: str | None
    industry: str | None
    region: str | None
    country: str | None
    size_class: str | None
    contract_type: str | None
    revenue_ttm: float | None
    margin_ttm: float | None
    growth: float | None
    potential: float | None
    headroom: float | None
    score: float | None
    band: str | None
    abc_revenue: str | None
    abc_margin: str | None
    segment: str | None
    cts_segment: str | None
    rfm_segment: str | None
    risk_level: str | None
    expected_loss: float | None
    n_signals: int
    churn_probability: float | None
    p_alive: float | None
    expected_revenue: float | None

    @classmethod
    def of(cls, row: SnapshotClient) -> ClientSummary:
        """From the store row."""
        values = {name: _finite(getattr(row, name)) for name in SUMMARY_FIELDS}
        values["name"] = row.name or row.client_id
        values["n_signals"] = row.n_signals or 0
        return cls(**values)


class ClientList(BaseModel):
    """One page of the client list."""

    snapshot_id: int | None
    total: int
    page: int
    page_size: int
    pages: int
    items: list[ClientSummary]


class Signal(BaseModel):
    """A fired early-warning signal: which rule, the value it saw, its threshold, the message."""

    signal: str
    value: float | None = None
    threshold: float | None = None
    message: str | None = None
    message_pl: str | None = None


class WhitespaceItem(BaseModel):
    """A category that similar clients buy and this client does not."""

    category: str
    expected_value: float | None = None
    peer_share: float | None = None


class Forecast(BaseModel):
    """Purchase forecast (BG/NBD and Gamma-Gamma) over the snapshot's horizon (``forecast_horizon_months``)."""

    p_alive: float | None = None
    expected_purchases: float | None = None
    expected_revenue: float | None = None


class ChurnReason(BaseModel):
    """One reason the churn model gives: a feature, whether it raises or lowers the risk, by how much."""

    feature: str | None = None
    direction: str | None = None
    contribution: float | None = None
    sentence: str | None = None


class Churn(BaseModel):
    """Churn probability with the reasons the model gives (strongest first)."""

    probability: float | None = None
    reasons: list[ChurnReason] = Field(default_factory=list)


class ClientDetail(ClientSummary):
    """A client in a snapshot with everything the analysis found: features, score breakdown, signals, ..."""

    snapshot_id: int
    features: dict[str, Scalar]
    contributions: dict[str, float]
    signals: list[Signal]
    whitespace: list[WhitespaceItem]
    forecast: Forecast
    churn: Churn


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _as_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _first(*values: Any) -> float | None:
    """The first of ``values`` that is a finite number (the analysis keeps the forecast in columns and features)."""
    return next((number for number in map(_as_float, values) if number is not None), None)


def client_detail(row: SnapshotClient) -> ClientDetail:
    """Read ``row.details`` tolerantly into a :class:`ClientDetail` (see the module docstring)."""
    details = _as_dict(row.details)
    features: dict[str, Scalar] = {}
    for key, value in _as_dict(details.get("features")).items():
        if isinstance(value, bool | int | float | str) or value is None:
            features[str(key)] = _finite(value)
    contributions = {
        str(k): v
        for k, v in ((k, _as_float(v)) for k, v in _as_dict(details.get("contributions")).items())
        if v is not None
    }
    signals = []
    for item in details.get("signals") or []:
        if isinstance(item, dict) and _as_text(item.get("signal")):
            signals.append(
                Signal(
                    signal=str(item["signal"]),
                    value=_as_float(item.get("value")),
                    threshold=_as_float(item.get("threshold")),
                    message=_as_text(item.get("message")) or _as_text(item.get("message_en")),
                    message_pl=_as_text(item.get("message_pl")),
                )
            )
    whitespace = []
    for item in details.get("whitespace") or []:
        if isinstance(item, dict) and _as_text(item.get("category")):
            whitespace.append(
                WhitespaceItem(
                    category=str(item["category"]),
                    expected_value=_as_float(item.get("expected_value")),
                    peer_share=_as_float(item.get("peer_share")),
                )
            )
    forecast = _as_dict(details.get("forecast"))
    churn = _as_dict(details.get("churn"))
    raw_reasons = churn.get("reasons")
    if not isinstance(raw_reasons, list):
        raw_reasons = details.get("churn_reasons")
    reasons = []
    for item in raw_reasons if isinstance(raw_reasons, list) else []:
        if isinstance(item, str) and item:
            reasons.append(ChurnReason(sentence=item))
        elif isinstance(item, dict) and (_as_text(item.get("sentence")) or _as_text(item.get("feature"))):
            reasons.append(
                ChurnReason(
                    feature=_as_text(item.get("feature")),
                    direction=_as_text(item.get("direction")),
                    contribution=_as_float(item.get("contribution")),
                    sentence=_as_text(item.get("sentence")),
                )
            )
    return ClientDetail(
        **ClientSummary.of(row).model_dump(),
        snapshot_id=row.snapshot_id,
        features=features,
        contributions=contributions,
        signals=signals,
        whitespace=whitespace,
        forecast=Forecast(
            p_alive=_first(forecast.get("p_alive"), row.p_alive),
            expected_purchases=_first(forecast.get("expected_purchases"), features.get("expected_purchases")),
            expected_revenue=_first(forecast.get("expected_revenue"), row.expected_revenue),
        ),
        churn=Churn(probability=_as_float(churn.get("probability")), reasons=reasons),
    )


class MonthPoint(BaseModel):
    """Revenue and margin of one calendar month (``month`` is its first day)."""

    month: dt.date
    revenue: float
    margin: float | None


class OpportunityPublic(BaseModel):
    """An open opportunity of the client."""

    opportunity_id: str
    stage: str | None
    owner_id: str | None
    value: float | None
    probability: float | None
    weighted: float | None
    created: dt.date | None
    expected_close: dt.date | None


class AssessmentPublic(BaseModel):
    """An assessment: entered in the app (``source = "app"``) or imported into the warehouse (``"import"``)."""

    client_id: str
    period: dt.date
    potential: float | None
    relationship: int | None
    strategic_fit: int | None
    note: str
    entered_by: str | None
    entered_at: dt.datetime | dt.date | None
    source: Literal["app", "import"]

    @classmethod
    def of(cls, row: Assessment) -> AssessmentPublic:
        """From an app-store row."""
        return cls(
            client_id=row.client_id,
            period=row.period,
            potential=_finite(row.potential),
            relationship=row.relationship,
            strategic_fit=row.strategic_fit,
            note=row.note,
            entered_by=row.entered_by,
            entered_at=_utc(row.entered_at),
            source="app",
        )

    @classmethod
    def imported(cls, row: dict[str, Any]) -> AssessmentPublic:
        """From a warehouse row of the ``assessments`` table."""
        return cls(
            client_id=str(row["client_id"]),
            period=row["period"],
            potential=_as_float(row.get("potential")),
            relationship=row.get("relationship"),
            strategic_fit=row.get("strategic_fit"),
            note="",
            entered_by=row.get("entered_by"),
            entered_at=row.get("entered_at"),
            source="import",
        )


class ScorePoint(BaseModel):
    """The client's score, segment and risk in one snapshot."""

    snapshot_id: int
    as_of: dt.date
    score: float | None
    segment: str | None
    risk_level: str | None


class ClientHistory(BaseModel):
    """A client's history: monthly revenue and margin, open pipeline, assessments, scores per snapshot.

    ``warehouse_available`` is false when the warehouse could not be read (an import holds it); months,
    opportunities and imported assessments are then empty.
    """

    client_id: str
    snapshot_id: int
    as_of: dt.date
    warehouse_available: bool
    months: list[MonthPoint]
    opportunities: list[OpportunityPublic]
    assessments: list[AssessmentPublic]
    scores: list[ScorePoint]


class AssessmentIn(BaseModel):
    """An assessment to save (JSON). ``period`` is the first day of the month assessed, e.g. ``2025-03-01``."""

    model_config = ConfigDict(strict=True, extra="forbid")

    # Strict mode would refuse every JSON string for a date; the ISO text is the documented form, so lax here.
    period: Annotated[dt.date, Field(strict=False, description="First day of the month assessed.")]
    potential: Annotated[
        float | None, Field(ge=0, le=1e15, allow_inf_nan=False, description="Yearly purchasing potential.")
    ] = None
    relationship: Annotated[int | None, Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")] = None
    strategic_fit: Annotated[int | None, Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")] = None
    note: Annotated[str, Field(max_length=2000)] = ""


class ErrorOut(BaseModel):
    """An error answer: ``detail`` says what went wrong."""

    detail: str
