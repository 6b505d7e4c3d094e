"""Zoho CRM COQL ``WHERE`` compiler (the part after ``where``).

Sources: Zoho CRM API docs "Query API (COQL) – Overview" and "Limitations": comparators ``=``,
``!=``, ``>``, ``<``, ``>=``, ``<=``, ``is null``, ``is not null``, ``between``, ``in`` / ``not in``
(up to 50 values), ``like`` (only starts-with, ends-with and contains), ``not like`` (only
not-contains); at most 25 criteria; more than two criteria must be grouped in parentheses
(``((A and B) and C)``), which this compiler always does.

Where Zoho's behaviour is not documented the part stays local:

* Text: whether ``=`` / ``in`` / ``like`` ignore case is not documented, so text comparisons
  stay local unless ``text_case_insensitive=True`` (set it once you have confirmed it for your
  org). String escaping is not documented either: values with a quote, a backslash or a control
  character always stay local.
* ``!=`` / ``not in`` / ``not like`` carry ``and F is not null`` (null handling not documented).
* Datetimes are sent with whole seconds and an offset (``'2024-01-31T10:00:00+00:00'``); a
  fraction is rounded outward and re-checked locally. Relative dates need the schema (date vs
  datetime) and are resolved at compile time.
* Kept local: INCLUDES/EXCLUDES, text ordering, field-to-field comparisons, functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from crmhub.core.clock import utcnow
from crmhub.expr import ast
from crmhub.expr._atoms import (
    Shape,
    datetime_for_date_field,
    relative_bounds,
    second_ceil,
    second_floor,
    shape_of,
)
from crmhub.expr.dates import day_start
from crmhub.expr.optimize import fold
from crmhub.expr.pushdown import Atom, PAnd, POr, PTree, PushDown, split
from crmhub.expr.types import NUMERIC, TEMPORAL, TEXTUAL, ValueType
from crmhub.expr.values import like_tokens

__all__ = ["to_zoho_coql"]

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?")
_UNSAFE = re.compile(r"['\\\x00-\x1f\x7f]")
_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
MAX_CRITERIA = 25
MAX_IN_VALUES = 50


def _datetime(value: datetime) -> str:
    return "'" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00'"


def _literal(value: object, target: ValueType | None) -> str | None:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        return None if value.microsecond else _datetime(value)
    if isinstance(value, date):
        return _datetime(day_start(value)) if target == ValueType.datetime else f"'{value.isoformat()}'"
    if isinstance(value, str):
        return None if _UNSAFE.search(value) else f"'{value}'"
    return None


class _Coql:
    def __init__(self, schema: Mapping[str, ValueType] | None, now: datetime, text_ci: bool) -> None:
        self.schema = schema
        self.now = now
        self.text_ci = text_ci

    def atom(self, node: ast.Expr) -> Atom[tuple[str, int]] | None:
        shape = shape_of(node)
        if shape is None or not _IDENT.fullmatch(shape.field):
            return None
        f = shape.field
        ftype = self.schema.get(f) if self.schema is not None else None
        if shape.kind == "null":
            return Atom((f"{f} {'is not null' if shape.negated else 'is null'}", 1))
        if shape.kind == "compare":
            return self.compare(f, shape, ftype)
        if shape.kind == "in":
            return self.in_(f, shape, ftype)
        if shape.kind == "like":
            return self.like(f, shape, ftype)
        if shape.kind == "relative":
            return self.relative(f, shape, ftype)
        return None

    def text_ok(self, ftype: ValueType | None) -> bool:
        return self.text_ci and (ftype is None or ftype in TEXTUAL)

    def compare(self, f: str, shape: Shape, ftype: ValueType | None) -> Atom[tuple[str, int]] | None:
        op, value = shape.op, shape.value
        if value is None:
            return None
        if isinstance(value, str):
            if op not in ("=", "!=") or not self.text_ok(ftype):
                return None
        elif isinstance(value, bool):
            if op not in ("=", "!=") or ftype not in (None, ValueType.boolean):
                return None
        elif isinstance(value, int | float):
            if ftype is not None and ftype not in NUMERIC:
                return None
        elif isinstance(value, date):
            if ftype is not None and ftype not in TEMPORAL:
                return None
            if isinstance(value, datetime) and ftype == ValueType.date:
                fitted = datetime_for_date_field(op, value)
                if fitted is None:
                    return None
                op, value = fitted
            elif isinstance(value, datetime) and value.microsecond:
                return self.fractional(f, op, value)
        literal = _literal(value, ftype)
        if literal is None:
            return None
        if op == "!=":
            return Atom((f"({f} != {literal} and {f} is not null)", 2))
        return Atom((f"{f} {_OPS[op]} {literal}", 1))

    def fractional(self, f: str, op: str, value: datetime) -> Atom[tuple[str, int]]:
        lo, hi = _datetime(second_floor(value)), _datetime(second_ceil(value))
        if op in (">", ">="):
            return Atom((f"{f} >= {lo}", 1), exact=False)
        if op in ("<", "<="):
            return Atom((f"{f} <= {hi}", 1), exact=False)
        if op == "=":
            return Atom((f"{f} between {lo} and {hi}", 1), exact=False)
        return Atom((f"{f} is not null", 1), exact=False)

    def in_(self, f: str, shape: Shape, ftype: ValueType | None) -> Atom[tuple[str, int]] | None:
        values = [v for v in shape.values if v is not None]
        if not values or len(values) > MAX_IN_VALUES or (shape.negated and len(values) != len(shape.values)):
            return None
        kinds = {float if type(v) is int else type(v) for v in values}
        if len(kinds) != 1 or bool in kinds:
            return None
        if kinds == {str} and not self.text_ok(ftype):
            return None
        if ftype == ValueType.date and any(isinstance(v, datetime) for v in values):
            return None
        literals = [_literal(v, ftype) for v in values]
        if any(lit is None for lit in literals):
            return None
        items = ", ".join(lit for lit in literals if lit is not None)
        if shape.negated:
            return Atom((f"({f} not in ({items}) and {f} is not null)", 2))
        return Atom((f"{f} in ({items})", 1))

    def like(self, f: str, shape: Shape, ftype: ValueType | None) -> Atom[tuple[str, int]] | None:
        if not self.text_ok(ftype):
            return None
        tokens = like_tokens(shape.value)
        lead = bool(tokens) and tokens[0] == "%"
        trail = len(tokens) > (1 if lead else 0) and tokens[-1] == "%"
        core = tokens[(1 if lead else 0) : len(tokens) - (1 if trail else 0)]
        if not core or "%" in core or "_" in core or not (lead or trail):
            return None
        text = "".join(t[1] for t in core)
        if _UNSAFE.search(text) or "%" in text or "_" in text:
            return None
        pattern = ("%" if lead else "") + text + ("%" if trail else "")
        if shape.negated:
            if not (lead and trail):
                return None  # COQL's "not like" is only documented for not-contains
            return Atom((f"({f} not like '{pattern}' and {f} is not null)", 2))
        return Atom((f"{f} like '{pattern}'", 1))

    def relative(self, f: str, shape: Shape, ftype: ValueType | None) -> Atom[tuple[str, int]] | None:
        if ftype not in TEMPORAL:
            return None
        assert shape.relative is not None
        start, end = relative_bounds(shape.relative, self.now)
        lo, hi = _literal(start, ftype), _literal(end, ftype)
        op = shape.op
        if op == "=":
            return Atom((f"({f} >= {lo} and {f} < {hi})", 2))
        if op == "!=":
            return Atom((f"({f} < {lo} or {f} >= {hi})", 2))
        if op == "<":
            return Atom((f"{f} < {lo}", 1))
        if op == "<=":
            return Atom((f"{f} < {hi}", 1))
        if op == ">":
            return Atom((f"{f} >= {hi}", 1))
        return Atom((f"{f} >= {lo}", 1))


def _render(tree: PTree[tuple[str, int]]) -> str:
    if isinstance(tree, Atom):
        return tree.payload[0]
    word = " and " if isinstance(tree, PAnd) else " or "
    parts = [_render(t) for t in tree.items]
    text = parts[0]
    for part in parts[1:]:  # COQL wants every pair grouped: ((A and B) and C)
        text = f"({text}{word}{part})"
    return text


def _count(tree: PTree[tuple[str, int]]) -> int:
    if isinstance(tree, Atom):
        return tree.payload[1]
    return sum(_count(t) for t in tree.items)


def to_zoho_coql(
    expr: ast.Expr,
    *,
    schema: Mapping[str, ValueType] | None = None,
    now: Callable[[], datetime] | None = None,
    text_case_insensitive: bool = False,
    max_criteria: int = MAX_CRITERIA,
) -> PushDown[str]:
    """Compile a filter to a COQL ``where`` condition plus the residual to evaluate locally."""
    compiler = _Coql(schema, (now or utcnow)(), text_case_insensitive)

    def fits(trees: Sequence[PTree[tuple[str, int]]]) -> bool:
        return sum(_count(t) for t in trees) <= max_criteria

    pushed, residual = split(fold(expr), compiler.atom, accept=fits)
    if not pushed:
        return PushDown(None, residual)
    tree: PTree[tuple[str, int]] = pushed[0] if len(pushed) == 1 else PAnd(tuple(pushed))
    if isinstance(tree, POr | PAnd) and len(tree.items) == 1:  # pragma: no cover - split never does this
        tree = tree.items[0]
    return PushDown(_render(tree), residual)
