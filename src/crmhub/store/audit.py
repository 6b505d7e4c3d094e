"""The append-only audit log of configuration changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.store.models import AuditEvent


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    object_kind: str,
    object_name: str,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor, action=action, object_kind=object_kind, object_name=object_name, details=details or {}
    )
    session.add(event)
    session.flush()
    return event


def list_events(session: Session, *, limit: int = 100) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
