"""A statement that runs past the context's statement timeout is cancelled (issue 12), on both databases."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from crmhub.services.hub import HubService
from crmhub.store.database import QueryTooSlowError, statement_timeout


def _slow_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "SELECT pg_sleep(3)"
    return "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) SELECT count(*) FROM n"


def test_given_a_statement_timeout_when_a_statement_runs_longer_then_it_is_cancelled(hub: HubService) -> None:
    token = statement_timeout.set(0.2)
    try:
        started = time.monotonic()
        with pytest.raises(QueryTooSlowError, match="ran longer than 0.2 s"), hub.db.read() as session:
            session.execute(text(_slow_sql(hub.db.dialect)))
        assert time.monotonic() - started < 2.5
        with hub.db.read() as session:  # the next statement runs as usual
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        statement_timeout.reset(token)


def test_given_no_timeout_then_statements_are_not_bounded(hub: HubService) -> None:
    assert statement_timeout.get() is None
    with hub.db.read() as session:
        assert session.execute(text("SELECT 2")).scalar() == 2
