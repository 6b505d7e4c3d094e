"""Links: the cross-reference between one hub record and one remote record. Caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmhub.core.errors import ValidationError
from crmhub.store.batch import among
from crmhub.store.models import Link, Record


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
    for cond in among(session, Link.remote_id, list(remote_ids)):
        for link in session.scalars(
            select(Link).where(Link.connection_id == connection_id, Link.remote_object == remote_object, cond)
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
    "matched_by",
)


def insert_links(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many links at once: a sync creates thousands per batch. SQLite: the driver's
    ``executemany``; PostgreSQL: ``COPY`` lines formatted here (about a tenth of executemany's time)."""
    if not rows:
        return
    from crmhub.store.types import sqlite_timestamp

    conn = session.connection()
    if conn.dialect.name == "postgresql":
        _copy_links(conn, rows)
        return
    marks = ", ".join("?" for _ in _LINK_COLUMNS)
    formatted: dict[datetime, str] = {}

    def when(value: datetime | None) -> object:
        if value is None:
            return None
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
                r.get("matched_by"),
            )
            for r in rows
        ],
    )


def _copy_links(conn: Any, rows: Sequence[dict[str, Any]]) -> None:
    from crmhub.store.records import _copy_field, _CopyText

    formatted: dict[datetime | None, str] = {None: "\\N"}

    def when(value: datetime | None) -> str:
        text = formatted.get(value)
        if text is None:
            if value is None or value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r}: links keep timezone-aware UTC times")
            text = formatted[value] = value.isoformat()
        return text

    copy = _CopyText(conn, f"COPY link ({', '.join(_LINK_COLUMNS)}) FROM STDIN")
    try:
        for r in rows:
            copy.add(
                f"{_copy_field(r['hub_id'])}\t{int(r['connection_id'])}\t{_copy_field(r['remote_object'])}\t"
                f"{_copy_field(r['remote_id'])}\t{_copy_field(r.get('last_received_hash'))}\t"
                f"{when(r.get('last_received_at'))}\t{_copy_field(r.get('last_sent_hash'))}\t"
                f"{when(r.get('last_sent_at'))}\t{when(r.get('last_seen_at'))}\t{when(r.get('created_at'))}\t"
                f"{_copy_field(r.get('matched_by'))}\n"
            )
    except BaseException as exc:
        copy.close(exc)
        raise
    copy.close()


# -- what a sync needs, batch by batch ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkState:
    """The columns a sync reads of a link (no ORM object: a batch reads thousands)."""

    id: int
    hub_id: str
    remote_id: str
    last_received_hash: str | None
    last_sent_hash: str | None


def _link_states(
    session: Session, connection_id: int, remote_object: str, column: Any, values: Sequence[str]
) -> list[LinkState]:
    found: list[LinkState] = []
    for cond in among(session, column, values):
        stmt = select(
            Link.id, Link.hub_id, Link.remote_id, Link.last_received_hash, Link.last_sent_hash
        ).where(Link.connection_id == connection_id, Link.remote_object == remote_object, cond)
        found.extend(LinkState(*row) for row in session.execute(stmt))
    return found


def link_states_by_remote(
    session: Session, *, connection_id: int, remote_object: str, remote_ids: Sequence[str]
) -> dict[str, LinkState]:
    """remote id → link state, for one batch of remote ids of one remote object."""
    states = _link_states(session, connection_id, remote_object, Link.remote_id, remote_ids)
    return {state.remote_id: state for state in states}


def link_states_by_hub(
    session: Session, *, connection_id: int, remote_object: str, hub_ids: Sequence[str]
) -> dict[str, LinkState]:
    """hub id → link state, for one batch of hub records and one remote object."""
    states = _link_states(session, connection_id, remote_object, Link.hub_id, hub_ids)
    return {state.hub_id: state for state in states}


def hub_ids_of_remote(
    session: Session, *, connection_id: int, remote_ids: Sequence[str], type_id: int | None = None
) -> dict[str, str]:
    """remote id → hub id over every remote object of a connection (resolving references), only to
    hub records of object type ``type_id`` when given (two remote objects may use the same ids, e.g.
    HubSpot's companies and contacts)."""
    found: dict[str, str] = {}
    for cond in among(session, Link.remote_id, sorted(set(remote_ids))):
        stmt = select(Link.remote_id, Link.hub_id).where(Link.connection_id == connection_id, cond)
        if type_id is not None:
            stmt = stmt.join(Record, Record.hub_id == Link.hub_id).where(Record.object_type_id == type_id)
        found.update((remote_id, hub_id) for remote_id, hub_id in session.execute(stmt))
    return found


def mark_received(
    session: Session, items: Sequence[tuple[int, str | None]], *, now: datetime, seen: bool
) -> None:
    """Record what was received over existing links: (link id, hash) pairs; ``seen`` for full syncs."""
    if items:
        extra = {"last_seen_at": now} if seen else {}
        session.execute(
            update(Link),
            [
                {"id": lid, "last_received_hash": digest, "last_received_at": now, **extra}
                for lid, digest in items
            ],
        )


