"""Shared fixtures: a fresh hub database on SQLite and on PostgreSQL for every test that asks.

PostgreSQL: ``CRMHUB_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
Each test gets its own schema, dropped afterwards. With ``CI=true`` an unreachable server fails the
test; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# The shipped contract suite asserts with plain ``assert``: let pytest explain its failures.
pytest.register_assert_rewrite("crmhub.testing")

POSTGRES_URL = os.environ.get("CRMHUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

_pg_problem: str | None = None
_pg_checked = False


def postgres_unavailable() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per session)."""
    global _pg_checked, _pg_problem
    if not _pg_checked:
        _pg_checked = True
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg is a dev dependency
            _pg_problem = "psycopg is not installed (pip install 'crmhub[postgres]')"
        else:
            dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
            try:
                psycopg.connect(dsn, connect_timeout=3).close()
            except psycopg.Error as exc:
                _pg_problem = f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}".strip()
    return _pg_problem


def require_postgres() -> None:
    """Skip (fail in CI) when PostgreSQL is unreachable."""
    problem = postgres_unavailable()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true and {problem}; start it (see README, 'Testing')", pytrace=False)
        pytest.skip(problem)


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a fresh schema, dropped at the end (skip or fail first
    when PostgreSQL is unreachable, see :func:`require_postgres`)."""
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a fresh schema, dropped after the test."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Each test that takes this runs twice: on a fresh SQLite file and on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        yield request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def hub(database_url: str, tmp_path):  # type: ignore[no-untyped-def]
    """An initialised hub (built-in object types) on SQLite and on PostgreSQL."""
    from crmhub.config import Settings
    from crmhub.services.hub import HubService
    from crmhub.store.database import Database

    # CSV connections may use any folder the test makes under its tmp_path.
    settings = Settings(home=tmp_path / "home", database_url=database_url, file_roots=[tmp_path])
    service = HubService(Database(database_url), settings=settings)
    service.init()
    try:
        yield service
    finally:
        service.close()
