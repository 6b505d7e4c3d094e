"""The expression AST: small frozen dataclasses, one per construct.

Nodes compare by value (positions are ignored), so ``parse("a = 1") == parse("a=1")``.
:func:`unparse` turns a tree back into canonical text that parses to an equal tree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeAlias

from crmhub.expr.types import ValueType

__all__ = [
    "And",
    "Arith",
    "Call",
    "Compare",
    "Expr",
    "Field",
    "In",
    "Includes",
    "IsNull",
    "Like",
    "Literal",
    "LiteralValue",
    "Neg",
    "Not",
    "Or",
    "RelativeDate",
    "Span",
    "children",
    "format_datetime",
    "literal_type",
    "unparse",
    "walk",
]

LiteralValue: TypeAlias = None | bool | int | float | str | date | datetime


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node sits in its source text (lines and columns 1-based, offsets 0-based)."""

    start: int
    end: int
    line: int
    column: int
    source: str = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every AST node."""

    span: Span | None = field(default=None, kw_only=True, compare=False, repr=False)


def literal_type(value: LiteralValue) -> ValueType | None:
    """The value type of a literal Python value (None for NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ValueType.boolean
    if isinstance(value, int | float):
        return ValueType.number
    if isinstance(value, str):
        return ValueType.text
    if isinstance(value, datetime):
        return ValueType.datetime
    return ValueType.date


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant: text, number, boolean, date, datetime (aware UTC) or NULL (``value=None``)."""

    value: LiteralValue
    kind: ValueType | None = None

    def __post_init__(self) -> None:
        if self.kind is None and self.value is not None:
            object.__setattr__(self, "kind", literal_type(self.value))


@dataclass(frozen=True, slots=True)
class Field(Node):
    """A field path such as ``Owner.Name``."""

    path: str


@dataclass(frozen=True, slots=True)
class RelativeDate(Node):
    """A relative date range such as ``TODAY`` or ``LAST_N_DAYS:30`` (``n`` is None without ``:n``)."""

    name: str
    n: int | None = None


@dataclass(frozen=True, slots=True)
class Neg(Node):
    """Unary minus."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class Not(Node):
    """Logical NOT (three-valued)."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class Arith(Node):
    """Binary arithmetic ``+ - * /`` or text concatenation ``&``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """A comparison ``= != < <= > >=``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class In(Node):
    """``operand [NOT] IN (items…)``."""

    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Like(Node):
    """``operand [NOT] LIKE pattern`` with ``%`` and ``_`` wildcards (backslash escapes)."""

    operand: Expr
    pattern: Expr
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull(Node):
    """``operand IS [NOT] NULL``."""

    operand: Expr
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Includes(Node):
    """``operand INCLUDES (items…)`` or, negated, ``EXCLUDES`` on a multi-value field."""

    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And(Node):
    """Logical AND of two or more operands (three-valued)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    """Logical OR of two or more operands (three-valued)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A function call; ``name`` is upper case."""

    name: str
    args: tuple[Expr, ...]


Expr: TypeAlias = (
    Literal
    | Field
    | RelativeDate
    | Neg
    | Not
    | Arith
    | Compare
    | In
    | Like
    | IsNull
    | Includes
    | And
    | Or
    | Call
)


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``node``."""
    match node:
        case Literal() | Field() | RelativeDate():
            return ()
        case Neg(operand=o) | Not(operand=o) | IsNull(operand=o):
            return (o,)
        case Arith(left=a, right=b) | Compare(left=a, right=b):
            return (a, b)
        case In(operand=o, items=items) | Includes(operand=o, items=items):
            return (o, *items)
        case Like(operand=o, pattern=p):
            return (o, p)
        case And(items=items) | Or(items=items):
            return items
        case Call(args=args):
            return args
    raise TypeError(f"not an expression node: {node!r}")  # pragma: no cover


def walk(node: Expr) -> Iterator[Expr]:
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


# Unparsing ---------------------------------------------------------------------------------------

# Binding strength, loosest first; used to decide where parentheses are needed.
_OR, _AND, _NOT, _PRED, _SUM, _PRODUCT, _UNARY, _ATOM = range(8)
_ARITH_LEVEL = {"+": _SUM, "-": _SUM, "&": _SUM, "*": _PRODUCT, "/": _PRODUCT}


def format_datetime(value: datetime) -> str:
    """ISO text of an aware datetime in UTC with ``Z`` (fraction only when present)."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text + "Z"


def _quote(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _literal_text(value: LiteralValue) -> str:
    if value is None:
        return "NULL"
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("NaN and infinity have no literal form")
        text = repr(value)
        return text if ("e" in text or "." in text) else text + ".0"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    return value.isoformat()


_IDENT_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def _field_text(path: str) -> str:
    from crmhub.expr.parser import is_plain_field  # local: the parser imports this module

    return path if is_plain_field(path) else "`" + path + "`"


def _level(node: Expr) -> int:
    match node:
        case Or():
            return _OR
        case And():
            return _AND
        case Not():
            return _NOT
        case Compare() | In() | Like() | IsNull() | Includes():
            return _PRED
        case Arith(op=op):
            return _ARITH_LEVEL[op]
        case Neg():
            return _UNARY
        case Literal(value=v) if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            return _UNARY
    return _ATOM


def _wrap(node: Expr, minimum: int) -> str:
    text = unparse(node)
    return f"({text})" if _level(node) < minimum else text


def unparse(node: Expr) -> str:
    """Canonical text of ``node``; parsing it gives back an equal tree."""
    match node:
        case Literal(value=v):
            return _literal_text(v)
        case Field(path=p):
            return _field_text(p)
        case RelativeDate(name=name, n=n):
            return name if n is None else f"{name}:{n}"
        case Neg(operand=o):
            return "-" + _wrap(o, _UNARY)
        case Not(operand=o):
            return "NOT " + _wrap(o, _NOT)
        case Arith(op=op, left=a, right=b):
            level = _ARITH_LEVEL[op]
            return f"{_wrap(a, level)} {op} {_wrap(b, level + 1)}"
        case Compare(op=op, left=a, right=b):
            return f"{_wrap(a, _SUM)} {op} {_wrap(b, _SUM)}"
        case In(operand=o, items=items, negated=neg):
            kw = "NOT IN" if neg else "IN"
            return f"{_wrap(o, _SUM)} {kw} ({', '.join(unparse(i) for i in items)})"
        case Includes(operand=o, items=items, negated=neg):
            kw = "EXCLUDES" if neg else "INCLUDES"
            return f"{_wrap(o, _SUM)} {kw} ({', '.join(unparse(i) for i in items)})"
        case Like(operand=o, pattern=p, negated=neg):
            kw = "NOT LIKE" if neg else "LIKE"
            return f"{_wrap(o, _SUM)} {kw} {_wrap(p, _SUM)}"
        case IsNull(operand=o, negated=neg):
            return f"{_wrap(o, _SUM)} IS {'NOT NULL' if neg else 'NULL'}"
        case And(items=items):
            return " AND ".join(_wrap(i, _NOT) for i in items)
        case Or(items=items):
            return " OR ".join(_wrap(i, _AND) for i in items)
        case Call(name=name, args=args):
            return f"{name}({', '.join(unparse(a) for a in args)})"
    raise TypeError(f"not an expression node: {node!r}")  # pragma: no cover