def mark_sent(session: Session, items: Sequence[tuple[int, str]], *, now: datetime) -> None:
    """Record what was sent over existing links: (link id, hash) pairs."""
    if items:
        session.execute(
            update(Link),
            [{"id": lid, "last_sent_hash": digest, "last_sent_at": now} for lid, digest in items],
        )


def mark_seen(session: Session, link_ids: Sequence[int], *, now: datetime) -> None:
    """A full sync saw these links' remote records (unchanged ones included)."""
    for cond in among(session, Link.id, list(link_ids), integers=True):
        session.execute(update(Link).where(cond).values(last_seen_at=now))


def forget_received(session: Session, link_ids: Sequence[int]) -> None:
    """Clear the received hash, so the remote record is loaded again the next time it is read."""
    for cond in among(session, Link.id, list(link_ids), integers=True):
        session.execute(update(Link).where(cond).values(last_received_hash=None))


def delete_links(session: Session, link_ids: Sequence[int]) -> int:
    """Remove links by id; returns how many."""
    removed = 0
    for cond in among(session, Link.id, list(link_ids), integers=True):
        removed += int(session.execute(delete(Link).where(cond)).rowcount or 0)  # type: ignore[attr-defined]
    return removed


def unseen_since(
    session: Session, *, connection_id: int, remote_object: str, since: datetime
) -> list[tuple[int, str]]:
    """(link id, hub id) of links of live hub records whose remote record no full sync saw since ``since``."""
    stmt = (
        select(Link.id, Link.hub_id)
        .where(
            Link.connection_id == connection_id,
            Link.remote_object == remote_object,
            or_(Link.last_seen_at.is_(None), Link.last_seen_at < since),
        )
        .join(Record, and_(Record.hub_id == Link.hub_id, Record.deleted_at.is_(None)))
    )
    return [(int(lid), str(hub_id)) for lid, hub_id in session.execute(stmt)]


def remote_ids_of_hub(
    session: Session, *, connection_id: int, hub_ids: Sequence[str], remote_object: str | None = None
) -> dict[str, str]:
    """hub id → remote id on a connection (of one remote object when given): e.g. a contact's parent."""
    found: dict[str, str] = {}
    for cond in among(session, Link.hub_id, list(hub_ids)):
        stmt = select(Link.hub_id, Link.remote_id).where(Link.connection_id == connection_id, cond)
        if remote_object:
            stmt = stmt.where(Link.remote_object == remote_object)
        found.update((hub_id, remote_id) for hub_id, remote_id in session.execute(stmt))
    return found


# -- hub-id write-back that survives a kill, dry-run delete prediction ------------------------------


def mark_write_back_pending(
    session: Session, *, connection_id: int, remote_object: str, remote_ids: Sequence[str]
) -> None:
    """These links' hub ids still have to be stamped into their remote records (set with the page)."""
    _set_write_back_pending(session, connection_id, remote_object, remote_ids, True)


def clear_write_back_pending(
    session: Session, *, connection_id: int, remote_object: str, remote_ids: Sequence[str]
) -> None:
    """The CRM accepted these links' hub-id stamps."""
    _set_write_back_pending(session, connection_id, remote_object, remote_ids, False)


def _set_write_back_pending(
    session: Session, connection_id: int, remote_object: str, remote_ids: Sequence[str], pending: bool
) -> None:
    for cond in among(session, Link.remote_id, list(remote_ids)):
        session.execute(
            update(Link)
            .where(Link.connection_id == connection_id, Link.remote_object == remote_object, cond)
            .values(write_back_pending=pending)
        )


def pending_write_backs(
    session: Session, *, connection_id: int, remote_object: str, after_id: int = 0, limit: int = 2000
) -> list[tuple[int, str, str]]:
    """(link id, remote id, hub id) of links of live hub records whose hub-id stamp is still to be
    written, in link id order after ``after_id``."""
    stmt = (
        select(Link.id, Link.remote_id, Link.hub_id)
        .where(
            Link.connection_id == connection_id,
            Link.remote_object == remote_object,
            Link.write_back_pending.is_(True),
            Link.id > after_id,
        )
        .join(Record, and_(Record.hub_id == Link.hub_id, Record.deleted_at.is_(None)))
        .order_by(Link.id)
        .limit(limit)
    )
    return [(int(lid), str(remote_id), str(hub_id)) for lid, remote_id, hub_id in session.execute(stmt)]


def seen_since(
    session: Session, *, connection_id: int, remote_object: str, remote_ids: Sequence[str], since: datetime
) -> list[int]:
    """Ids of the links of ``remote_ids`` that a full sync marked seen at or after ``since``."""
    found: list[int] = []
    for cond in among(session, Link.remote_id, list(remote_ids)):
        stmt = select(Link.id).where(
            Link.connection_id == connection_id,
            Link.remote_object == remote_object,
            cond,
            Link.last_seen_at >= since,
        )
        found.extend(int(lid) for (lid,) in session.execute(stmt))
    return found
