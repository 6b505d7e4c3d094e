"""Planner statistics follow the tables a long run grows (PostgreSQL), and SQLite needs none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from crmhub.config import Settings
from crmhub.services.hub import HubService
from crmhub.store.database import Database, StatisticsKeeper


@pytest.fixture
def postgres_hub(postgres_schema_url: str, tmp_path: Path) -> Iterator[HubService]:
    """A hub on PostgreSQL only: SQLite keeps no planner statistics, so there is nothing to check there."""
    settings = Settings(home=tmp_path / "home", database_url=postgres_schema_url)
    service = HubService(Database(postgres_schema_url), settings=settings)
    service.init()
    try:
        yield service
    finally:
        service.close()


def test_given_a_run_that_grows_the_hub_when_it_passes_each_mark_then_the_tables_are_analyzed_once(
    hub,
) -> None:
    keeper = StatisticsKeeper(first=100)
    hub.upsert("account", [{"account_id": f"A-{i}"} for i in range(150)])
    postgres = hub.db.dialect == "postgresql"
    with hub.db.begin() as session:
        assert keeper.grown(session, 99) is False
        assert keeper.grown(session, 150) is postgres  # past 100: analyzed; the next mark is 200
        assert keeper.grown(session, 199) is False
        if postgres:
            tuples = session.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = 'record'::regclass")
            ).scalar()
            assert tuples == 150
    with hub.db.begin() as session:
        assert keeper.grown(session, 1000) is postgres  # one analysis for a jump over several marks
        assert keeper.grown(session, 1599) is False  # marks double: 200, 400, 800, 1,600
        assert keeper.grown(session, 1600) is postgres


def test_given_an_upsert_that_grows_the_hub_past_10000_when_it_ends_then_postgresql_has_statistics_of_it(
    postgres_hub: HubService,
) -> None:
    """Planned as empty, each batch's key look-up read every record of the type (no autovacuum here)."""
    hub = postgres_hub
    with hub.db.begin() as session:
        before = session.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'record'::regclass")).scalar()
    assert before is not None and before < 10_000  # a fresh table: no statistics of 10,000 rows yet
    hub.upsert("account", [{"account_id": f"A-{i:06d}"} for i in range(12_000)])
    with hub.db.begin() as session:
        tuples = session.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'record'::regclass")).scalar()
    assert tuples >= 10_000  # analyzed during the load, at its 10,000th new record
