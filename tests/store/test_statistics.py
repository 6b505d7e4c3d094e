"""Planner statistics follow the tables a long run grows (PostgreSQL), and SQLite needs none."""

from __future__ import annotations

from sqlalchemy import text

from crmhub.store.database import StatisticsKeeper


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
    hub,
) -> None:
    """Planned as empty, each batch's key look-up read every record of the type (no autovacuum here)."""
    hub.upsert("account", [{"account_id": f"A-{i:06d}"} for i in range(12_000)])
    if hub.db.dialect != "postgresql":
        return  # SQLite's queries are written to need no statistics
    with hub.db.begin() as session:
        tuples = session.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'record'::regclass")).scalar()
    assert tuples >= 10_000  # analyzed during the load, at its 10,000th new record
