"""Dynamics 365 / Dataverse Web API ``$filter`` compiler (OData v4).

Sources: OData v4 URL conventions (``eq ne lt le gt ge and or not``, ``startswith``,
``endswith``, ``contains``, string literals in single quotes with ``''`` for a quote, unquoted
``2024-01-31`` / ``2024-01-31T10:00:00Z`` literals) and the Dataverse Web API "Filter rows" docs.

* Text comparisons in Dataverse are case-insensitive (SQL Server collation), as in crmhub.
* ``ne`` and ``not``: whether Dataverse returns null fields for them is not something to rely on,
  so ``ne``/``NOT IN``/``NOT LIKE`` carry ``and f ne null``.
* ``LIKE`` becomes ``startswith``/``endswith``/``contains``/``eq`` when ``%`` only sits at the ends
  and there is no ``_``. Dataverse hands these to SQL ``LIKE``, where a literal ``%`` or ``_``
  would act as a wildcard (a superset: pushed and re-checked) and ``[`` as a character class (not
  a superset: kept local).
* Relative dates become absolute bounds at compile time (``now``); they need the schema to know
  whether the field is a date or a datetime, else they stay local.
* Kept local: INCLUDES/EXCLUDES (Dataverse choices are integer option values, not labels), text
  ordering, field-to-field comparisons, functions, values with control characters.

Field paths ``Owner.Name`` become navigation paths ``Owner/Name``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from crmhub.core.clock import utcnow
from crmhub.expr import ast
from crmhub.expr._atoms import Shape, datetime_for_date_field, relative_bounds, shape_of
from crmhub.expr.dates import day_start
from crmhub.expr.optimize import fold
from crmhub.expr.pushdown import Atom, PushDown, flatten_and, render, split
from crmhub.expr.types import NUMERIC, TEMPORAL, TEXTUAL, ValueType
from crmhub.expr.values import like_tokens

__all__ = ["quote", "to_odata"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPS = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Longest $filter produced (URLs beyond ~32 KB are refused by Dataverse's front end).
MAX_FILTER_LENGTH = 8_000


def quote(text: str) -> str:
    """An OData string literal for ``text``."""
    return "'" + text.replace("'", "''") + "'"


def _datetime(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


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
        return _datetime(value)
    if isinstance(value, date):
        return _datetime(day_start(value)) if target == ValueType.datetime else value.isoformat()
    if isinstance(value, str):
        return None if _CONTROL.search(value) else quote(value)
    return None


def _kind_ok(value: object, ftype: ValueType | None) -> bool:
    if ftype is None:
        return True
    if isinstance(value, bool):
        return ftype == ValueType.boolean
    if isinstance(value, int | float):
        return ftype in NUMERIC
    if isinstance(value, date):
        return ftype in TEMPORAL
    if isinstance(value, str):
        return ftype in TEXTUAL
    return False


class _OData:
    def __init__(self, schema: Mapping[str, ValueType] | None, now: datetime) -> None:
        self.schema = schema
        self.now = now

    def atom(self, node: ast.Expr) -> Atom[str] | None:
        shape = shape_of(node)
        if shape is None or not _IDENT.fullmatch(shape.field):
            return None
        f = shape.field.replace(".", "/")
        ftype = self.schema.get(shape.field) if self.schema is not None else None
        if shape.kind == "null":
            return Atom(f"{f} {'ne' if shape.negated else 'eq'} null")
        if shape.kind == "compare":
            return self.compare(f, shape, ftype)
        if shape.kind == "in":
            return self.in_(f, shape, ftype)
        if shape.kind == "like":
            return self.like(f, shape, ftype)
        if shape.kind == "relative":
            return self.relative(f, shape, ftype)
        return None

    def compare(self, f: str, shape: Shape, ftype: ValueType | None) -> Atom[str] | None:
        op, value = shape.op, shape.value
        if value is None or not _kind_ok(value, ftype):
            return None
        if isinstance(value, datetime) and ftype == ValueType.date:
            fitted = datetime_for_date_field(op, value)
            if fitted is None:
                return None
            op, value = fitted
        if isinstance(value, str) and op not in ("=", "!="):
            return None
        if isinstance(value, bool) and op not in ("=", "!="):
            return None
        literal = _literal(value, ftype)
        if literal is None:
            return None
        if op == "!=":
            return Atom(f"({f} ne {literal} and {f} ne null)")
        return Atom(f"{f} {_OPS[op]} {literal}")

    def in_(self, f: str, shape: Shape, ftype: ValueType | None) -> Atom[str] | None:
        values = [v for v in shape.values if v is not None]
        if not values or (shape.negated and len(values) != len(shape.values)):
            return None
        literals: list[str] = []
        for v in values:
            ok = _kind_ok(v, ftype) and not isinstance(v, bool)
            if isinstance(v, datetime) and ftype == ValueType.date:
                ok = False
            lit = _literal(v, ftype) if ok else None
            if lit is None:
                return None
            literals.append(lit)
        if shape.negated:
            return Atom("(" + " and ".join([f"{f} ne {lit}" for lit in literals] + [f"{f} ne null"]) + ")")
        if len(literals) == 1:
            return Atom(f"{f} eq {literals[0]}")
        return Atom("(" + " or ".join(f"{f} eq {lit}" for lit in literals) + ")")

    def like(self, f: str, shape: Shape, ftype: ValueType | None) -> Atom[str] | None:
        if ftype is not None and ftype not in TEXTUAL:
            return None
        tokens = like_tokens(shape.value)
        if "_" in tokens:
            return None
        inner = tokens
        lead = bool(inner) and inner[0] == "%"
        trail = len(inner) > (1 if lead else 0) and inner[-1] == "%"
        core = inner[(1 if lead else 0) : len(inner) - (1 if trail else 0)]
        if "%" in core:
            return None
        text = "".join(t[1] for t in core)
        if _CONTROL.search(text) or "[" in text:
            return None
        wildcard_inside = "%" in text or "_" in text
        if shape.negated and wildcard_inside:
            return None
        lit = quote(text)
        if not core:
            test = f"{f} ne null"
        elif lead and trail:
            test = f"contains({f},{lit})"
        elif lead:
            test = f"endswith({f},{lit})"
        elif trail:
            test = f"startswith({f},{lit})"
        else:
            test = f"{f} eq {lit}"
        if shape.negated:
            if not core:
                return None  # NOT LIKE '%' is never true
            return Atom(f"(not {test} and {f} ne null)")
        return Atom(test, exact=not wildcard_inside)

    def relative(self, f: str, shape: Shape, ftype: ValueType | None) -> Atom[str] | None:
        if ftype not in TEMPORAL:
            return None
        assert shape.relative is not None
        start, end = relative_bounds(shape.relative, self.now)
        lo = _literal(start, ftype)
        hi = _literal(end, ftype)
        op = shape.op
        if op == "=":
            return Atom(f"({f} ge {lo} and {f} lt {hi})")
        if op == "!=":
            return Atom(f"({f} lt {lo} or {f} ge {hi})")
        if op == "<":
            return Atom(f"{f} lt {lo}")
        if op == "<=":
            return Atom(f"{f} lt {hi}")
        if op == ">":
            return Atom(f"{f} ge {hi}")
        return Atom(f"{f} ge {lo}")


def to_odata(
    expr: ast.Expr,
    *,
    schema: Mapping[str, ValueType] | None = None,
    now: Callable[[], datetime] | None = None,
    max_length: int = MAX_FILTER_LENGTH,
) -> PushDown[str]:
    """Compile a filter to an OData ``$filter`` value plus the residual to evaluate locally."""
    compiler = _OData(schema, (now or utcnow)())

    def text(trees: list[object]) -> str:
        return render(flatten_and(trees), str, " and ", " or ")  # type: ignore[arg-type]

    def fits(trees: object) -> bool:
        return len(text(list(trees))) <= max_length  # type: ignore[call-overload]

    pushed, residual = split(fold(expr), compiler.atom, accept=fits)
    if not pushed:
        return PushDown(None, residual)
    out = text(pushed)  # type: ignore[arg-type]
    if len(pushed) > 1:
        out = out[1:-1]
    return PushDown(out, residual)
