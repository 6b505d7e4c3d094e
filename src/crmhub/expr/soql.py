"""Salesforce SOQL ``WHERE`` compiler (the clause without the ``WHERE`` keyword).

Semantics bridged (Salesforce SOQL reference, "Comparison Operators", "Quoted String Escape
Sequences", "Date Formats and Date Literals"):

* SOQL treats NULL as a value: ``Industry != 'Banking'`` and ``NOT IN`` also return records whose
  field is null, ``NOT … LIKE`` and ``EXCLUDES`` likewise. The compiler adds ``AND F != null`` so
  our three-valued meaning holds. ``=`` / ``IN`` / ``LIKE`` never match null.
* ``=``, ``IN`` and ``LIKE`` on text are case-insensitive in SOQL, as in crmhub — except on
  case-sensitive unique fields (e.g. some external ids); list those in ``case_sensitive_fields``
  and their text comparisons stay local.
* Text ordering (``<`` on text) uses Salesforce's collation, not ours: kept local.
* SOQL cannot compare two fields or evaluate functions: kept local.
* ``INCLUDES ('a','b')`` means a OR b, as in crmhub; a value containing ``;`` means "both" in
  SOQL, so such values stay local.
* Datetime literals have whole seconds; a constant with a fraction is rounded outward (superset)
  and re-checked locally.
* Relative date literals are emitted as SOQL date literals (``LAST_N_DAYS:30``). Salesforce
  evaluates them in the running user's time zone and locale; with ``assume_utc_user=True``
  (default) they are exact for an integration user set to GMT. Week literals depend on the
  locale's first day of the week (crmhub weeks start on Monday), so they stay local; with
  ``assume_utc_user=False`` every relative date stays local.

Every value goes through :func:`quote` (SOQL escapes, ``\\uXXXX`` for other control characters).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from crmhub.expr import ast
from crmhub.expr._atoms import Shape, datetime_for_date_field, field_type, second_ceil, second_floor, shape_of
from crmhub.expr.optimize import fold
from crmhub.expr.pushdown import Atom, PushDown, flatten_and, render, split
from crmhub.expr.types import TEMPORAL, TEXTUAL, ValueType
from crmhub.expr.values import like_tokens

__all__ = ["quote", "to_soql"]

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_WEEK_LITERALS = {"THIS_WEEK", "LAST_WEEK", "NEXT_WEEK", "LAST_N_WEEKS", "NEXT_N_WEEKS", "N_WEEKS_AGO"}
_SOQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
#: Longest WHERE clause produced (SOQL statements are limited to 100,000 characters).
MAX_WHERE_LENGTH = 20_000


def _escape_char(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if code < 0x20 or 0x7F <= code < 0xA0 or ch in "\u2028\u2029":
        return f"\\u{code:04x}"
    return ch


def quote(text: str) -> str:
    """A SOQL string literal for ``text``."""
    return "'" + "".join(_escape_char(ch) for ch in text) + "'"


def quote_like(pattern: str) -> str:
    """A SOQL LIKE literal for a crmhub LIKE pattern (``%``/``_`` wildcards, ``\\`` escapes)."""
    out: list[str] = []
    for tok in like_tokens(pattern):
        if tok in ("%", "_"):
            out.append(tok)
        else:
            ch = tok[1]
            out.append("\\" + ch if ch in "%_" else _escape_char(ch))
    return "'" + "".join(out) + "'"


def _number(value: int | float) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return None
    text = format(Decimal(repr(value)), "f")
    return text


def _datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _literal(value: object, target: ValueType | None) -> str | None:
    """SOQL text of a constant compared with a field of type ``target`` (None: not expressible)."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, datetime):
        return _datetime(value)
    if isinstance(value, date):
        if target == ValueType.datetime:
            return _datetime(datetime(value.year, value.month, value.day, tzinfo=UTC))
        return value.isoformat()
    if isinstance(value, str):
        return quote(value)
    return None


