"""Hub records: the bulk upsert (by key or hub id, merged per attribute with stamps), reads, soft-delete.

The upsert is the hub's hot path, so it works on plain tuples and driver-level SQL:

1. coerce every value to its attribute's canonical form (a bad value fails only its record);
2. read the batch's existing records in one query;
3. merge per attribute — optionally keeping the newer value by source time — and classify each
   record as created / updated / unchanged / ignored / failed;
4. write only what changed: ``executemany`` on SQLite, ``COPY`` (+ an ``UPDATE … FROM`` a staging
   table) on PostgreSQL.

Writers of one object type are serialised (SQLite: the ``BEGIN IMMEDIATE`` write lock;
PostgreSQL: a transaction-scoped advisory lock), so read-merge-write never loses a concurrent update.
Functions here take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from crmhub.core.clock import utcnow
from crmhub.core.errors import NotFoundError, ValidationError
from crmhub.core.ids import new_hub_ids
from crmhub.core.values import (
    COERCERS,
    CoercionError,
    describe_value,
    format_datetime,
    json_has_nul,
    strip_nul,
)
from crmhub.store.batch import among
from crmhub.store.models import KEY_MAX_LENGTH, Record
from crmhub.store.schema import TypeSchema
from crmhub.store.types import sqlite_timestamp

#: Namespace of the advisory locks that serialise writers per object type on PostgreSQL.
_PG_LOCK_NAMESPACE = 0x6372_6D68  # "crmh"
_MISSING = object()


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    IGNORED = "ignored"  # new record while creation is off
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Stamp:
    """Who writes: the job and run behind an upsert (both optional for hand-made writes)."""

    job: str | None = None
    run: str | None = None


@dataclass(slots=True)
class RecordResult:
    """What happened to one input row."""

    index: int
    status: Outcome
    hub_id: str | None = None
    key: str | None = None
    attribute: str | None = None
    value: Any = None
    error: str | None = None
    changed: tuple[str, ...] = ()
    #: Matched by hub id, the row named another key than the record's: (the record's key, the
    #: refused value). The key is left as it was and the rest of the row applied.
    key_conflict: tuple[Any, Any] | None = None


@dataclass(slots=True)
class UpsertResult:
    results: list[RecordResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {o.value: 0 for o in Outcome}
        for r in self.results:
            counts[r.status.value] += 1
        return counts

    @property
    def failed(self) -> list[RecordResult]:
        return [r for r in self.results if r.status is Outcome.FAILED]

    def extend(self, other: UpsertResult, offset: int) -> None:
        for r in other.results:
            r.index += offset
            self.results.append(r)


def _source_time_text(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_datetime(value)
    return COERCERS["datetime"](value)  # type: ignore[no-any-return]


@dataclass(slots=True)
class PreparedBatch:
    """A batch with every value coerced and every row keyed; made without touching the database."""

    size: int
    match: str  #: "key", "hub_id" or "create" (see upsert_records)
    results: list[RecordResult | None]
    #: ident (normalised key or hub id) → the rows naming it, in input order: (index, values, source time)
    pending: dict[str, list[tuple[int, dict[str, Any], str | None]]]


def prepare_batch(
    schema: TypeSchema,
    rows: Sequence[Mapping[str, Any]],
    *,
    source_times: Sequence[datetime | str | None] | None = None,
    match: str = "key",
    coerced: bool = False,
) -> PreparedBatch:
    """Coerce and key one batch. Pure CPU work, so a caller may run it ahead in another thread.

    ``coerced`` says the values are canonical already (the sync engine's transformer makes them
    so): they are taken as they are.
    """
    if match not in ("key", "hub_id", "create"):
        raise ValueError(f"match must be 'key', 'hub_id' or 'create', not {match!r}")
    if match == "key" and schema.key is None:
        raise NotFoundError(f"object type {schema.name!r} has no key attribute; upsert by hub_id instead")
    results: list[RecordResult | None] = [None] * len(rows)
    pending: dict[str, list[tuple[int, dict[str, Any], str | None]]] = {}
    coercers = schema.coercers
    known = coercers.keys()
    key_attr = schema.key
    by_key = match == "key"
    name = schema.name

    for i, row in enumerate(rows):
        bad: tuple[str, Any, str] | None = None
        try:
            # Fast path: one comprehension; any problem falls back to the loop that names it.
            if coerced:
                vals: dict[str, Any] = dict(row)
                vals.pop("hub_id", None)
                if not vals.keys() <= known:
                    raise KeyError
            else:
                vals = {attr: coercers[attr](raw) for attr, raw in row.items()}
        except (KeyError, CoercionError):
            vals = {}
            for attr, raw in row.items():
                if attr == "hub_id":
                    continue
                coerce = coercers.get(attr)
                if coerce is None:
                    bad = (attr, raw, f"unknown attribute {attr!r} (define it first)")
                    break
                try:
                    vals[attr] = coerce(raw)
                except CoercionError as exc:
                    bad = (attr, raw, f"attribute {attr!r} {exc}, got {describe_value(raw)}")
                    break
        if by_key:
            ident = schema.normalise_key(vals.get(key_attr)) if key_attr in vals else None
        elif match == "create":
            ident = f"\x00new {i}"  # every row is a record of its own (no key, no hub id yet)
        else:
            raw_id = row.get("hub_id")
            ident = raw_id if isinstance(raw_id, str) and raw_id else None
        if bad is not None:
            attr, raw, msg = bad
            results[i] = RecordResult(
                i,
                Outcome.FAILED,
                key=ident,
                attribute=attr,
                value=raw,
                error=f"{name} {ident or f'row {i}'}: {msg}",
            )
            continue
        if by_key and ident is not None and len(ident) > KEY_MAX_LENGTH:
            results[i] = RecordResult(
                i,
                Outcome.FAILED,
                key=f"{ident[:40]}…",
                attribute=key_attr,
                value=f"{ident[:40]}…",
                error=(
                    f"{name} row {i}: key attribute {key_attr!r} is {len(ident)} characters long; "
                    f"keys are at most {KEY_MAX_LENGTH} (map a shorter, unique value to the key)"
                ),
            )
            continue
        if ident is None:
            what = f"key attribute {key_attr!r}" if by_key else "'hub_id'"
            results[i] = RecordResult(
                i,
                Outcome.FAILED,
                attribute=key_attr if by_key else "hub_id",
                error=f"{name} row {i}: {what} is missing or empty",
            )
            continue
        try:
            st = _source_time_text(source_times[i]) if source_times is not None else None
        except CoercionError as exc:
            results[i] = RecordResult(
                i, Outcome.FAILED, key=ident, error=f"{name} {ident}: source time {exc}"
            )
            continue
        bucket = pending.get(ident)
        if bucket is None:
            pending[ident] = [(i, vals, st)]
        else:
            bucket.append((i, vals, st))

    return PreparedBatch(len(rows), match, results, pending)


def upsert_records(
    session: Session,
    schema: TypeSchema,
    rows: Sequence[Mapping[str, Any]],
    *,
    stamp: Stamp = Stamp(),
    source_times: Sequence[datetime | str | None] | None = None,
    match: str = "key",
    most_recent: bool = False,
    create: bool = True,
    now: datetime | None = None,
    coerced: bool = False,
) -> UpsertResult:
    """Upsert one batch of rows (attribute → value) into ``schema``'s object type.

    ``match="key"`` finds existing records by the key attribute (case-insensitively where the key
    says so); ``match="hub_id"`` by a ``hub_id`` entry in each row (never creating); ``match="create"``
    makes every row a new record (the sync's route for records no link, key or match rule found,
    which may have no key). Matched by hub id, a row never changes the record's key: a different
    value (or None) is left out and reported as ``key_conflict`` (see :func:`change_key`); a record
    without a key takes the row's, unless another record holds it. With
    ``most_recent`` an attribute keeps its stored value when its stamp's source time is newer than
    the row's source time. A ``None`` value removes the attribute. Rows naming the same record
    apply in order.
    """
    prepared = prepare_batch(schema, rows, source_times=source_times, match=match, coerced=coerced)
    return start_batch(
        session, schema, prepared, stamp=stamp, most_recent=most_recent, create=create, now=now
    ).finish()


class BatchInFlight:
    """A batch merged and streaming into the database, its writes not yet complete.

    :meth:`finish` completes them (the end of the ``COPY``, the updates) and mostly waits on the
    server, so a caller may run it in another thread while it merges the next batch on another
    connection. Either :meth:`finish` or :meth:`abandon` must be called; the caller commits.
    """

    __slots__ = ("_sink", "_session", "_updates", "_now", "_dialect", "_results", "_key_fills", "idents")

    def __init__(
        self,
        session: Session,
        sink: _InsertSink,
        updates: dict[str, tuple[dict[str, Any], dict[str, Any]]],
        results: list[RecordResult | None],
        idents: Any,
        *,
        now: datetime,
        dialect: str,
        key_fills: dict[str, str] | None = None,
    ) -> None:
        self._session, self._sink, self._updates, self._results = session, sink, updates, results
        self._now, self._dialect = now, dialect
        self._key_fills = key_fills or {}
        #: The normalised keys (or hub ids) this batch writes.
        self.idents = idents

    def finish(self) -> UpsertResult:
        self._sink.__exit__(None, None, None)
        if self._updates:
            _update(self._session, self._updates, now=self._now, dialect=self._dialect)
        if self._key_fills:
            _set_keys(self._session, self._key_fills)
        return UpsertResult([r for r in self._results if r is not None])

    def abandon(self, exc: BaseException) -> None:
        """Cancel the writes still streaming (the caller then rolls the transaction back)."""
        self._sink.__exit__(type(exc), exc, exc.__traceback__)


def lock_type_for_session(connection: Any, schema: TypeSchema) -> None:
    """PostgreSQL: take the writers' lock of ``schema`` for this database session (not one transaction).

    For a caller that writes one object type in many transactions over other connections (see
    ``start_batch(locked=True)``); :func:`unlock_type_for_session` gives it back.
    """
    connection.exec_driver_sql("SELECT pg_advisory_lock(%s, %s)", (_PG_LOCK_NAMESPACE, schema.id))


def unlock_type_for_session(connection: Any, schema: TypeSchema) -> None:
    connection.exec_driver_sql("SELECT pg_advisory_unlock(%s, %s)", (_PG_LOCK_NAMESPACE, schema.id))


def start_batch(
    session: Session,
    schema: TypeSchema,
    prepared: PreparedBatch,
    *,
    stamp: Stamp = Stamp(),
    most_recent: bool = False,
    create: bool = True,
    now: datetime | None = None,
    locked: bool = False,
) -> BatchInFlight:
    """Read, merge and start writing a prepared batch (see upsert_records); ``.finish()`` completes it.

    ``locked`` says the caller holds the object type's writers' lock already (PostgreSQL: see
    :func:`lock_type_for_session`); otherwise this transaction takes it.
    """
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and not locked:
        session.connection().exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%s, %s)", (_PG_LOCK_NAMESPACE, schema.id)
        )
    results = prepared.results
    pending = prepared.pending
    mode = prepared.match
    by_key = mode == "key"
    name = schema.name
    key_attr = schema.key

    existing = (
        {}
        if mode == "create"
        else _fetch_existing(session, schema, list(pending), by_key=by_key, dialect=dialect)
    )
    key_fills: dict[str, str] = {}
    conflicts: dict[int, tuple[Any, Any]] = {}
    if mode == "hub_id" and key_attr is not None:
        conflicts = _protect_keys(session, schema, pending, existing, key_fills, dialect=dialect)
    entry_base = [None, stamp.job, stamp.run]
    updates: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    new_ids = iter(new_hub_ids(sum(1 for k in pending if k not in existing))) if create else iter(())

    sink = _InsertSink(session, schema, now=now, dialect=dialect)
    try:
        for ident, items in pending.items():
            current = existing.get(ident)
            if current is None and mode == "hub_id":
                for i, _vals, _st in items:
                    results[i] = RecordResult(
                        i,
                        Outcome.FAILED,
                        key=ident,
                        attribute="hub_id",
                        error=f"{name}: no record with hub id {ident!r}",
                    )
                continue
            if current is None:
                if not create:
                    for i, _vals, _st in items:
                        results[i] = RecordResult(i, Outcome.IGNORED, key=ident)
                    continue
                i, vals, st = items[0]
                entry = [st, stamp.job, stamp.run] if st is not None else entry_base
                values = {k: v for k, v in vals.items() if v is not None}
                hub_id = next(new_ids)
                current = (hub_id, values, {"_": entry}, False, None)
                created_new = True
                results[i] = RecordResult(i, Outcome.CREATED, hub_id=hub_id, key=ident, changed=tuple(values))
                rest = items[1:]
            else:
                created_new = False
                rest = items
            hub_id, values, stamps, deleted, _key = current
            revive = deleted  # a soft-deleted record named again comes back (an update even if equal)
            dirty = False
            for i, vals, st in rest:
                if not revive and not most_recent and {a: values.get(a) for a in vals} == vals:
                    # Nothing differs (a None in vals means "absent", which .get() also yields).
                    results[i] = RecordResult(i, Outcome.UNCHANGED, hub_id=hub_id, key=ident)
                    continue
                if not isinstance(
                    stamps, dict
                ):  # read as JSON text: parsed only for a record that may change
                    stamps = orjson.loads(stamps)
                entry = [st, stamp.job, stamp.run] if st is not None else entry_base
                new_values = dict(values)
                changed: list[str] = []
                for attr, v in vals.items():
                    if most_recent and st is not None and attr in new_values:
                        # Only a value that exists has a stamp to defend.
                        old_stamp = stamps.get(attr) or stamps.get("_")
                        if old_stamp and old_stamp[0] and old_stamp[0] > st:
                            continue
                    if v is None:
                        if attr in new_values:
                            del new_values[attr]
                            changed.append(attr)
                    elif new_values.get(attr, _MISSING) != v:
                        new_values[attr] = v
                        changed.append(attr)
                if changed or revive:
                    stamps = _restamp(stamps, new_values, changed, entry)
                    values = new_values
                    # A later row for a record this batch creates counts as an update of it.
                    results[i] = RecordResult(
                        i, Outcome.UPDATED, hub_id=hub_id, key=ident, changed=tuple(changed)
                    )
                    dirty = True
                else:
                    results[i] = RecordResult(i, Outcome.UNCHANGED, hub_id=hub_id, key=ident)
            if created_new:
                key: str | None
                if by_key:
                    key = ident
                else:
                    key = schema.normalise_key(values.get(key_attr)) if key_attr is not None else None
                sink.add(hub_id, key, values, stamps)
            elif dirty:
                updates[hub_id] = (values, stamps)
    except BaseException as exc:
        sink.__exit__(type(exc), exc, exc.__traceback__)
        raise
    for i, conflict in conflicts.items():
        result = results[i]
        if result is not None:
            result.key_conflict = conflict
    return BatchInFlight(
        session, sink, updates, results, pending.keys(), now=now, dialect=dialect, key_fills=key_fills
    )


def _protect_keys(
    session: Session,
    schema: TypeSchema,
    pending: dict[str, list[tuple[int, dict[str, Any], str | None]]],
    existing: dict[str, tuple[str, dict[str, Any], Any, bool, str | None]],
    key_fills: dict[str, str],
    *,
    dialect: str,
) -> dict[int, tuple[Any, Any]]:
    """Rows matched by hub id never change a record's key (see upsert_records).

    A row naming another key loses that value (the rest of it applies); the returned map says so
    (row index → (the record's key value, the refused value)). A record without a key takes the
    first key a row gives it, unless another record holds that key. ``pending`` is changed in
    place; ``key_fills`` receives hub id → the key to write.
    """
    key_attr = schema.key
    assert key_attr is not None
    conflicts: dict[int, tuple[Any, Any]] = {}
    wanted: dict[str, str] = {}  # hub id → the key a key-less record is to take
    for ident, items in pending.items():
        current = existing.get(ident)
        if current is None or not any(key_attr in vals for _i, vals, _st in items):
            continue
        current_key = current[4]
        kept: list[tuple[int, dict[str, Any], str | None]] = []
        for i, vals, st in items:
            if key_attr in vals:
                want = schema.normalise_key(vals[key_attr])
                if current_key is None and want is not None and wanted.setdefault(ident, want) == want:
                    pass  # a key-less record takes this key (checked below against other records)
                elif want != current_key:
                    conflicts[i] = (current[1].get(key_attr), vals[key_attr])
                    vals = {a: v for a, v in vals.items() if a != key_attr}
            kept.append((i, vals, st))
        pending[ident] = kept
    if wanted:
        taken = _fetch_existing(session, schema, sorted(set(wanted.values())), by_key=True, dialect=dialect)
        claimed: set[str] = set()
        for hub_id, want in wanted.items():
            if want not in taken and want not in claimed:
                claimed.add(want)
                key_fills[hub_id] = want
                continue
            # Another record holds that key: this record stays key-less.
            kept = []
            for i, vals, st in pending[hub_id]:
                if key_attr in vals:
                    conflicts[i] = (None, vals[key_attr])
                    vals = {a: v for a, v in vals.items() if a != key_attr}
                kept.append((i, vals, st))
            pending[hub_id] = kept
    return conflicts


def _restamp(
    stamps: dict[str, Any], values: dict[str, Any], changed: list[str], entry: list[Any]
) -> dict[str, Any]:
    if len(changed) >= len(values) and all(a in changed for a in values):
        return {"_": entry}
    new = {k: v for k, v in stamps.items() if k == "_" or k in values}
    for attr in changed:
        if attr in values:
            new[attr] = entry
    return new


def _fetch_existing(
    session: Session, schema: TypeSchema, idents: list[str], *, by_key: bool, dialect: str
) -> dict[str, tuple[str, dict[str, Any], Any, bool, str | None]]:
    """Existing records of a batch: ident → (hub_id, values, stamps as JSON text, is_deleted, key)."""
    found: dict[str, tuple[str, dict[str, Any], Any, bool, str | None]] = {}
    if not idents:
        return found
    # Driver-level cursor: this query returns up to a whole batch and runs once per batch.
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    column = "key" if by_key else "hub_id"
    loads = orjson.loads
    rows: list[Any] = []
    if dialect == "postgresql":
        # By hub id: "object_type_id + 0" keeps the planner on the primary key (see of_type_in_hub_id_order).
        type_column = "object_type_id" if by_key else "object_type_id + 0"
        # The idents travel as one JSON array: psycopg adapts a list element by element in
        # Python (about 2 µs each); orjson writes the whole batch's in a fraction of that.
        sql = (
            f'SELECT hub_id, {column}, "values"::text, stamps::text, deleted_at IS NOT NULL, key '  # noqa: S608 - column is one of two names
            f"FROM record WHERE {type_column} = %s "
            f"AND {column} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))"
        )
        cursor.execute(sql, (schema.id, orjson.dumps(idents).decode()))
        rows = cursor.fetchall()
    else:
        for start in range(0, len(idents), 5000):
            chunk = idents[start : start + 5000]
            marks = ",".join("?" * len(chunk))
            # By hub id: "+object_type_id" keeps SQLite on the primary key (see of_type_in_hub_id_order).
            type_column = "object_type_id" if by_key else "+object_type_id"
            sql = (
                f'SELECT hub_id, {column}, "values", stamps, deleted_at IS NOT NULL, key '  # noqa: S608 - placeholders only
                f"FROM record WHERE {type_column} = ? AND {column} IN ({marks})"
            )
            cursor.execute(sql, (schema.id, *chunk))
            rows.extend(cursor.fetchall())
    cursor.close()
    for hub_id, ident, values, stamps, deleted, key in rows:
        found[ident] = (hub_id, loads(values), stamps, bool(deleted), key)  # stamps: parsed when needed
    return found


class _InsertSink:
    """Where new records go as the merge finalises them.

    PostgreSQL: rows stream into ``COPY`` as they come, so the server parses and indexes one part of
    the batch while Python merges the next. SQLite: collected and written with one ``executemany``.
    """

    def __init__(self, session: Session, schema: TypeSchema, *, now: datetime, dialect: str) -> None:
        self._conn = session.connection()
        self._ot = schema.id
        self._dialect = dialect
        self._rows: list[tuple[Any, ...]] = []
        self._copy: _CopyText | None = None
        self._ts = sqlite_timestamp(now)
        self._tail = f"\t{now.isoformat()}\t{now.isoformat()}\n"  # PostgreSQL: created_at, updated_at
        self._stamps: dict[str, Any] | None = None
        self._stamps_text = ""

    def add(self, hub_id: str, key: str | None, values: dict[str, Any], stamps: dict[str, Any]) -> None:
        dumps = _dump_values
        if self._dialect == "postgresql":
            copy = self._copy
            if copy is None:
                copy = self._copy = _CopyText(
                    self._conn,
                    'COPY record (hub_id, object_type_id, key, "values", stamps, created_at, updated_at) '
                    "FROM STDIN",
                )
            if stamps != self._stamps:  # a batch's new records mostly share one stamp
                self._stamps, self._stamps_text = stamps, _copy_json(dumps(stamps))
            copy.add(
                f"{hub_id}\t{self._ot}\t{_copy_field(key)}\t{_copy_json(dumps(values))}\t"
                f"{self._stamps_text}{self._tail}"
            )
        else:
            ts = self._ts
            self._rows.append((hub_id, self._ot, key, dumps(values).decode(), dumps(stamps).decode(), ts, ts))

    def __enter__(self) -> _InsertSink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._copy is not None:
            self._copy.close(exc)
        elif self._rows and exc_type is None:
            self._conn.exec_driver_sql(
                'INSERT INTO record (hub_id, object_type_id, key, "values", stamps, created_at, updated_at) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                self._rows,
            )


class _CopyText:
    """PostgreSQL: lines of ``COPY … FROM STDIN`` (text format) that the caller formats itself.

    psycopg's ``write_row`` adapts each field in turn, about 10 µs a row here; a record's line is
    one f-string of text the hub has already (JSON documents, ids, a timestamp formatted once per
    batch), about 3 µs. Lines go to the server a few hundred at a time, so it parses while the
    next ones are made.
    """

    FLUSH_EVERY = 256

    def __init__(self, conn: Any, sql: str) -> None:
        self._stack = ExitStack()
        raw = conn.connection.driver_connection
        cur = self._stack.enter_context(raw.cursor())
        self._copy = self._stack.enter_context(cur.copy(sql))
        self._lines: list[str] = []

    def add(self, line: str) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) >= self.FLUSH_EVERY:
            self._copy.write("".join(lines))
            lines.clear()

    def close(self, exc: BaseException | None = None) -> None:
        """End the COPY (its last lines first); with ``exc``, abort it instead."""
        if exc is None and self._lines:
            self._copy.write("".join(self._lines))
        self._lines.clear()
        if exc is None:
            self._stack.__exit__(None, None, None)
        else:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)


def _copy_field(value: str | None) -> str:
    """A text field of COPY's text format: NULL is ``\\N``; backslash, tab, newline and CR are escaped."""
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_json(doc: bytes) -> str:
    """A JSON document as a COPY text field: orjson escapes every control character inside strings,
    so of COPY's special characters only the backslash can occur, and is doubled."""
    text = doc.decode()
    return text.replace("\\", "\\\\") if "\\" in text else text


def _dump_values(values: dict[str, Any]) -> bytes:
    """JSON of a record's values or stamps, without NUL characters (PostgreSQL's JSONB refuses them).

    Values coerced by the hub or read by a sync have none already; this catches what an expression
    made, on both databases alike.
    """
    doc = orjson.dumps(values)
    return orjson.dumps(strip_nul(values)) if json_has_nul(doc) else doc


def _update(
    session: Session, rows: dict[str, tuple[dict[str, Any], dict[str, Any]]], *, now: datetime, dialect: str
) -> None:
    dumps = _dump_values
    conn = session.connection()
    if dialect == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                'CREATE TEMP TABLE IF NOT EXISTS _record_update (hub_id text PRIMARY KEY, "values" jsonb, stamps jsonb) '
                "ON COMMIT DELETE ROWS"
            )
            copy = _CopyText(conn, 'COPY _record_update (hub_id, "values", stamps) FROM STDIN')
            try:
                for hub_id, (values, stamps) in rows.items():
                    copy.add(f"{hub_id}\t{_copy_json(dumps(values))}\t{_copy_json(dumps(stamps))}\n")
            except BaseException as exc:
                copy.close(exc)
                raise
            copy.close()
            cur.execute(
                'UPDATE record AS r SET "values" = u."values", stamps = u.stamps, updated_at = %s, deleted_at = NULL '
                "FROM _record_update AS u WHERE r.hub_id = u.hub_id",
                (now,),
            )
            cur.execute("DELETE FROM _record_update")
        return
    ts = sqlite_timestamp(now)
    conn.exec_driver_sql(
        'UPDATE record SET "values" = ?, stamps = ?, updated_at = ?, deleted_at = NULL WHERE hub_id = ?',
        [(dumps(v).decode(), dumps(s).decode(), ts, h) for h, (v, s) in rows.items()],
    )


def _set_keys(session: Session, keys: Mapping[str, str | None]) -> None:
    """hub id → the record's new (normalised) key column."""
    table: Any = Record.__table__
    session.connection().execute(
        table.update().where(table.c.hub_id == bindparam("h")).values(key=bindparam("k")),
        [{"h": hub_id, "k": key} for hub_id, key in keys.items()],
    )


# Reads ------------------------------------------------------------------------------------------


def get_record(session: Session, hub_id: str, *, include_deleted: bool = False) -> Record:
    record = session.get(Record, hub_id)
    if record is None or (record.deleted_at is not None and not include_deleted):
        raise NotFoundError(
            f"no record with hub id {hub_id!r}", hint="list records with `crmhub records list`"
        )
    return record


def find_by_key(session: Session, schema: TypeSchema, key: Any) -> Record | None:
    ident = schema.normalise_key(key)
    if ident is None:
        return None
    return session.scalar(select(Record).where(Record.object_type_id == schema.id, Record.key == ident))


def _equality_filters(stmt: Select[Any], schema: TypeSchema, where: Mapping[str, Any]) -> Select[Any]:
    for attr, raw in where.items():
        if attr not in schema.types:
            raise NotFoundError(
                f"object type {schema.name!r} has no attribute {attr!r}",
                hint="known attributes: " + ", ".join(sorted(schema.types)),
            )
        try:
            value = schema.coercers[attr](raw)
        except CoercionError as exc:
            raise NotFoundError(f"filter {attr}={describe_value(raw)}: attribute {attr!r} {exc}") from None
        element = Record.values[attr]
        type_ = schema.types[attr]
        if value is None:
            stmt = stmt.where(element.as_string().is_(None))
        elif type_ in ("number", "currency"):
            stmt = stmt.where(element.as_float() == float(value))
        elif type_ == "boolean":
            stmt = stmt.where(element.as_boolean() == value)
        elif type_ == "multi_text":
            raise NotFoundError(f"attribute {attr!r} is multi-valued; equality filters take single values")
        else:
            stmt = stmt.where(element.as_string() == value)
    return stmt


def of_type_in_hub_id_order(schema: TypeSchema) -> Any:
    """``object_type_id = ?`` for queries that page in hub id order.

    Written ``object_type_id + 0`` so that no index on ``object_type_id`` can serve it: without
    statistics SQLite otherwise picks the (object_type_id, updated_at) index, reads every record of
    the type and sorts them — per page, so paging a million records took minutes. The primary key
    walks hub ids in order and stops at the page's end.
    """
    return (Record.object_type_id + 0) == schema.id


def list_records(
    session: Session,
    schema: TypeSchema,
    *,
    where: Mapping[str, Any] | None = None,
    limit: int = 50,
    after: str | None = None,
    include_deleted: bool = False,
) -> list[Record]:
    """Records of one object type in hub id order; ``after`` pages by hub id (keyset pagination)."""
    stmt = select(Record).where(of_type_in_hub_id_order(schema))
    if not include_deleted:
        stmt = stmt.where(Record.deleted_at.is_(None))
    if where:
        stmt = _equality_filters(stmt, schema, where)
    if after:
        stmt = stmt.where(Record.hub_id > after)
    return list(session.scalars(stmt.order_by(Record.hub_id).limit(limit)))


def count_records(session: Session, schema: TypeSchema, *, include_deleted: bool = False) -> int:
    stmt = select(func.count()).select_from(Record).where(Record.object_type_id == schema.id)
    if not include_deleted:
        stmt = stmt.where(Record.deleted_at.is_(None))
    return int(session.scalar(stmt) or 0)


def soft_delete(session: Session, hub_ids: Sequence[str], *, now: datetime | None = None) -> int:
    """Mark records deleted (they keep their values and links); returns how many changed."""
    if not hub_ids:
        return 0
    now = now or utcnow()
    result = session.execute(
        update(Record)
        .where(Record.hub_id.in_(list(hub_ids)), Record.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def stamp_of(record: Record, attribute: str) -> dict[str, Any] | None:
    """The lineage of one attribute's value: source time, job and run that set it."""
    if attribute not in record.values:
        return None
    entry = record.stamps.get(attribute) or record.stamps.get("_")
    if not entry:
        return None
    source_time, job, run = entry
    return {"source_time": source_time, "job": job, "run": run}


def changed_page(
    session: Session,
    schema: TypeSchema,
    *,
    after: str | None,
    limit: int,
    since: datetime | None = None,
    also: Sequence[str] = (),
    where: Any = None,
) -> list[Record]:
    """Live records in hub id order after ``after``: those updated since ``since`` (all when None)
    plus the hub ids in ``also``; ``where`` is an extra SQL condition (a compiled expression filter)."""
    # Changed since a watermark: the (object_type_id, updated_at) index finds them; everything: the
    # primary key walks them in order.
    of_type = Record.object_type_id == schema.id if since is not None else of_type_in_hub_id_order(schema)
    stmt = select(Record).where(of_type, Record.deleted_at.is_(None))
    if after:
        stmt = stmt.where(Record.hub_id > after)
    if since is not None:
        changed = Record.updated_at >= since
        stmt = stmt.where(or_(changed, Record.hub_id.in_(list(also))) if also else changed)
    if where is not None:
        stmt = stmt.where(where)
    return list(session.scalars(stmt.order_by(Record.hub_id).limit(limit)))


# Identity look-ups (the sync's routes after the link: key, then the job's match rules) -------------


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """A live record found by its key, and the job whose write set that key (None: no job did)."""

    hub_id: str
    key_job: str | None


def find_by_keys(session: Session, schema: TypeSchema, keys: Sequence[str]) -> dict[str, KeyHolder]:
    """Normalised key → the record holding it, for one batch of keys (soft-deleted records included:
    a key names its record until the record is gone)."""
    found: dict[str, KeyHolder] = {}
    key_attr = schema.key
    for cond in among(session, Record.key, list(keys)):
        stmt = select(Record.hub_id, Record.key, Record.stamps).where(
            Record.object_type_id == schema.id, cond
        )
        for hub_id, key, stamps in session.execute(stmt):
            entry = (stamps.get(key_attr) or stamps.get("_")) if isinstance(stamps, dict) else None
            job = entry[1] if isinstance(entry, list) and len(entry) > 1 else None
            found[key] = KeyHolder(hub_id, None if job is None else str(job))
    return found


def find_by_attribute(
    session: Session, schema: TypeSchema, attribute: str, values: Sequence[str]
) -> dict[str, list[str]]:
    """Lower-cased value → hub ids of the live records whose ``attribute`` holds it, compared
    case-insensitively (a match rule: ``domain``, ``email``). Values are given normalised."""
    found: dict[str, list[str]] = {}
    if attribute not in schema.types:
        raise NotFoundError(f"object type {schema.name!r} has no attribute {attribute!r}")
    element = func.lower(Record.values[attribute].as_string())
    for start in range(0, len(values), 500):
        chunk = list(values[start : start + 500])
        stmt = (
            select(element, Record.hub_id)
            .where(Record.object_type_id == schema.id, Record.deleted_at.is_(None), element.in_(chunk))
            .order_by(Record.hub_id)
        )
        for value, hub_id in session.execute(stmt):
            found.setdefault(value, []).append(hub_id)
    return found


def change_key(
    session: Session, schema: TypeSchema, hub_id: str, value: Any, *, now: datetime | None = None
) -> tuple[Any, Any]:
    """Set a record's key attribute (the one write that may change it); returns (old, new) values.

    ValidationError when another record holds the new key or the value does not fit the attribute.
    """
    key_attr = schema.key
    if key_attr is None:
        raise ValidationError(f"object type {schema.name!r} has no key attribute")
    record = get_record(session, hub_id, include_deleted=True)
    if record.object_type_id != schema.id:
        raise NotFoundError(f"no {schema.name} record with hub id {hub_id!r}")
    try:
        coerced = schema.coercers[key_attr](value)
    except CoercionError as exc:
        raise ValidationError(f"{schema.name} {hub_id}: key attribute {key_attr!r} {exc}") from None
    ident = schema.normalise_key(coerced)
    if ident is None:
        raise ValidationError(f"{schema.name} {hub_id}: the key {key_attr!r} cannot be empty")
    if len(ident) > KEY_MAX_LENGTH:
        raise ValidationError(f"{schema.name} {hub_id}: keys are at most {KEY_MAX_LENGTH} characters")
    holder = find_by_keys(session, schema, [ident]).get(ident)
    if holder is not None and holder.hub_id != hub_id:
        raise ValidationError(
            f"{schema.name} key {key_attr}={ident!r} belongs to hub record {holder.hub_id} already",
            hint="change or remove that record's key first",
        )
    old = record.values.get(key_attr)
    values = dict(record.values)
    values[key_attr] = coerced
    stamps = dict(record.stamps)
    stamps[key_attr] = [format_datetime(now or utcnow()), None, None]  # set by hand: no job, no run
    record.values, record.stamps, record.key = values, stamps, ident
    record.updated_at = now or utcnow()
    session.flush()
    return old, coerced


def key_jobs_sample(session: Session, schema: TypeSchema, *, limit: int = 200) -> set[str]:
    """The jobs that set the keys of up to ``limit`` records of the type (who keys this type)."""
    key_attr = schema.key
    jobs: set[str] = set()
    stmt = (
        select(Record.stamps)
        .where(of_type_in_hub_id_order(schema), Record.key.is_not(None))
        .order_by(Record.hub_id)
        .limit(limit)
    )
    for stamps in session.scalars(stmt):
        entry = (stamps.get(key_attr) or stamps.get("_")) if isinstance(stamps, dict) else None
        if isinstance(entry, list) and len(entry) > 1 and entry[1] is not None:
            jobs.add(str(entry[1]))
    return jobs
