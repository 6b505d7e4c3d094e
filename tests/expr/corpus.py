"""The shared expression corpus (tests/cases/expr/corpus.json) and record helpers."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from crmhub.expr import ValueType
from crmhub.store.expr_sql import datetime_text

CASES = Path(__file__).resolve().parents[1] / "cases" / "expr"
CORPUS = json.loads((CASES / "corpus.json").read_text(encoding="utf-8"))
SCHEMA = {k: ValueType(v) for k, v in CORPUS["schema"].items()}
NOW = datetime.fromisoformat(CORPUS["now"].replace("Z", "+00:00"))
EXPRESSIONS: list[tuple[str, str]] = [(e["name"], e["expr"]) for e in CORPUS["expressions"]]


def to_python(record: dict[str, Any], schema: dict[str, ValueType]) -> dict[str, Any]:
    """Canonical JSON values → canonical Python values (dates and datetimes parsed)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        vtype = schema.get(key)
        if isinstance(value, str) and vtype == ValueType.date:
            value = date.fromisoformat(value)
        elif isinstance(value, str) and vtype == ValueType.datetime:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        out[key] = value
    return out


def to_json(record: dict[str, Any]) -> dict[str, Any]:
    """Canonical Python values → the JSON the store writes."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, datetime):
            value = datetime_text(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


RECORDS = [{k: v for k, v in r.items() if k != "id"} for r in CORPUS["records"]]
IDS = [r["id"] for r in CORPUS["records"]]
PY_RECORDS = [to_python(r, SCHEMA) for r in RECORDS]
