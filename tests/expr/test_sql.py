"""SQL over the hub's JSON values: the same answers as Python, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine

from crmhub.core.errors import CrmHubError
from crmhub.expr import UnsupportedExpressionError, ast, compile_python, parse, unparse
from crmhub.store.expr_sql import compile_sql, install_sqlite_functions

from . import strategies as S
from .corpus import EXPRESSIONS, IDS, PY_RECORDS, RECORDS, SCHEMA, to_json


def _table() -> sa.Table:
    return sa.Table(
        f"rec_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("values", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = sa.create_engine(database_url)
    install_sqlite_functions(eng)
    yield eng
    eng.dispose()


def _matching_sql(engine: Engine, table: sa.Table, expr: ast.Expr, schema: dict[str, Any]) -> list[str]:
    cond = compile_sql(expr, table.c["values"], dialect_name=engine.dialect.name, schema=schema, now=S.now)
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(table.c.id).where(cond)).scalars())


def _matching_python(expr: ast.Expr, ids: list[str], records: list[dict[str, Any]]) -> list[str] | None:
    evaluate = compile_python(expr, now=S.now)
    out = []
    for rid, record in zip(ids, records, strict=True):
        try:
            if evaluate(record) is True:
                out.append(rid)
        except CrmHubError:
            return None  # a record error: nothing to compare
    return sorted(out)


def test_given_the_corpus_when_run_in_sql_then_rows_match_python(engine: Engine) -> None:
    table = _table()
    table.create(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": i, "values": r} for i, r in zip(IDS, RECORDS, strict=True)])
        compared = 0
        for name, text in EXPRESSIONS:
            expr = parse(text)
            try:
                got = _matching_sql(engine, table, expr, SCHEMA)
            except CrmHubError:
                continue  # type errors and untranslatable functions are pinned by the golden files
            want = _matching_python(expr, IDS, PY_RECORDS)
            assert got == want, f"{name}: {text}"
            compared += 1
        assert compared >= 50
    finally:
        table.drop(engine)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ROUND(Amount) = 1", "ROUND"),
        ('DOMAIN(Name) = "x"', "DOMAIN"),
        ("DATEADD(CloseDate, Employees) > TODAY()", "DATEADD"),
    ],
)
def test_given_a_function_sql_cannot_express_when_compiled_then_the_error_names_it(
    text: str, fragment: str
) -> None:
    table = _table()
    with pytest.raises(UnsupportedExpressionError, match=fragment):
        compile_sql(parse(text), table.c["values"], dialect_name="sqlite", schema=S.SCHEMA)


def test_given_injection_values_when_compiled_then_they_are_bound_parameters_not_sql() -> None:
    table = _table()
    for value in ["' OR 1=1 --", '") OR ("', "\\'", "a\nb", "nul\x00"]:
        expr = ast.Compare("=", ast.Field("Name"), ast.Literal(value))
        for dialect in ("sqlite", "postgresql"):
            if dialect == "postgresql" and "\x00" in value:
                with pytest.raises(UnsupportedExpressionError, match="NUL"):
                    compile_sql(expr, table.c["values"], dialect_name=dialect, schema=S.SCHEMA)
                continue
            cond = compile_sql(expr, table.c["values"], dialect_name=dialect, schema=S.SCHEMA)
            text = str(cond.compile(compile_kwargs={}))
            assert value.lower() not in text
            assert "OR 1=1" not in text.upper()


def test_given_random_filters_and_records_when_run_then_sql_and_python_agree(engine: Engine) -> None:
    table = _table()
    table.create(engine)

    @given(S.sql_filters, S.record_lists)
    @S.EXPR_SETTINGS
    def check(expr: ast.Expr, records: list[dict[str, Any]]) -> None:
        ids = [f"r{i}" for i in range(len(records))]
        want = _matching_python(expr, ids, records)
        if want is None:
            return
        with engine.begin() as conn:
            conn.execute(table.delete())
            conn.execute(
                table.insert(), [{"id": i, "values": to_json(r)} for i, r in zip(ids, records, strict=True)]
            )
        got = _matching_sql(engine, table, expr, S.SCHEMA)
        assert got == want, unparse(expr)

    try:
        check()
    finally:
        table.drop(engine)
