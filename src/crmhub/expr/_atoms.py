"""Recognising the atom shapes CRM dialects can translate: one field against constants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmhub.expr import ast
from crmhub.expr.dates import day_start, relative_range
from crmhub.expr.types import ValueType

__all__ = [
    "Shape",
    "datetime_for_date_field",
    "field_type",
    "relative_bounds",
    "second_ceil",
    "second_floor",
    "shape_of",
]

_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True)
class Shape:
    """An atom reduced to: field, kind of test, operator and constant(s)."""

    kind: str  # compare | relative | in | like | null | includes
    field: str
    op: str = "="
    value: Any = None
    values: tuple[Any, ...] = ()
    negated: bool = False
    relative: ast.RelativeDate | None = None


def shape_of(node: ast.Expr) -> Shape | None:
    """The shape of an NNF atom, or None when it is not one field against constants.

    Comparisons with empty text stay local everywhere: CRMs store blank text as null and some
    (SOQL) treat ``= ''`` as ``= null``, which is not crmhub's meaning.
    """
    shape = _shape(node)
    if shape is not None and ("" in shape.values or shape.value == ""):
        return None
    return shape


def _shape(node: ast.Expr) -> Shape | None:
    match node:
        case ast.Field(path=p):
            return Shape("compare", p, "=", True)
        case ast.Not(operand=ast.Field(path=p)):
            return Shape("compare", p, "=", False)
        case ast.Compare(op=op, left=a, right=b):
            if isinstance(a, ast.Literal | ast.RelativeDate) and isinstance(b, ast.Field):
                op, a, b = _FLIP[op], b, a
            if not isinstance(a, ast.Field):
                return None
            if isinstance(b, ast.RelativeDate):
                return Shape("relative", a.path, op, relative=b)
            if isinstance(b, ast.Literal):
                return Shape("compare", a.path, op, b.value)
            return None
        case ast.In(operand=ast.Field(path=p), items=items, negated=neg):
            if all(isinstance(i, ast.Literal) for i in items):
                return Shape(
                    "in", p, values=tuple(i.value for i in items if isinstance(i, ast.Literal)), negated=neg
                )
        case ast.Like(operand=ast.Field(path=p), pattern=ast.Literal(value=str() as pattern), negated=neg):
            return Shape("like", p, value=pattern, negated=neg)
        case ast.IsNull(operand=ast.Field(path=p), negated=neg):
            return Shape("null", p, negated=neg)
        case ast.Includes(operand=ast.Field(path=p), items=items, negated=neg):
            if all(isinstance(i, ast.Literal) and isinstance(i.value, str) for i in items):
                return Shape(
                    "includes",
                    p,
                    values=tuple(i.value for i in items if isinstance(i, ast.Literal)),
                    negated=neg,
                )
    return None


def field_type(schema: Mapping[str, ValueType] | None, path: str, value: Any) -> ValueType | None:
    """The field's type from the schema, else what the constant suggests."""
    if schema is not None and path in schema:
        return ValueType(schema[path])
    if value is None:
        return None
    return ast.literal_type(value)


def relative_bounds(rel: ast.RelativeDate, now: datetime) -> tuple[date, date]:
    """The ``[start, end)`` days of a relative date literal at ``now`` (UTC)."""
    return relative_range(rel.name, rel.n, now.astimezone(UTC).date())


def second_floor(value: datetime) -> datetime:
    """``value`` rounded down to the whole second."""
    return value.replace(microsecond=0)


def second_ceil(value: datetime) -> datetime:
    """``value`` rounded up to the whole second."""
    return value if value.microsecond == 0 else value.replace(microsecond=0) + timedelta(seconds=1)


def datetime_for_date_field(op: str, value: datetime) -> tuple[str, date] | None:
    """Rewrite ``date_field op datetime`` as a comparison with a date, or None if impossible.

    A date counts as midnight UTC, so against 10:00 on the 31st ``d > t`` is ``d > 31st`` and
    ``d < t`` is ``d <= 31st``; ``=`` never holds for a time after midnight.
    """
    utc = value.astimezone(UTC)
    day = utc.date()
    if utc == day_start(day):
        return op, day
    rewritten = {">": ">", ">=": ">", "<": "<=", "<=": "<="}.get(op)
    return (rewritten, day) if rewritten else None
