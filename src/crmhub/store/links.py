"""Links: the cross-reference between one hub record and one remote record. Caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmhub.core.errors import ValidationError
from crmhub.store.models import Link


def create_link(
    session: Session,
    *,
    hub_id: str,
    connection_id: int,
    remote_object: str,
    remote_id: str,
    received_hash: str | None = None,
    received_at: datetime | None = None,
) -> Link:
    """Link a hub record to a remote record; ValidationError if either side is linked already."""
    link = Link(
        hub_id=hub_id,
        connection_id=connection_id,
        remote_object=remote_object,
        remote_id=remote_id,
        last_received_hash=received_hash,
        last_received_at=received_at,
    )
    try:
        with session.begin_nested():
            session.add(link)
            session.flush()
    except IntegrityError as exc:
        raise ValidationError(
            f"cannot link hub record {hub_id} to {remote_object} {remote_id} on connection {connection_id}: "
            "one of them is linked already",
            hint="remove the existing link first",
        ) from exc
    return link


def find_link_by_remote(
    session: Session, *, connection_id: int, remote_object: str, remote_id: str
) -> Link | None:
    return session.scalar(
        select(Link).where(
            Link.connection_id == connection_id,
            Link.remote_object == remote_object,
            Link.remote_id == remote_id,
        )
    )


def find_links_by_remote(
    session: Session, *, connection_id: int, remote_object: str, remote_ids: Sequence[str]
) -> dict[str, Link]:
    """remote id → link, for one batch of remote ids."""
    found: dict[str, Link] = {}
    ids = list(remote_ids)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for link in session.scalars(
            select(Link).where(
                Link.connection_id == connection_id,
                Link.remote_object == remote_object,
                Link.remote_id.in_(chunk),
            )
        ):
            found[link.remote_id] = link
    return found


def links_of_record(session: Session, hub_id: str) -> list[Link]:
    return list(session.scalars(select(Link).where(Link.hub_id == hub_id).order_by(Link.id)))


def remove_link(session: Session, link: Link) -> None:
    session.delete(link)
    session.flush()


def clear_links(session: Session, *, connection_id: int, remote_object: str | None = None) -> int:
    """Remove every link of a connection (optionally of one remote object); returns how many."""
    stmt = delete(Link).where(Link.connection_id == connection_id)
    if remote_object is not None:
        stmt = stmt.where(Link.remote_object == remote_object)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


_LINK_COLUMNS = (
    "hub_id",
    "connection_id",
    "remote_object",
    "remote_id",
    "last_received_hash",
    "last_received_at",
    "last_sent_hash",
    "last_sent_at",
    "last_seen_at",
    "created_at",
)


def insert_links(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many links at once (driver-level executemany; a sync creates thousands per batch)."""
    if not rows:
        return
    from crmhub.store.types import sqlite_timestamp

    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    marks = ", ".join("?" if sqlite else "%s" for _ in _LINK_COLUMNS)
    formatted: dict[datetime, str] = {}

    def when(value: datetime | None) -> object:
        if value is None or not sqlite:
            return value
        text = formatted.get(value)
        if text is None:
            text = formatted[value] = sqlite_timestamp(value)
        return text

    conn.exec_driver_sql(
        f"INSERT INTO link ({', '.join(_LINK_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - fixed column names
        [
            (
                r["hub_id"],
                r["connection_id"],
                r["remote_object"],
                r["remote_id"],
                r.get("last_received_hash"),
                when(r.get("last_received_at")),
                r.get("last_sent_hash"),
                when(r.get("last_sent_at")),
                when(r.get("last_seen_at")),
                when(r.get("created_at")),
            )
            for r in rows
        ],
    )
