"""Engines and transactions for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so
two writers queue for the lock instead of failing with "database is locked" half-way through.
Use :meth:`Database.begin` for anything that writes and :meth:`Database.read` for reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crmhub.core.errors import ConfigError, ValidationError
from crmhub.store.expr_sql import register_sqlite_functions

SQLITE_BUSY_TIMEOUT_S = 60.0


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url`` with crmhub's settings for its dialect."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            **kw,
        )
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError(
                "PostgreSQL needs the psycopg driver", hint="pip install 'crmhub[postgres]'"
            ) from exc
        return create_engine(
            url, json_serializer=_json_dumps, json_deserializer=orjson.loads, pool_pre_ping=True, **kw
        )
    raise ConfigError(f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:/// or postgresql://")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own is deferred only).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.close()
        # Unicode-aware lower()/upper() for expression filters (SQLite's own know only ASCII).
        register_sqlite_functions(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


#: How long one statement may run in the current context (seconds; None: no limit). The API sets it
#: for each request it serves (``crmhub.api.guard``), so a hostile filter cannot hold a connection
#: and a core; runs and the CLI leave it unset.
statement_timeout: ContextVar[float | None] = ContextVar("crmhub_statement_timeout", default=None)


class QueryTooSlowError(ValidationError):
    """A statement ran past the request's statement timeout and was cancelled (HTTP 422)."""


@contextmanager
def _bounded(session: Session) -> Iterator[None]:
    """Cancel statements of ``session`` that run past :data:`statement_timeout`."""
    limit = statement_timeout.get()
    if limit is None:
        yield
        return
    sqlite = session.get_bind().dialect.name == "sqlite"
    raw: Any = None
    if sqlite:
        raw = session.connection().connection.driver_connection
        deadline = time.monotonic() + limit
        # Called every 10,000 virtual-machine steps; a true answer interrupts the statement.
        raw.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    else:
        session.execute(
            text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(limit * 1000))}
        )
    try:
        yield
    except OperationalError as exc:
        text_ = str(exc.orig)
        if "interrupted" in text_ or "statement timeout" in text_ or "canceling statement" in text_:
            raise QueryTooSlowError(
                f"the query ran longer than {limit:g} s and was stopped",
                hint="narrow the filter (fewer terms, an equality on an indexed attribute), or page with a smaller limit",
            ) from None
        raise
    finally:
        if raw is not None:
            raw.set_progress_handler(None, 0)


class Database:
    """The hub store: an engine plus the two kinds of transaction."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.dialect = self.engine.dialect.name
        write_bind = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write = sessionmaker(bind=write_bind, expire_on_commit=False)
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False)

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on an exception."""
        with self._write() as session, session.begin(), _bounded(session):
            yield session

    def write_session(self) -> Session:
        """A write session whose transaction the caller begins, commits (or rolls back) and closes.

        For work that ends a transaction in another thread than the one that began it; otherwise
        use :meth:`begin`.
        """
        return self._write()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (rolled back at the end)."""
        with self._read() as session, _bounded(session):
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


#: Tables a sync grows by thousands of rows per minute.
#: The tables a run grows, and the columns their plans depend on: the indexed ones. The JSON
#: columns are left out: statistics of whole documents help no query and cost most of the time.
_GROWING_TABLES = {
    "record": ("hub_id", "object_type_id", "key", "updated_at", "deleted_at"),
    "link": ("hub_id", "connection_id", "remote_object", "remote_id"),
}


class StatisticsKeeper:
    """Refreshes the planner's statistics of the tables a long run grows, as it grows them.

    PostgreSQL plans from statistics that only ANALYZE (or autovacuum, which may be off) updates. A
    hub that starts empty and receives a million records in one run would otherwise be planned as
    empty throughout: link look-ups by remote id then read every link of the connection, per page.
    Call :meth:`grown` after each committed batch with how many rows the run has added so far; the
    tables are analyzed at 10,000 rows and at every doubling after (a handful of times per run).
    SQLite needs none of this: its queries are written so that they need no statistics.
    """

    def __init__(self, first: int = 10_000) -> None:
        self._next = first

    def due(self, added: int) -> bool:
        """Whether :meth:`grown` would analyze at ``added`` rows (so a caller can skip opening a session)."""
        return added >= self._next

    def grown(self, session: Session, added: int) -> bool:
        """Analyze the growing tables if ``added`` passed the next mark; True when it did."""
        if added < self._next:
            return False
        while self._next <= added:
            self._next *= 2
        if session.get_bind().dialect.name != "postgresql":
            return False
        for table, columns in _GROWING_TABLES.items():
            session.execute(text(f"ANALYZE {table} ({', '.join(columns)})"))  # fixed names only
        return True
