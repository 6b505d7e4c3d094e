"""API tokens (personal, trigger, session), stored hashed. Caller owns the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.core.errors import NotFoundError
from crmhub.store.models import ApiToken, User


def add_token(
    session: Session,
    *,
    kind: str,
    name: str,
    prefix: str,
    token_hash: str,
    user_id: int | None = None,
    job_id: int | None = None,
    expires_at: datetime | None = None,
    created_at: datetime | None = None,
) -> ApiToken:
    token = ApiToken(
        kind=kind,
        name=name,
        prefix=prefix,
        token_hash=token_hash,
        user_id=user_id,
        job_id=job_id,
        expires_at=expires_at,
    )
    if created_at is not None:
        token.created_at = created_at
    session.add(token)
    session.flush()
    return token


def find_token(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def get_token(session: Session, token_id: int) -> ApiToken:
    token = find_token(session, token_id)
    if token is None:
        raise NotFoundError(f"token {token_id} does not exist")
    return token


def list_tokens(
    session: Session, *, kind: str, user_id: int | None = None, job_id: int | None = None
) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.kind == kind)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    if job_id is not None:
        stmt = stmt.where(ApiToken.job_id == job_id)
    return list(session.scalars(stmt.order_by(ApiToken.id)))


def token_with_user(session: Session, prefix: str) -> tuple[ApiToken, User | None] | None:
    """The token with this prefix and its user (None for a trigger token), in one query."""
    row = session.execute(
        select(ApiToken, User).outerjoin(User, User.id == ApiToken.user_id).where(ApiToken.prefix == prefix)
    ).first()
    return (row[0], row[1]) if row is not None else None


def revoke_session(session: Session, prefix: str, now: datetime) -> None:
    """Revoke the live session token with this prefix (nothing when there is none)."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.prefix == prefix, ApiToken.kind == "session", ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_sessions_of(session: Session, user_id: int, now: datetime) -> int:
    """Revoke every live login session of a user; returns how many."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.kind == "session", ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def touch_token(
    session: Session,
    token_id: int,
    *,
    last_used_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> None:
    """One UPDATE of the token's ``last_used_at`` and/or a later ``expires_at`` (a sliding session).

    ``expires_at`` only ever moves forward, and never for a revoked token: two requests refreshing
    the same session at once leave the later expiry.
    """
    if expires_at is None:
        if last_used_at is not None:
            session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=last_used_at))
        return
    values: dict[str, datetime] = {"expires_at": expires_at}
    if last_used_at is not None:
        values["last_used_at"] = last_used_at
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at < expires_at,
        )
        .values(**values)
    )
