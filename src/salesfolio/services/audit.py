"""The audit log: who did what, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from salesfolio.store.models import AuditEntry


def record(
    session: Session,
    action: str,
    *,
    username: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    **detail: Any,
) -> None:
    """Add an audit entry to the caller's transaction."""
    session.add(
        AuditEntry(username=username, action=action, object_type=object_type, object_id=object_id, detail=detail)
    )
