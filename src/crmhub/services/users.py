"""Users, roles, permission sets, and logging in with brute-force protection.

A user has one role — ``admin`` (everything), ``advanced`` (manage connections and jobs) or
``viewer`` (read only) — and any number of named permission sets, each granting single
permissions from :class:`Permission` (e.g. a set "manage account feeds" = ``feeds:manage``).
Passwords are hashed with argon2id (see :func:`password_hasher`).

Failed logins slow the one who fails without locking the owner out: see :class:`LoginPolicy`
(counters in ``login_attempt``, per account, per client address and per pair).

The queries are in :mod:`crmhub.store.users`; each method here owns its transaction.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from crmhub.core.clock import ensure_utc, utcnow
from crmhub.core.errors import CrmHubError, RetriableError, ValidationError
from crmhub.services.hub import SYSTEM_ACTOR, HubService
from crmhub.services.principals import forget_principals
from crmhub.store import audit
from crmhub.store import tokens as token_repo
from crmhub.store import users as repo
from crmhub.store.models import PermissionSet, Role, User

__all__ = [
    "ROLE_PERMISSIONS",
    "AuthenticationError",
    "LoginPolicy",
    "Permission",
    "PermissionDeniedError",
    "Principal",
    "Role",
    "TooManyAttemptsError",
    "UserService",
]


class Permission(StrEnum):
    """The fixed vocabulary of single permissions."""

    CONNECTIONS_READ = "connections:read"
    CONNECTIONS_WRITE = "connections:write"
    JOBS_READ = "jobs:read"
    JOBS_WRITE = "jobs:write"
    JOBS_RUN = "jobs:run"
    RUNS_READ = "runs:read"
    HUB_READ = "hub:read"
    HUB_WRITE = "hub:write"
    TOKENS_CREATE = "tokens:create"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"
    FEEDS_MANAGE = "feeds:manage"


_READ = frozenset(
    {Permission.CONNECTIONS_READ, Permission.JOBS_READ, Permission.RUNS_READ, Permission.HUB_READ}
)
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ADVANCED: _READ
    | {
        Permission.CONNECTIONS_WRITE,
        Permission.JOBS_WRITE,
        Permission.JOBS_RUN,
        Permission.HUB_WRITE,
        Permission.TOKENS_CREATE,
    },
    Role.VIEWER: _READ,
}


class AuthenticationError(CrmHubError):
    """No valid credentials: a missing, wrong, expired or revoked token or password (HTTP 401)."""


class PermissionDeniedError(CrmHubError):
    """Authenticated, but the role and permission sets do not allow it (HTTP 403)."""


class TooManyAttemptsError(RetriableError):
    """Too many failed logins for this user or address; ``retry_after`` seconds to wait (HTTP 429)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user with the permissions of their role and permission sets."""

    user_id: int
    email: str
    role: str
    permissions: frozenset[str]
    #: How they proved it: "token", "session" or "cli".
    via: str = "token"
    token_id: int | None = None

    @property
    def actor(self) -> str:
        """The name audit events record."""
        return self.email

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDeniedError(
                f"{self.email} ({self.role}) may not do this: it needs the permission {permission!r}",
                hint="ask an admin for a role or permission set that grants it",
            )


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """Failed logins slow the one who fails, and never lock the owner out for long.

    Failures are counted per (account, client address), per address and per account, each forgotten
    after ``window`` without a new one. Past its free failures, a counter makes the next attempt wait
    ``first_delay``, then twice as long each time: up to ``max_delay`` for an account from one address
    and for an address, but only up to ``account_max_delay`` for the account as a whole, so an
    attacker who fails from many addresses delays the owner by seconds, not a lockout. A right
    password clears the account's counters (not its address's); an admin clears them with
    ``crmhub users unthrottle``.
    """

    pair_free: int = 3
    address_free: int = 20
    account_free: int = 10
    first_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=15)
    account_max_delay: timedelta = timedelta(seconds=30)
    window: timedelta = timedelta(minutes=15)


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


def normalise_email(email: str) -> str:
    value = (email or "").strip().lower()
    if not _EMAIL_RE.match(value) or len(value) > 255:
        raise ValidationError(f"{email!r} is not an e-mail address", hint="use name@example.com")
    return value


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"the password is too short ({len(password)} characters)",
            hint=f"use at least {MIN_PASSWORD_LENGTH} characters",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")


def parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ValidationError(f"unknown role {role!r}", hint=f"use one of: {known}") from None


def parse_permissions(permissions: Iterable[str]) -> list[str]:
    out: list[str] = []
    for p in permissions:
        try:
            out.append(Permission(p).value)
        except ValueError:
            known = ", ".join(x.value for x in Permission)
            raise ValidationError(f"unknown permission {p!r}", hint=f"use any of: {known}") from None
    return sorted(set(out))


def effective_permissions(user: User, sets: Iterable[PermissionSet]) -> frozenset[str]:
    try:
        base: frozenset[str] = frozenset(p.value for p in ROLE_PERMISSIONS[Role(user.role)])
    except ValueError:
        base = frozenset()
    extra = {p for s in sets for p in s.permissions}
    return base | extra


# Service ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserView:
    """A user as listings show it (never the password hash)."""

    id: int
    email: str
    name: str
    role: str
    active: bool
    permissions: list[str]
    permission_sets: list[str]
    last_login_at: datetime | None
    created_at: datetime


_F = TypeVar("_F", bound=Callable[..., Any])


def _changes_rights(method: _F) -> _F:
    """After ``method`` (its transaction committed or not), cached principals are forgotten."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        finally:
            forget_principals()

    return cast(_F, wrapper)


