"""API tokens: personal tokens, job-scoped trigger tokens, and login sessions — shown once, stored hashed.

A token reads ``crmhub_<prefix>_<secret>``: ``prefix`` (16 hex characters) finds the row,
``secret`` (``secrets.token_urlsafe(32)``) makes it unguessable, and the row keeps only the SHA-256
of the whole text (256 bits of entropy: a slow hash adds nothing). The kind of a token
(``personal``, ``trigger``, ``session``) is on its row: a trigger token starts its job and nothing
else, a personal token never triggers, and a session token only comes from a login cookie.
``last_used_at`` is written at most once a minute per token, so reads do not turn into writes.

The queries below are the tokens' repository (session in, never commit); they sit here until they
move to ``crmhub.store.tokens``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.core.clock import ensure_utc, utcnow
from crmhub.core.errors import NotFoundError, ValidationError
from crmhub.services.hub import SYSTEM_ACTOR, HubService
from crmhub.services.users import AuthenticationError, Principal, effective_permissions, get_user, user_sets
from crmhub.store import audit
from crmhub.store.jobs import get_job
from crmhub.store.models import ApiToken, User

__all__ = ["TOKEN_MARK", "IssuedToken", "TokenKind", "TokenService", "csrf_token_for"]

TokenKind = Literal["personal", "trigger", "session"]
TOKEN_MARK = "crmhub_"
#: ``last_used_at`` is written at most this often per token.
LAST_USED_RESOLUTION = timedelta(seconds=60)
SESSION_LIFETIME = timedelta(hours=12)


def hash_token(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_token(text: str) -> str | None:
    """The prefix of a well-formed token text, else None."""
    if not text.startswith(TOKEN_MARK):
        return None
    prefix, sep, secret = text[len(TOKEN_MARK) :].partition("_")
    if not sep or len(prefix) != 16 or not secret or len(text) > 200:
        return None
    return prefix


def csrf_token_for(session_token: str) -> str:
    """The CSRF token bound to a session: cookie-authenticated unsafe requests echo it in X-CSRF-Token."""
    return hmac.new(session_token.encode("utf-8"), b"crmhub-csrf", hashlib.sha256).hexdigest()[:43]


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``text`` is shown this once and never again."""

    token: ApiToken
    text: str


def _mint() -> tuple[str, str]:
    prefix = secrets.token_hex(8)
    return prefix, f"{TOKEN_MARK}{prefix}_{secrets.token_urlsafe(32)}"


# Repository ---------------------------------------------------------------------------------------


def get_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
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


# Service ------------------------------------------------------------------------------------------


