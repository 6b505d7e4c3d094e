"""Use cases on the hub store, shared by the CLI, the API and the sync engine.

Each method owns its transaction: it opens one, calls the store's repository functions (which never
commit) and commits. Configuration changes write an audit event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from crmhub.config import Settings, get_settings, write_secret_key
from crmhub.core.errors import ConfigError
from crmhub.core.perf import gc_paused
from crmhub.services.builtin import BUILTIN_TYPES
from crmhub.store import audit, migrate
from crmhub.store import records as record_repo
from crmhub.store import schema as schema_repo
from crmhub.store.database import Database, StatisticsKeeper
from crmhub.store.models import Attribute, Link, ObjectType, Record
from crmhub.store.records import PreparedBatch, Stamp, UpsertResult
from crmhub.store.schema import AttributeSpec, TypeSchema

SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class InitReport:
    home: Path
    database_url: str
    created_key: bool
    created_types: list[str]


class HubService:
    """The hub's use cases over one :class:`Database`."""

    def __init__(self, db: Database, *, settings: Settings | None = None) -> None:
        self.db = db
        self.settings = settings or get_settings()

    @classmethod
    def open(cls, settings: Settings | None = None) -> HubService:
        settings = settings or get_settings()
        return cls(Database(settings.resolved_database_url), settings=settings)

    def close(self) -> None:
        self.db.dispose()

    # Setup ---------------------------------------------------------------------------------------

    def init(self) -> InitReport:
        """Create the data folder (with ``files/``, the default file root) and secret key, migrate the
        schema, create the built-in types."""
        home = self.settings.resolved_home
        home.mkdir(parents=True, exist_ok=True)
        # The data folder holds the secret key, the database and every run's source snapshot: its
        # owner's alone (0700; files in it 0600).
        home.chmod(0o700)
        if self.settings.file_roots is None:
            self.settings.resolved_file_roots[0].mkdir(exist_ok=True)
        created_key = False
        if self.settings.secret_key is None and not self.settings.secret_key_path.exists():
            write_secret_key(self.settings.secret_key_path)
            created_key = True
        self.settings.fernet_key()  # refuses a placeholder or malformed key early
        migrate.upgrade(self.db)
        self._private_database_files()
        created: list[str] = []
        with self.db.begin() as session:
            existing = {ot.name for ot in schema_repo.list_object_types(session)}
            for name, (label, description, specs) in BUILTIN_TYPES.items():
                if name in existing:
                    continue
                ot = schema_repo.create_object_type(
                    session, name=name, label=label, description=description, builtin=True
                )
                for spec in specs:
                    schema_repo.add_attribute(session, ot, spec)
                audit.record_event(
                    session, actor=SYSTEM_ACTOR, action="create", object_kind="object_type", object_name=name
                )
                created.append(name)
        return InitReport(home, self.db.url, created_key, created)

    def _private_database_files(self) -> None:
        """An SQLite hub's files are its owner's alone (SQLite gives its WAL and SHM files the
        database file's mode)."""
        database = self.db.engine.url.database if self.db.engine.url.get_backend_name() == "sqlite" else None
        if not database or database == ":memory:":
            return
        for suffix in ("", "-wal", "-shm"):
            path = Path(database + suffix)
            if path.exists():
                path.chmod(0o600)

    def check_ready(self) -> None:
        """ConfigError unless ``crmhub init`` (or ``db upgrade``) has brought the schema up to date."""
        url = self.db.engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            if not Path(url.database).exists():
                raise ConfigError(f"there is no hub at {url.database}", hint="run `crmhub init`")
        try:
            current = migrate.current_revision(self.db)
        except Exception as exc:
            raise ConfigError(f"cannot open the hub database {self._safe_url()}: {exc}") from None
        if current is None:
            raise ConfigError(f"the hub database {self._safe_url()} is empty", hint="run `crmhub init`")
        if current != migrate.head_revision():
            raise ConfigError(
                f"the hub database is at schema revision {current}, this crmhub needs {migrate.head_revision()}",
                hint="run `crmhub db upgrade`",
            )

    def _safe_url(self) -> str:
        return self.db.engine.url.render_as_string(hide_password=True)

    # Object types and attributes -----------------------------------------------------------------

    def object_types(self) -> list[ObjectType]:
        with self.db.read() as session:
            return schema_repo.list_object_types(session)

    def object_type(self, name: str) -> ObjectType:
        with self.db.read() as session:
            return schema_repo.get_object_type(session, name)

    def schema(self, name: str) -> TypeSchema:
        with self.db.read() as session:
            return schema_repo.load_schema(session, name)

    def define_object_type(
        self,
        name: str,
        *,
        label: str | None = None,
        description: str = "",
        attributes: Sequence[AttributeSpec] = (),
        actor: str = SYSTEM_ACTOR,
    ) -> ObjectType:
        with self.db.begin() as session:
            ot = schema_repo.create_object_type(session, name=name, label=label, description=description)
            for spec in attributes:
                schema_repo.add_attribute(session, ot, spec)
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="object_type",
                object_name=name,
                details={"attributes": [s.name for s in attributes]},
            )
            return ot

    def add_attribute(self, object_type: str, spec: AttributeSpec, *, actor: str = SYSTEM_ACTOR) -> Attribute:
        with self.db.begin() as session:
            ot = schema_repo.get_object_type(session, object_type)
            attribute = schema_repo.add_attribute(session, ot, spec)
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="attribute",
                object_name=f"{object_type}.{spec.name}",
                details={"type": attribute.type, "category": attribute.category},
            )
            return attribute

    # Records -------------------------------------------------------------------------------------

    def upsert(
        self,
        object_type: str | TypeSchema,
        rows: Iterable[Mapping[str, Any]],
        *,
        stamp: Stamp = Stamp(),
        source_times: Iterable[datetime | str | None] | None = None,
        match: str = "key",
        most_recent: bool = False,
        create: bool = True,
        batch_size: int | None = None,
    ) -> UpsertResult:
        """Upsert rows in batches, one transaction per batch; returns the outcome of every row."""
        schema = object_type if isinstance(object_type, TypeSchema) else self.schema(object_type)
        size = batch_size or self.settings.upsert_batch_size
        row_iter = iter(rows)
        time_iter = iter(source_times) if source_times is not None else None

        def next_batch() -> PreparedBatch | None:
            batch = list(islice(row_iter, size))
            if not batch:
                return None
            times = list(islice(time_iter, len(batch))) if time_iter is not None else None
            return record_repo.prepare_batch(schema, batch, source_times=times, match=match)

        options: dict[str, Any] = {"stamp": stamp, "most_recent": most_recent, "create": create}
        # Coercion of batch N+1 (pure Python) runs in a helper thread while batch N is merged and
        # written; the database driver releases the GIL while it waits, so the two overlap.
        # A collection walks every result and row made since the last one: the young generations
        # every 50,000 rows (a batch leaves little cyclic garbage: its session and cursors), all of
        # them every 250,000.
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmhub-prepare") as pool,
            gc_paused(full_every=max(1, 250_000 // size), young_every=max(1, 50_000 // size)) as collect,
        ):
            ahead: Future[PreparedBatch | None] = pool.submit(next_batch)
            if self.PIPELINED and self.db.dialect == "postgresql":
                return self._upsert_pipelined(schema, ahead, pool, next_batch, collect, options)
            total = UpsertResult()
            offset = created = 0
            statistics = StatisticsKeeper()  # a load that grows the hub keeps the plans on the key index
            while (prepared := ahead.result()) is not None:
                ahead = pool.submit(next_batch)
                with self.db.begin() as session:
                    result = record_repo.start_batch(session, schema, prepared, **options).finish()
                    created += result.counts()["created"]
                    statistics.grown(session, created)
                total.extend(result, offset)
                offset += prepared.size
                collect()
        return total

    #: PostgreSQL: merge the next batch while the last one completes (see _upsert_pipelined).
    PIPELINED = True
    #: Batches a pipelined upsert writes between giving other writers of the type their turn.
    PIPELINE_TURN = 16

    def _upsert_pipelined(
        self,
        schema: TypeSchema,
        ahead: Future[PreparedBatch | None],
        pool: ThreadPoolExecutor,
        next_batch: Callable[[], PreparedBatch | None],
        collect: Callable[[], None],
        options: dict[str, Any],
    ) -> UpsertResult:
        """PostgreSQL: merge batch N+1 on a second connection while batch N's writes complete.

        Per batch the server parses and indexes the ``COPY`` to its end, then commits; in the serial
        loop Python waits for both. Here a writer thread completes and commits batch N while this
        thread reads and merges batch N+1 in its own transaction. That is safe because:

        - the type's writers' lock is held for this database session (not per transaction), so no
          other writer changes the type's records between N+1's read and its write;
        - a batch naming a record the batch in flight writes waits for that one's commit first, so
          it reads what the hub will hold;
        - batches commit in order; a failure rolls back the failing batch and the one behind it and
          raises, the batches before it committed (as in the serial loop).

        Every ``PIPELINE_TURN`` batches the pipeline drains and the lock is given back and taken
        again, so other writers of the type (a sync run) get their turn in between.
        """
        total = UpsertResult()
        offset = created = 0
        statistics = StatisticsKeeper()
        db = self.db

        def finish(batch: record_repo.BatchInFlight, session: Session) -> UpsertResult:
            try:
                result = batch.finish()
                session.commit()
                return result
            finally:
                session.close()  # rolls back what did not commit

        #: The batch whose writes the writer thread completes: its job, offset and idents.
        in_flight: tuple[Future[UpsertResult], int, Any] | None = None

        def settle() -> None:
            """Wait for the batch in flight to commit; take in its results."""
            nonlocal created, in_flight
            if in_flight is None:
                return
            job, at, _ = in_flight
            in_flight = None
            result = job.result()
            total.extend(result, at)
            created += result.counts()["created"]
            if statistics.due(created):
                with db.begin() as session:
                    statistics.grown(session, created)

        with (
            db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmhub-write") as writer,
        ):
            turn = 0
            try:
                record_repo.lock_type_for_session(lock, schema)
                while (prepared := ahead.result()) is not None:
                    ahead = pool.submit(next_batch)
                    if turn >= self.PIPELINE_TURN:  # drain, and give other writers their turn
                        settle()
                        record_repo.unlock_type_for_session(lock, schema)
                        record_repo.lock_type_for_session(lock, schema)
                        turn = 0
                    elif in_flight is not None and not in_flight[2].isdisjoint(prepared.pending):
                        settle()  # this batch names a record the one in flight writes
                    session = db.write_session()
                    try:
                        session.begin()
                        batch = record_repo.start_batch(session, schema, prepared, locked=True, **options)
                    except BaseException:
                        session.close()
                        raise
                    try:
                        settle()  # commits stay in order: N's before N+1's writes complete
                    except BaseException as exc:
                        batch.abandon(exc)
                        session.close()
                        raise
                    in_flight = (writer.submit(finish, batch, session), offset, batch.idents)
                    offset += prepared.size
                    turn += 1
                    collect()
                settle()
            finally:
                if in_flight is not None:  # an error: let the writer end before the lock goes
                    in_flight[0].exception()
                record_repo.unlock_type_for_session(lock, schema)
        return total

    def get_record(self, hub_id: str) -> Record:
        with self.db.read() as session:
            return record_repo.get_record(session, hub_id)

    def find_record(self, object_type: str, key: Any) -> Record | None:
        with self.db.read() as session:
            return record_repo.find_by_key(session, schema_repo.load_schema(session, object_type), key)

    def list_records(
        self,
        object_type: str,
        *,
        where: Mapping[str, Any] | None = None,
        limit: int = 50,
        after: str | None = None,
        include_deleted: bool = False,
    ) -> list[Record]:
        with self.db.read() as session:
            schema = schema_repo.load_schema(session, object_type)
            return record_repo.list_records(
                session, schema, where=where, limit=limit, after=after, include_deleted=include_deleted
            )

    def count_records(self, object_type: str) -> int:
        with self.db.read() as session:
            return record_repo.count_records(session, schema_repo.load_schema(session, object_type))

    def change_key(self, hub_id: str, value: Any, *, actor: str = SYSTEM_ACTOR) -> Record:
        """Set a record's key: the one, audited, way a key changes (jobs never rewrite one)."""
        with self.db.begin() as session:
            record = record_repo.get_record(session, hub_id, include_deleted=True)
            type_name = next(
                ot.name for ot in schema_repo.list_object_types(session) if ot.id == record.object_type_id
            )
            schema = schema_repo.load_schema(session, type_name)
            old, new = record_repo.change_key(session, schema, hub_id, value)
            audit.record_event(
                session,
                actor=actor,
                action="change_key",
                object_kind="record",
                object_name=f"{type_name} {hub_id}",
                details={"attribute": schema.key, "old": old, "new": new},
            )
            return record

    def links_of(self, hub_id: str) -> list[tuple[Link, str]]:
        """A record's links with their connections' names."""
        from crmhub.store import connections as connection_repo
        from crmhub.store.links import links_of_record

        with self.db.read() as session:
            links = links_of_record(session, hub_id)
            names = {c.id: c.name for c in connection_repo.list_connections(session)}
            return [(link, names.get(link.connection_id, str(link.connection_id))) for link in links]

    def soft_delete(self, hub_ids: Sequence[str]) -> int:
        with self.db.begin() as session:
            return record_repo.soft_delete(session, hub_ids)
