"""Users, permission sets and their grants, and failed-login counters. Caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from crmhub.core.errors import NotFoundError
from crmhub.store.models import LoginAttempt, PermissionSet, Role, User, UserPermissionSet

# Users --------------------------------------------------------------------------------------------


def get_user(session: Session, id_or_email: int | str) -> User:
    if isinstance(id_or_email, int) or str(id_or_email).isdigit():
        user = session.get(User, int(id_or_email))
    else:
        user = find_user_by_email(session, str(id_or_email).strip().lower())
    if user is None:
        raise NotFoundError(
            f"user {id_or_email!r} does not exist", hint="list users with `crmhub users list`"
        )
    return user


def find_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def find_user_by_email(session: Session, email: str) -> User | None:
    """The user with this (already normalised) e-mail address, or None."""
    return session.scalar(select(User).where(User.email == email))


def user_exists(session: Session, email: str) -> bool:
    return session.scalar(select(User.id).where(User.email == email)) is not None


def create_user(session: Session, *, email: str, name: str, role: str, password_hash: str | None) -> User:
    user = User(email=email, name=name, role=role, password_hash=password_hash)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def delete_user(session: Session, user: User) -> None:
    session.delete(user)
    session.flush()


def count_active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.ADMIN.value, User.active.is_(True))
        )
        or 0
    )


# Permission sets and grants -----------------------------------------------------------------------


def get_permission_set(session: Session, name_or_id: int | str) -> PermissionSet:
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        pset = session.get(PermissionSet, int(name_or_id))
    else:
        pset = session.scalar(select(PermissionSet).where(PermissionSet.name == name_or_id))
    if pset is None:
        raise NotFoundError(f"permission set {name_or_id!r} does not exist")
    return pset


def permission_set_exists(session: Session, name: str) -> bool:
    return session.scalar(select(PermissionSet.id).where(PermissionSet.name == name)) is not None


def list_permission_sets(session: Session) -> list[PermissionSet]:
    return list(session.scalars(select(PermissionSet).order_by(PermissionSet.name)))


def create_permission_set(session: Session, *, name: str, permissions: list[str]) -> PermissionSet:
    pset = PermissionSet(name=name, permissions=permissions)
    session.add(pset)
    session.flush()
    return pset


def delete_permission_set(session: Session, pset: PermissionSet) -> None:
    """Mark the set deleted (flushed with the caller's next write; its grants go with it)."""
    session.delete(pset)


def user_sets(session: Session, user_ids: Iterable[int]) -> dict[int, list[PermissionSet]]:
    """The permission sets granted to each user, by name."""
    ids = list(user_ids)
    out: dict[int, list[PermissionSet]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(UserPermissionSet.user_id, PermissionSet)
        .join(PermissionSet, PermissionSet.id == UserPermissionSet.permission_set_id)
        .where(UserPermissionSet.user_id.in_(ids))
        .order_by(PermissionSet.name)
    )
    for user_id, pset in rows:
        out[user_id].append(pset)
    return out


def add_grant(session: Session, user_id: int, permission_set_id: int) -> bool:
    """Grant the set to the user; False when it was granted already."""
    exists = session.scalar(
        select(UserPermissionSet.id).where(
            UserPermissionSet.user_id == user_id, UserPermissionSet.permission_set_id == permission_set_id
        )
    )
    if exists is not None:
        return False
    session.add(UserPermissionSet(user_id=user_id, permission_set_id=permission_set_id))
    session.flush()
    return True


def remove_grant(session: Session, user_id: int, permission_set_id: int) -> bool:
    """Take the set away from the user; False when it was not granted."""
    result = session.execute(
        delete(UserPermissionSet).where(
            UserPermissionSet.user_id == user_id, UserPermissionSet.permission_set_id == permission_set_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


# Failed logins ------------------------------------------------------------------------------------


def login_attempts(session: Session, keys: list[str]) -> list[LoginAttempt]:
    return list(session.scalars(select(LoginAttempt).where(LoginAttempt.key.in_(keys))))


def clear_login_attempts(session: Session, key: str) -> None:
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))


def clear_login_attempts_like(session: Session, prefix: str) -> None:
    """Forget every counter whose key starts with ``prefix`` (one account's per-address counters)."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.key.startswith(prefix, autoescape=True)))


def login_attempt_for_update(session: Session, key: str, now: datetime) -> LoginAttempt:
    """The counter row of ``key``, created empty if missing and locked for this transaction.

    PostgreSQL: insert-if-missing then ``SELECT … FOR UPDATE``, so concurrent failures of one key
    count one by one; SQLite's write transaction is exclusive already.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            pg_insert(LoginAttempt)
            .values(key=key, failures=0, window_started_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = session.scalar(select(LoginAttempt).where(LoginAttempt.key == key).with_for_update())
        assert row is not None
        return row
    found = session.get(LoginAttempt, key)
    if found is None:
        found = LoginAttempt(key=key, failures=0, window_started_at=now)
        session.add(found)
    return found