def password_hasher() -> PasswordHasher:
    """argon2id with OWASP's first recommended setting: 46 MiB of memory, one pass, one lane.

    One lane keeps a hash on one core (argon2-cffi's default, RFC 9106's low-memory profile, runs
    four lanes and takes every core of a small server for each login); one pass over 46 MiB costs a
    quarter of that profile's CPU at the strength OWASP rates equal. Stored hashes made with other
    parameters still verify, and are re-hashed with these at the next right login.
    """
    return PasswordHasher(time_cost=1, memory_cost=47_104, parallelism=1)


@dataclass
class UserService:
    hub: HubService
    policy: LoginPolicy = field(default_factory=LoginPolicy)
    hasher: PasswordHasher = field(default_factory=password_hasher)

    def __post_init__(self) -> None:
        self.db = self.hub.db
        self._dummy: str | None = None

    @property
    def _dummy_hash(self) -> str:
        # Verified against when the e-mail is unknown, so a wrong address costs as long as a wrong password.
        if self._dummy is None:
            self._dummy = self.hasher.hash("crmhub-no-such-user")
        return self._dummy

    def _view(self, user: User, sets: list[PermissionSet]) -> UserView:
        return UserView(
            user.id,
            user.email,
            user.name,
            user.role,
            user.active,
            sorted(effective_permissions(user, sets)),
            [s.name for s in sets],
            user.last_login_at,
            user.created_at,
        )

    # Users ------------------------------------------------------------------------------------

    def create(
        self,
        email: str,
        *,
        password: str | None = None,
        role: str = Role.VIEWER.value,
        name: str = "",
        actor: str = SYSTEM_ACTOR,
    ) -> UserView:
        address = normalise_email(email)
        role_ = parse_role(role)
        if password is not None:
            check_password_policy(password)
        password_hash = self.hasher.hash(password) if password is not None else None
        with self.db.begin() as session:
            if repo.user_exists(session, address):
                raise ValidationError(f"user {address!r} already exists")
            user = repo.create_user(
                session, email=address, name=name.strip(), role=role_.value, password_hash=password_hash
            )
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="user",
                object_name=address,
                details={"role": role_.value},
            )
            return self._view(user, [])

    def admin_exists(self) -> bool:
        with self.db.read() as session:
            return repo.count_active_admins(session) > 0

    def list(self) -> list[UserView]:
        with self.db.read() as session:
            users = repo.list_users(session)
            sets = repo.user_sets(session, [u.id for u in users])
            return [self._view(u, sets[u.id]) for u in users]

    def get(self, id_or_email: int | str) -> UserView:
        with self.db.read() as session:
            user = repo.get_user(session, id_or_email)
            return self._view(user, repo.user_sets(session, [user.id])[user.id])

    @_changes_rights
    def update(
        self,
        id_or_email: int | str,
        *,
        name: str | None = None,
        role: str | None = None,
        active: bool | None = None,
        password: str | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> UserView:
        role_ = parse_role(role) if role is not None else None
        if password is not None:
            check_password_policy(password)
        password_hash = self.hasher.hash(password) if password is not None else None
        with self.db.begin() as session:
            user = repo.get_user(session, id_or_email)
            was_admin = _is_active_admin(user)
            changed: dict[str, Any] = {}
            if name is not None and name.strip() != user.name:
                user.name = changed["name"] = name.strip()
            if role_ is not None and role_.value != user.role:
                changed["role"] = [user.role, role_.value]
                user.role = role_.value
            if active is not None and active != user.active:
                user.active = changed["active"] = active
            if password_hash is not None:
                user.password_hash = password_hash
                changed["password"] = "changed"
                # Whoever signed in with the old password is signed out; personal tokens stay (they
                # are credentials of their own, listed and revoked one by one).
                changed["sessions_ended"] = token_repo.revoke_sessions_of(session, user.id, utcnow())
            if changed:
                session.flush()
                if was_admin and not _is_active_admin(user) and repo.count_active_admins(session) == 0:
                    raise ValidationError(
                        f"{user.email} is the last active admin",
                        hint="make another user admin first",
                    )
                audit.record_event(
                    session,
                    actor=actor,
                    action="update",
                    object_kind="user",
                    object_name=user.email,
                    details=changed,
                )
            return self._view(user, repo.user_sets(session, [user.id])[user.id])

    @_changes_rights
    def delete(self, id_or_email: int | str, *, actor: str = SYSTEM_ACTOR) -> None:
        with self.db.begin() as session:
            user = repo.get_user(session, id_or_email)
            email, was_admin = user.email, _is_active_admin(user)
            repo.delete_user(session, user)
            if was_admin and repo.count_active_admins(session) == 0:
                raise ValidationError(
                    f"{email} is the last active admin", hint="make another user admin first"
                )
            audit.record_event(session, actor=actor, action="delete", object_kind="user", object_name=email)

    def principal(self, id_or_email: int | str, *, via: str = "cli") -> Principal:
        with self.db.read() as session:
            user = repo.get_user(session, id_or_email)
            sets = repo.user_sets(session, [user.id])[user.id]
            return Principal(user.id, user.email, user.role, effective_permissions(user, sets), via)

    # Permission sets --------------------------------------------------------------------------

    def permission_sets(self) -> builtins.list[PermissionSet]:
        with self.db.read() as session:
            return repo.list_permission_sets(session)

    def create_permission_set(
        self, name: str, permissions: Iterable[str], *, actor: str = SYSTEM_ACTOR
    ) -> PermissionSet:
        clean = name.strip()
        if not clean or len(clean) > 127:
            raise ValidationError("a permission set needs a name of 1 to 127 characters")
        perms = parse_permissions(permissions)
        with self.db.begin() as session:
            if repo.permission_set_exists(session, clean):
                raise ValidationError(f"permission set {clean!r} already exists")
            pset = repo.create_permission_set(session, name=clean, permissions=perms)
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="permission_set",
                object_name=clean,
                details={"permissions": perms},
            )
            return pset

    @_changes_rights
    def delete_permission_set(self, name_or_id: int | str, *, actor: str = SYSTEM_ACTOR) -> None:
        with self.db.begin() as session:
            pset = repo.get_permission_set(session, name_or_id)
            name = pset.name
            repo.delete_permission_set(session, pset)
            audit.record_event(
                session, actor=actor, action="delete", object_kind="permission_set", object_name=name
            )

    @_changes_rights
    def grant(self, user: int | str, permission_set: int | str, *, actor: str = SYSTEM_ACTOR) -> UserView:
        with self.db.begin() as session:
            u = repo.get_user(session, user)
            pset = repo.get_permission_set(session, permission_set)
            if repo.add_grant(session, u.id, pset.id):
                audit.record_event(
                    session,
                    actor=actor,
                    action="grant",
                    object_kind="user",
                    object_name=u.email,
                    details={"permission_set": pset.name},
                )
            return self._view(u, repo.user_sets(session, [u.id])[u.id])

    @_changes_rights
    def revoke(self, user: int | str, permission_set: int | str, *, actor: str = SYSTEM_ACTOR) -> UserView:
        with self.db.begin() as session:
            u = repo.get_user(session, user)
            pset = repo.get_permission_set(session, permission_set)
            if repo.remove_grant(session, u.id, pset.id):
                audit.record_event(
                    session,
                    actor=actor,
                    action="revoke",
                    object_kind="user",
                    object_name=u.email,
                    details={"permission_set": pset.name},
                )
            return self._view(u, repo.user_sets(session, [u.id])[u.id])

    # Logging in -------------------------------------------------------------------------------

    def unthrottle(self, email: str, *, actor: str = SYSTEM_ACTOR) -> None:
        """Forget an account's failed logins (every address's), so its owner may try at once."""
        address = normalise_email(email)
        with self.db.begin() as session:
            repo.get_user(session, address)
            repo.clear_login_attempts(session, _account_key(address))
            repo.clear_login_attempts_like(session, _pair_prefix(address))
            audit.record_event(
                session, actor=actor, action="unthrottle", object_kind="user", object_name=address
            )

    def authenticate(self, email: str, password: str, *, client: str | None = None) -> Principal:
        """The user's principal for a right e-mail and password; counts failures per user and address.

        Raises:
            TooManyAttemptsError: the user or the address is locked out for now (before any check).
            AuthenticationError: wrong e-mail, wrong password, or an inactive user — one message for all.
        """
        address = (email or "").strip().lower()[:255]
        account = _account_key(address)
        keys = [account] + ([f"{_pair_prefix(address)}{client[:64]}", f"ip:{client[:64]}"] if client else [])
        now = utcnow()
        with self.db.read() as session:
            wait = _locked_for(session, keys, now)
        if wait is not None:
            raise TooManyAttemptsError(
                "too many failed logins for this account or address",
                hint=f"try again in {int(wait) + 1} seconds",
                retry_after=wait,
            )
        with self.db.read() as session:
            user = repo.find_user_by_email(session, address)
            stored = user.password_hash if user is not None else None
        ok = False
        try:
            ok = self.hasher.verify(stored or self._dummy_hash, password or "") and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None or not user.active:
            policy = self.policy
            with self.db.begin() as session:
                _record_failure(session, account, policy.account_free, policy.account_max_delay, policy, now)
                if client:
                    _record_failure(session, keys[1], policy.pair_free, policy.max_delay, policy, now)
                    _record_failure(session, keys[2], policy.address_free, policy.max_delay, policy, now)
            raise AuthenticationError(
                "wrong e-mail or password (or the user is deactivated)",
                hint="check them; repeated failures make the next attempts wait longer",
            )
        with self.db.begin() as session:
            repo.clear_login_attempts(session, account)
            repo.clear_login_attempts_like(session, _pair_prefix(address))
            fresh = repo.find_user(session, user.id)
            assert fresh is not None
            fresh.last_login_at = now
            assert stored is not None
            if self.hasher.check_needs_rehash(stored):
                fresh.password_hash = self.hasher.hash(password)
            sets = repo.user_sets(session, [fresh.id])[fresh.id]
            return Principal(fresh.id, fresh.email, fresh.role, effective_permissions(fresh, sets), "session")


