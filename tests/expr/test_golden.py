"""Golden files: every compiler's output for the corpus, pinned under tests/cases/expr/golden/.

Regenerate after an intended change with ``CRMHUB_UPDATE_GOLDEN=1 pytest tests/expr/test_golden.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB

from crmhub.core.errors import CrmHubError
from crmhub.expr import compile_python, parse, to_hubspot, to_odata, to_soql, to_zoho_coql, unparse
from crmhub.store.expr_sql import compile_sql

from .corpus import CASES, EXPRESSIONS, IDS, NOW, PY_RECORDS, SCHEMA

GOLDEN = CASES / "golden"
UPDATE = os.environ.get("CRMHUB_UPDATE_GOLDEN") == "1"
TABLE = sa.Table(
    "record",
    sa.MetaData(),
    sa.Column("hub_id", sa.String),
    sa.Column("values", sa.JSON().with_variant(JSONB(), "postgresql")),
)


def _error(exc: Exception) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": str(exc).splitlines()[0]}


def _pushdown(result: Any) -> dict[str, Any]:
    return {
        "pushed": result.pushed,
        "residual": None if result.residual is None else unparse(result.residual),
    }


def _python(text: str) -> Any:
    try:
        evaluate = compile_python(parse(text), now=lambda: NOW)
        out = []
        for rid, record in zip(IDS, PY_RECORDS, strict=True):
            try:
                value = evaluate(record)
            except CrmHubError as exc:
                out.append(f"{rid}: {type(exc).__name__}")
                continue
            out.append(f"{rid}: {value!r}")
        return out
    except CrmHubError as exc:
        return _error(exc)


def _sql(text: str, dialect: Any) -> Any:
    try:
        cond = compile_sql(
            parse(text), TABLE.c["values"], dialect_name=dialect.name, schema=SCHEMA, now=lambda: NOW
        )
    except CrmHubError as exc:
        return _error(exc)
    compiled = sa.select(TABLE.c.hub_id).where(cond).compile(dialect=dialect)
    params = {
        k: (v if isinstance(v, str | int | float | bool | type(None) | list) else repr(v))
        for k, v in compiled.params.items()
    }
    return {"sql": str(compiled).split("\nWHERE ", 1)[1], "params": params}


def _compile(kind: str, text: str) -> Any:
    if kind == "python":
        return _python(text)
    if kind == "sql_sqlite":
        return _sql(text, sqlite.dialect())
    if kind == "sql_postgresql":
        return _sql(text, postgresql.psycopg.dialect())
    try:
        expr = parse(text)
        if kind == "soql":
            return _pushdown(to_soql(expr, schema=SCHEMA))
        if kind == "hubspot":
            return _pushdown(to_hubspot(expr, schema=SCHEMA, now=lambda: NOW))
        if kind == "odata":
            return _pushdown(to_odata(expr, schema=SCHEMA, now=lambda: NOW))
        if kind == "zoho_coql":
            return _pushdown(to_zoho_coql(expr, schema=SCHEMA, now=lambda: NOW, text_case_insensitive=True))
    except CrmHubError as exc:
        return _error(exc)
    raise AssertionError(kind)


KINDS = ["python", "sql_sqlite", "sql_postgresql", "soql", "hubspot", "odata", "zoho_coql"]


def test_given_the_corpus_then_it_has_at_least_sixty_expressions_with_unique_names() -> None:
    names = [name for name, _ in EXPRESSIONS]
    assert len(names) >= 60 and len(set(names)) == len(names)


@pytest.mark.parametrize("kind", KINDS)
def test_given_the_corpus_when_compiled_then_output_matches_the_golden_file(kind: str) -> None:
    path: Path = GOLDEN / f"{kind}.json"
    actual = {name: {"expr": text, "out": _compile(kind, text)} for name, text in EXPRESSIONS}
    rendered = json.dumps(actual, indent=1, ensure_ascii=False, sort_keys=False) + "\n"
    if UPDATE or not path.exists():
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path} did not exist; it has been written — review and commit it")
    expected = json.loads(path.read_text(encoding="utf-8"))
    for name, entry in actual.items():
        assert name in expected, f"{name} is missing from {path.name}; regenerate with CRMHUB_UPDATE_GOLDEN=1"
        assert json.loads(json.dumps(entry["out"])) == expected[name]["out"], (
            f"{kind}: {name}: {entry['expr']}"
        )