class _Soql:
    def __init__(
        self,
        schema: Mapping[str, ValueType] | None,
        case_sensitive_fields: Collection[str],
        assume_utc_user: bool,
    ) -> None:
        self.schema = schema
        self.case_sensitive = {f.lower() for f in case_sensitive_fields}
        self.assume_utc_user = assume_utc_user

    def atom(self, node: ast.Expr) -> Atom[str] | None:
        shape = shape_of(node)
        if shape is None or not _IDENT.fullmatch(shape.field):
            return None
        f = shape.field
        ftype = self.schema.get(f) if self.schema is not None else None
        if shape.kind == "null":
            return Atom(f"{f} {'!=' if shape.negated else '='} null")
        if shape.kind == "compare":
            return self.compare(shape, ftype)
        if shape.kind == "relative":
            return self.relative(shape)
        if shape.kind == "in":
            return self.in_(shape, ftype)
        if shape.kind == "like":
            if self.text_blocked(f, ftype):
                return None
            text = f"{f} LIKE {quote_like(shape.value)}"
            return Atom(f"(NOT {text} AND {f} != null)" if shape.negated else text)
        if shape.kind == "includes":
            if ftype is not None and ftype != ValueType.multi_text:
                return None
            if not shape.values or any(";" in v for v in shape.values):
                return None
            items = ", ".join(quote(v) for v in shape.values)
            if shape.negated:
                return Atom(f"({f} EXCLUDES ({items}) AND {f} != null)")
            return Atom(f"{f} INCLUDES ({items})")
        return None

    def text_blocked(self, field: str, ftype: ValueType | None) -> bool:
        return field.lower() in self.case_sensitive or (ftype is not None and ftype not in TEXTUAL)

    def compare(self, shape: Shape, ftype: ValueType | None) -> Atom[str] | None:
        f, op, value = shape.field, shape.op, shape.value
        if value is None:
            return None
        target = field_type(self.schema, f, value)
        if isinstance(value, str):
            if op not in ("=", "!=") or self.text_blocked(f, ftype):
                return None
        elif isinstance(value, bool):
            if op not in ("=", "!="):
                return None
            want = value if op == "=" else not value
            return Atom(f"{f} = {'true' if want else 'false'}")
        elif isinstance(value, datetime) and ftype == ValueType.date:
            fitted = datetime_for_date_field(op, value)
            if fitted is None:
                return None
            op, value = fitted
        elif isinstance(value, datetime) and value.microsecond and target == ValueType.datetime:
            return self.fractional(f, op, value)
        elif isinstance(value, date) and ftype is not None and ftype not in TEMPORAL:
            return None
        literal = _literal(value, target)
        if literal is None:
            return None
        if op == "!=":
            return Atom(f"({f} != {literal} AND {f} != null)")
        return Atom(f"{f} {_SOQL_OPS[op]} {literal}")

    def fractional(self, f: str, op: str, value: datetime) -> Atom[str] | None:
        lo, hi = _datetime(second_floor(value)), _datetime(second_ceil(value))
        if op in (">", ">="):
            return Atom(f"{f} >= {lo}", exact=False)
        if op in ("<", "<="):
            return Atom(f"{f} <= {hi}", exact=False)
        if op == "=":
            return Atom(f"({f} >= {lo} AND {f} <= {hi})", exact=False)
        return Atom(f"{f} != null", exact=False)

    def relative(self, shape: Shape) -> Atom[str] | None:
        rel = shape.relative
        assert rel is not None
        if not self.assume_utc_user or rel.name in _WEEK_LITERALS:
            return None
        literal = rel.name if rel.n is None else f"{rel.name}:{rel.n}"
        f = shape.field
        if shape.op == "!=":
            return Atom(f"({f} != {literal} AND {f} != null)")
        return Atom(f"{f} {_SOQL_OPS[shape.op]} {literal}")

    def in_(self, shape: Shape, ftype: ValueType | None) -> Atom[str] | None:
        f = shape.field
        values = [v for v in shape.values if v is not None]
        has_null = len(values) != len(shape.values)
        if not values or (shape.negated and has_null):
            return None  # always FALSE/NULL: let the residual say so
        kinds = {float if type(v) is int else type(v) for v in values}
        if len(kinds) != 1 or bool in kinds:
            return None
        if kinds == {str} and self.text_blocked(f, ftype):
            return None
        target = field_type(self.schema, f, values[0])
        if any(isinstance(v, datetime) and (v.microsecond or ftype == ValueType.date) for v in values):
            return None
        literals = [_literal(v, target) for v in values]
        if any(lit is None for lit in literals):
            return None
        items = ", ".join(lit for lit in literals if lit is not None)
        if shape.negated:
            return Atom(f"({f} NOT IN ({items}) AND {f} != null)")
        return Atom(f"{f} IN ({items})")


def to_soql(
    expr: ast.Expr,
    *,
    schema: Mapping[str, ValueType] | None = None,
    case_sensitive_fields: Collection[str] = (),
    assume_utc_user: bool = True,
    max_length: int = MAX_WHERE_LENGTH,
) -> PushDown[str]:
    """Compile a filter to a SOQL WHERE condition plus the residual to evaluate locally.

    ``schema`` (field → type) is optional; with it, date constants compared with datetime fields
    are written as datetimes and mismatched comparisons stay local.
    """
    compiler = _Soql(schema, case_sensitive_fields, assume_utc_user)

    def text(trees: list[object]) -> str:
        return render(flatten_and(trees), str, " AND ", " OR ")  # type: ignore[arg-type]

    def fits(trees: object) -> bool:
        return len(text(list(trees))) <= max_length  # type: ignore[call-overload]

    pushed, residual = split(fold(expr), compiler.atom, accept=fits)
    if not pushed:
        return PushDown(None, residual)
    where = text(pushed)  # type: ignore[arg-type]
    # A top-level AND needs no outer parentheses; a top-level OR keeps them, so a caller that
    # appends "AND SystemModstamp > …" cannot change its meaning.
    if len(pushed) > 1 and where.startswith("(") and _balanced_outer(where):
        where = where[1:-1]
    return PushDown(where, residual)


def _balanced_outer(text: str) -> bool:
    """True when the first '(' closes at the very end (so the outer parentheses can go)."""
    depth = 0
    in_string = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == "'":
                in_string = False
        elif ch == "'":
            in_string = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return False
        i += 1
    return True