def _is_active_admin(user: User) -> bool:
    return user.role == Role.ADMIN.value and bool(user.active)


def _locked_for(session: Session, keys: list[str], now: datetime) -> float | None:
    rows = repo.login_attempts(session, keys)
    waits = [
        (ensure_utc(r.locked_until) - now).total_seconds()
        for r in rows
        if r.locked_until is not None and ensure_utc(r.locked_until) > now
    ]
    return max(waits) if waits else None


def _account_key(email: str) -> str:
    # A digest: keys are at most 255 characters, and so are e-mail addresses.
    return "user:" + hashlib.blake2b(email.encode(), digest_size=16).hexdigest()


def _pair_prefix(email: str) -> str:
    return "pair:" + hashlib.blake2b(email.encode(), digest_size=16).hexdigest() + ":"


def _record_failure(
    session: Session, key: str, free: int, cap: timedelta, policy: LoginPolicy, now: datetime
) -> None:
    """Count one failure of ``key``; after ``free`` of them the next attempt waits, twice as long each
    time up to ``cap``. The count is forgotten after ``policy.window`` without a failure."""
    row = repo.login_attempt_for_update(session, key, now)
    if now - ensure_utc(row.window_started_at) > policy.window:
        row.failures = 0
    row.window_started_at = now  # the window runs from the latest failure
    row.failures += 1
    beyond = row.failures - free + 1  # after ``free`` failures, the next attempt waits
    if beyond > 0:
        delay = policy.first_delay * (2 ** min(beyond - 1, 30))
        row.locked_until = now + min(delay, cap)
    session.flush()


# Serving safely -----------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listening_problems(hub: HubService, host: str) -> list[str]:
    """Why the API must not listen on ``host``: empty on loopback, or when an admin and a real key exist.

    "The default secret" is the state of a fresh install before ``crmhub init``: no
    ``CRMHUB_SECRET_KEY`` and no ``<home>/secret.key`` — or a placeholder (``changeme`` …) or
    malformed key, which settings refuse anyway. The key ``crmhub init`` generates is not default.
    """
    if is_loopback(host):
        return []
    problems = []
    settings = hub.settings
    if settings.secret_key is None and not settings.secret_key_path.exists():
        problems.append(
            "no secret key is configured (CRMHUB_SECRET_KEY is unset and "
            f"{settings.secret_key_path} does not exist) — run `crmhub init`"
        )
    else:
        from crmhub.core.errors import ConfigError

        try:
            settings.fernet_key()
        except ConfigError as exc:
            problems.append(str(exc))
    if not UserService(hub).admin_exists():
        problems.append("no admin user exists — create one with `crmhub users create EMAIL --admin`")
    return problems