class TokenService:
    def __init__(self, hub: HubService) -> None:
        self.hub = hub
        self.db = hub.db

    def _issue(
        self,
        session: Session,
        *,
        kind: TokenKind,
        name: str,
        user_id: int | None = None,
        job_id: int | None = None,
        expires_at: datetime | None = None,
    ) -> IssuedToken:
        prefix, text = _mint()
        token = ApiToken(
            kind=kind,
            name=name,
            prefix=prefix,
            token_hash=hash_token(text),
            user_id=user_id,
            job_id=job_id,
            expires_at=expires_at,
        )
        session.add(token)
        session.flush()
        return IssuedToken(token, text)

    @staticmethod
    def _clean_name(name: str) -> str:
        clean = (name or "").strip()
        if not clean or len(clean) > 127:
            raise ValidationError("a token needs a name of 1 to 127 characters", hint="e.g. 'nightly export'")
        return clean

    def create_personal(
        self,
        user: int | str,
        name: str,
        *,
        expires_in: timedelta | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> IssuedToken:
        clean = self._clean_name(name)
        with self.db.begin() as session:
            owner = get_user(session, user)
            issued = self._issue(
                session,
                kind="personal",
                name=clean,
                user_id=owner.id,
                expires_at=utcnow() + expires_in if expires_in else None,
            )
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="api_token",
                object_name=f"{owner.email}/{clean}",
                details={"prefix": issued.token.prefix, "kind": "personal"},
            )
            return issued

    def create_trigger(self, job: int | str, name: str, *, actor: str = SYSTEM_ACTOR) -> IssuedToken:
        clean = self._clean_name(name)
        with self.db.begin() as session:
            target = get_job(session, job)
            issued = self._issue(session, kind="trigger", name=clean, job_id=target.id)
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="trigger_token",
                object_name=f"{target.name}/{clean}",
                details={"prefix": issued.token.prefix, "kind": "trigger"},
            )
            return issued

    def create_session(self, user_id: int, *, lifetime: timedelta = SESSION_LIFETIME) -> IssuedToken:
        with self.db.begin() as session:
            return self._issue(
                session, kind="session", name="login", user_id=user_id, expires_at=utcnow() + lifetime
            )

    def list_personal(self, user: int | str | None = None) -> list[ApiToken]:
        with self.db.read() as session:
            user_id = get_user(session, user).id if user is not None else None
            return list_tokens(session, kind="personal", user_id=user_id)

    def list_trigger(self, job: int | str) -> list[ApiToken]:
        with self.db.read() as session:
            return list_tokens(session, kind="trigger", job_id=get_job(session, job).id)

    def get(self, token_id: int) -> ApiToken:
        with self.db.read() as session:
            return get_token(session, token_id)

    def revoke(
        self,
        token_id: int,
        *,
        kind: TokenKind,
        user_id: int | None = None,
        job_id: int | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> ApiToken:
        """Revoke one token; with ``user_id``/``job_id`` it must belong to that user/job (else NotFound)."""
        with self.db.begin() as session:
            token = session.get(ApiToken, token_id)
            if (
                token is None
                or token.kind != kind
                or (user_id is not None and token.user_id != user_id)
                or (job_id is not None and token.job_id != job_id)
            ):
                raise NotFoundError(f"{kind} token {token_id} does not exist")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                if kind != "session":
                    audit.record_event(
                        session,
                        actor=actor,
                        action="revoke",
                        object_kind="api_token" if kind == "personal" else "trigger_token",
                        object_name=f"{token.name} ({token.prefix})",
                    )
            return token

    def end_session(self, text: str) -> None:
        prefix = split_token(text)
        if prefix is None:
            return
        with self.db.begin() as session:
            session.execute(
                update(ApiToken)
                .where(ApiToken.prefix == prefix, ApiToken.kind == "session", ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    # Checking ---------------------------------------------------------------------------------

    def _find(
        self, session: Session, text: str, kind: TokenKind, now: datetime
    ) -> tuple[ApiToken, User | None]:
        """The token (and its user, in the same query) if it is valid for ``kind``."""
        prefix = split_token(text)
        row = (
            session.execute(
                select(ApiToken, User)
                .outerjoin(User, User.id == ApiToken.user_id)
                .where(ApiToken.prefix == prefix)
            ).first()
            if prefix
            else None
        )
        token, user = (row[0], row[1]) if row is not None else (None, None)
        if (
            token is None
            or token.kind != kind
            or not hmac.compare_digest(token.token_hash, hash_token(text))
            or token.revoked_at is not None
            or (token.expires_at is not None and ensure_utc(token.expires_at) <= now)
        ):
            what = {"personal": "API token", "trigger": "trigger token", "session": "session"}[kind]
            raise AuthenticationError(
                f"the {what} is missing, wrong, expired or revoked",
                hint="log in again" if kind == "session" else "create a new token",
            )
        return token, user

    def _touch(self, token: ApiToken, now: datetime) -> None:
        last = token.last_used_at
        if last is None or now - ensure_utc(last) >= LAST_USED_RESOLUTION:
            with self.db.begin() as session:
                session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))

    def authenticate(self, text: str, *, kind: Literal["personal", "session"] = "personal") -> Principal:
        """The principal of a personal token (or a session token); AuthenticationError otherwise."""
        now = utcnow()
        with self.db.read() as session:
            token, user = self._find(session, text, kind, now)
            if user is None or not user.active:
                raise AuthenticationError("the token's user is deactivated", hint="ask an admin")
            sets = user_sets(session, [user.id])[user.id]
            principal = Principal(
                user.id, user.email, user.role, effective_permissions(user, sets), kind, token.id
            )
        self._touch(token, now)
        return principal

    def authenticate_trigger(self, text: str, job: int | str) -> ApiToken:
        """The trigger token for ``job``; AuthenticationError when it is not one of that job's."""
        now = utcnow()
        with self.db.read() as session:
            token, _ = self._find(session, text, "trigger", now)
            try:
                target = get_job(session, job)
            except NotFoundError:
                target = None
            if target is None or token.job_id != target.id:
                raise AuthenticationError(
                    "this trigger token does not belong to that job",
                    hint="use the call shown on the job's page",
                )
        self._touch(token, now)
        return token
