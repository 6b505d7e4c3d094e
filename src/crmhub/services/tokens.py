"""API tokens: personal tokens, job-scoped trigger tokens, and login sessions — shown once, stored hashed.

A token reads ``crmhub_<prefix>_<secret>``: ``prefix`` (16 hex characters) finds the row,
``secret`` (``secrets.token_urlsafe(32)``) makes it unguessable, and the row keeps only the SHA-256
of the whole text (256 bits of entropy: a slow hash adds nothing). The kind of a token
(``personal``, ``trigger``, ``session``) is on its row: a trigger token starts its job and nothing
else, a personal token never triggers, and a session token only comes from a login cookie.
``last_used_at`` is written at most once a minute per token, so reads do not turn into writes.

Sessions slide: one lives :data:`SESSION_LIFETIME` from its login or its last refresh. A session
used when less than half of that is left is extended to *now + lifetime* — one UPDATE, at most once
per half lifetime, not on every request — but never past :data:`SESSION_MAX_AGE` after the login,
when logging in again is required.

The queries are in :mod:`crmhub.store.tokens`; each method here owns its transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from crmhub.core.clock import Clock, ensure_utc, utcnow
from crmhub.core.errors import NotFoundError, ValidationError
from crmhub.services import principals
from crmhub.services.hub import SYSTEM_ACTOR, HubService
from crmhub.services.principals import PRINCIPAL_TTL, forget_principals
from crmhub.services.users import AuthenticationError, Principal, effective_permissions
from crmhub.store import audit
from crmhub.store import tokens as repo
from crmhub.store.jobs import get_job
from crmhub.store.models import ApiToken, User
from crmhub.store.users import get_user, user_sets

__all__ = ["TOKEN_MARK", "IssuedToken", "TokenKind", "TokenService", "csrf_token_for"]

TokenKind = Literal["personal", "trigger", "session"]
TOKEN_MARK = "crmhub_"
#: ``last_used_at`` is written at most this often per token.
LAST_USED_RESOLUTION = timedelta(seconds=60)
#: How long a session lasts unused (it slides: see the module docstring).
SESSION_LIFETIME = timedelta(hours=12)
#: How long a session lasts at most after its login, however often it is used.
SESSION_MAX_AGE = timedelta(days=7)


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


# Service ------------------------------------------------------------------------------------------


class TokenService:
    def __init__(
        self,
        hub: HubService,
        *,
        clock: Clock = utcnow,
        session_lifetime: timedelta = SESSION_LIFETIME,
        session_max_age: timedelta = SESSION_MAX_AGE,
    ) -> None:
        if session_lifetime <= timedelta(0) or session_max_age < session_lifetime:
            raise ValueError("a session needs a positive lifetime no longer than its maximum age")
        self.hub = hub
        self.db = hub.db
        self.clock = clock
        self.session_lifetime = session_lifetime
        self.session_max_age = session_max_age

    def _issue(
        self,
        session: Session,
        *,
        kind: TokenKind,
        name: str,
        user_id: int | None = None,
        job_id: int | None = None,
        expires_at: datetime | None = None,
        now: datetime | None = None,
    ) -> IssuedToken:
        prefix, text = _mint()
        token = repo.add_token(
            session,
            kind=kind,
            name=name,
            prefix=prefix,
            token_hash=hash_token(text),
            user_id=user_id,
            job_id=job_id,
            expires_at=expires_at,
            created_at=now or self.clock(),
        )
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
                expires_at=self.clock() + expires_in if expires_in else None,
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

    def create_session(self, user_id: int) -> IssuedToken:
        """A login session for the user, living :attr:`session_lifetime` (sliding; see the module)."""
        now = self.clock()
        with self.db.begin() as session:
            return self._issue(
                session,
                kind="session",
                name="login",
                user_id=user_id,
                expires_at=now + self.session_lifetime,
                now=now,
            )

    def list_personal(self, user: int | str | None = None) -> list[ApiToken]:
        with self.db.read() as session:
            user_id = get_user(session, user).id if user is not None else None
            return repo.list_tokens(session, kind="personal", user_id=user_id)

    def list_trigger(self, job: int | str) -> list[ApiToken]:
        with self.db.read() as session:
            return repo.list_tokens(session, kind="trigger", job_id=get_job(session, job).id)

    def get(self, token_id: int) -> ApiToken:
        with self.db.read() as session:
            return repo.get_token(session, token_id)

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
            token = repo.find_token(session, token_id)
            if (
                token is None
                or token.kind != kind
                or (user_id is not None and token.user_id != user_id)
                or (job_id is not None and token.job_id != job_id)
            ):
                raise NotFoundError(f"{kind} token {token_id} does not exist")
            if token.revoked_at is None:
                token.revoked_at = self.clock()
                if kind != "session":
                    audit.record_event(
                        session,
                        actor=actor,
                        action="revoke",
                        object_kind="api_token" if kind == "personal" else "trigger_token",
                        object_name=f"{token.name} ({token.prefix})",
                    )
        # After the commit: a request checked in between would cache the token as still valid.
        forget_principals()
        return token

    def end_session(self, text: str) -> None:
        prefix = split_token(text)
        if prefix is None:
            return
        with self.db.begin() as session:
            repo.revoke_session(session, prefix, self.clock())
        forget_principals()

    # Checking ---------------------------------------------------------------------------------

    def _find(
        self, session: Session, text: str, kind: TokenKind, now: datetime
    ) -> tuple[ApiToken, User | None]:
        """The token (and its user, in the same query) if it is valid for ``kind``."""
        prefix = split_token(text)
        row = repo.token_with_user(session, prefix) if prefix else None
        token, user = row if row is not None else (None, None)
        if (
            token is None
            or token.kind != kind
            or not hmac.compare_digest(token.token_hash, hash_token(text))
            or token.revoked_at is not None
            or (token.expires_at is not None and ensure_utc(token.expires_at) <= now)
            or (token.kind == "session" and self._session_ends(token) <= now)
        ):
            what = {"personal": "API token", "trigger": "trigger token", "session": "session"}[kind]
            raise AuthenticationError(
                f"the {what} is missing, wrong, expired or revoked",
                hint="log in again" if kind == "session" else "create a new token",
            )
        return token, user

    def _session_ends(self, token: ApiToken) -> datetime:
        """When a session ends however often it is used: its maximum age after the login."""
        return ensure_utc(token.created_at) + self.session_max_age

    def _extended_expiry(self, token: ApiToken, now: datetime) -> datetime | None:
        """A session's new expiry when less than half its lifetime is left, else None."""
        if token.kind != "session" or token.expires_at is None:
            return None
        expires = ensure_utc(token.expires_at)
        if expires - now >= self.session_lifetime / 2:
            return None
        extended = min(now + self.session_lifetime, self._session_ends(token))
        return extended if extended > expires else None

    def _touch(self, token: ApiToken, now: datetime) -> datetime:
        """Record the use (at most once a minute) and slide a session's expiry, in one UPDATE.

        Returns when the token's use is now recorded as last (``now`` if it was written).
        """
        last = token.last_used_at
        used = last is None or now - ensure_utc(last) >= LAST_USED_RESOLUTION
        expires_at = self._extended_expiry(token, now)
        if used or expires_at is not None:
            with self.db.begin() as session:
                repo.touch_token(session, token.id, last_used_at=now if used else None, expires_at=expires_at)
        return now if used or last is None else ensure_utc(last)

    def _cache_key(self, text: str, kind: str) -> tuple[str, str, str]:
        return (self.db.url, kind, hash_token(text))

    def cached_principal(
        self, text: str, *, kind: Literal["personal", "session"] = "personal"
    ) -> Principal | None:
        """The principal of a token checked less than :data:`PRINCIPAL_TTL` ago, without a query."""
        return principals.cached(self._cache_key(text, kind), self.clock())

    def authenticate(self, text: str, *, kind: Literal["personal", "session"] = "personal") -> Principal:
        """The principal of a personal token (or a session token); AuthenticationError otherwise.

        The answer is kept for :data:`~crmhub.services.principals.PRINCIPAL_TTL` (see
        :mod:`crmhub.services.principals`).
        """
        now = self.clock()
        key = self._cache_key(text, kind)
        hit = principals.cached(key, now)
        if hit is not None:
            return hit
        since = principals.generation()
        with self.db.read() as session:
            token, user = self._find(session, text, kind, now)
            if user is None or not user.active:
                raise AuthenticationError("the token's user is deactivated", hint="ask an admin")
            sets = user_sets(session, [user.id])[user.id]
            principal = Principal(
                user.id, user.email, user.role, effective_permissions(user, sets), kind, token.id
            )
        last_used = self._touch(token, now)
        # Reused until the next check would find something to do: the expiry, the end of the
        # session, the next recorded use (a minute after the last) or the next slide of a session.
        until = now + PRINCIPAL_TTL
        if token.expires_at is not None:
            until = min(until, ensure_utc(token.expires_at))
            if token.kind == "session":
                until = min(until, ensure_utc(token.expires_at) - self.session_lifetime / 2)
        if token.kind == "session":
            until = min(until, self._session_ends(token))
        until = min(until, last_used + LAST_USED_RESOLUTION)
        principals.remember(key, principal, until, since)
        return principal

    def authenticate_trigger(self, text: str, job: int | str) -> ApiToken:
        """The trigger token for ``job``; AuthenticationError when it is not one of that job's."""
        now = self.clock()
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
