"""Saving an assessment: insert or replace a client's judgement for a month, with an audit entry, in one transaction.

The web form and the API validate the values (:mod:`salesfolio.web.assessments`) and call
:func:`save_assessment`, which owns the transaction (it commits), as every service does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from salesfolio.services import audit
from salesfolio.store.models import Assessment, SnapshotClient, User, utcnow


@dataclass(frozen=True)
class AssessmentValues:
    """Validated values of one assessment."""

    period: dt.date
    potential: float | None
    relationship: int | None
    strategic_fit: int | None
    note: str


def save_assessment(db: Session, client: SnapshotClient, values: AssessmentValues, user: User) -> Assessment:
    """Insert or replace the client's assessment for the period, with an audit entry; commits.

    ``client`` is the row a scoped :func:`salesfolio.web.queries.get_client` returned, so only a client the user
    may see can be assessed. Saving the same client and period again replaces the values; the audit entry
    (``assessment.add`` or ``assessment.update``) keeps the new and the previous values.
    """
    existing = db.scalars(
        select(Assessment).where(Assessment.client_id == client.client_id, Assessment.period == values.period)
    ).first()
    new = {
        "potential": values.potential,
        "relationship": values.relationship,
        "strategic_fit": values.strategic_fit,
        "note": values.note,
    }
    if existing is None:
        row = Assessment(client_id=client.client_id, period=values.period, entered_by=user.username, **new)
        db.add(row)
        action, previous = "assessment.add", None
    else:
        row = existing
        previous = {
            "potential": row.potential,
            "relationship": row.relationship,
            "strategic_fit": row.strategic_fit,
            "note": row.note,
        }
        for key, value in new.items():
            setattr(row, key, value)
        row.entered_by = user.username
        row.entered_at = utcnow()
        action = "assessment.update"
    audit.record(
        db,
        action,
        username=user.username,
        object_type="client",
        object_id=client.client_id,
        period=values.period.isoformat(),
        values=new,
        previous=previous,
    )
    db.commit()
    return row
