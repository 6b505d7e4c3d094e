"""Expressions → SQLAlchemy expressions over the hub's JSON ``values`` column.

One meaning on SQLite and PostgreSQL alike (the same as the Python evaluator's):

* Values are read per attribute type from the canonical JSON (text, JSON numbers, true/false,
  ``"YYYY-MM-DD"`` dates, ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` datetimes, arrays of strings); a
  missing key or JSON null is NULL. On PostgreSQL numbers and booleans are read only when the JSON
  value has that type, so a stray value never aborts the query.
* Text comparisons (``=``, ``!=``, ``IN``, ``LIKE``, ``INCLUDES``, ordering) compare lower-cased
  text. PostgreSQL uses ``lower()``; SQLite's built-in ``lower()`` only knows ASCII, so on SQLite
  the compiler calls ``crmhub_lower()``/``crmhub_upper()``, which :func:`install_sqlite_functions`
  (or :func:`register_sqlite_functions` on a DB-API connection) registers — the store's engine
  must do that. Ordering uses ``COLLATE "C"`` on PostgreSQL: code-point order, as in Python and
  SQLite.
* NULL follows SQL's three-valued logic, which is crmhub's; ``x = NULL`` is NULL, not ``IS NULL``.
* Dates and datetimes compare as their canonical text (which sorts in time order); a date
  compared with a datetime counts as midnight UTC. Relative dates and ``TODAY()``/``NOW()`` are
  resolved when compiling (``now``).
* Every value is a bound parameter.

Functions translated: UPPER, LOWER, TRIM, LEN, LEFT, RIGHT, SUBSTR (constant positions), REPLACE,
CONCAT (text), COALESCE, ISBLANK, IF, CASE, ABS, MIN, MAX (numbers), YEAR, MONTH, DAY, DATE (of a
datetime), TODAY, NOW. Not translated (raise :class:`UnsupportedExpressionError` naming the
function): ROUND, SPLIT, JOIN, DATEADD, DATEDIFF, DATETIME, FORMAT_DATE, DOMAIN, DATE of text —
unless their arguments are constants, which are folded before compiling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from crmhub.core.clock import utcnow
from crmhub.expr import ast
from crmhub.expr.checker import Types, annotate, group_of
from crmhub.expr.dates import day_start, relative_range
from crmhub.expr.errors import UnsupportedExpressionError, excerpt
from crmhub.expr.optimize import fold
from crmhub.expr.types import NUMERIC, TEMPORAL, TEXTUAL, ValueType
from crmhub.expr.values import like_tokens, to_text

__all__ = [
    "SQL_FUNCTIONS",
    "compile_sql",
    "datetime_text",
    "install_sqlite_functions",
    "register_sqlite_functions",
]

T = ValueType
SQL_FUNCTIONS = frozenset(
    {
        "UPPER",
        "LOWER",
        "TRIM",
        "LEN",
        "LEFT",
        "RIGHT",
        "SUBSTR",
        "REPLACE",
        "CONCAT",
        "COALESCE",
        "ISBLANK",
        "IF",
        "CASE",
        "ABS",
        "MIN",
        "MAX",
        "YEAR",
        "MONTH",
        "DAY",
        "DATE",
        "TODAY",
        "NOW",
    }
)
_TRIM_CHARS = " \t\r\n"
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _sqlite_lower(value: Any) -> Any:
    return None if value is None else str(value).lower()


def _sqlite_upper(value: Any) -> Any:
    return None if value is None else str(value).upper()


def register_sqlite_functions(dbapi_connection: Any, connection_record: Any = None) -> None:
    """Register ``crmhub_lower``/``crmhub_upper`` on a sqlite3 connection (a ``connect`` listener)."""
    dbapi_connection.create_function("crmhub_lower", 1, _sqlite_lower, deterministic=True)
    dbapi_connection.create_function("crmhub_upper", 1, _sqlite_upper, deterministic=True)


def install_sqlite_functions(engine: Engine) -> None:
    """Make every new connection of a SQLite ``engine`` know crmhub's SQL functions."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", register_sqlite_functions)


def datetime_text(value: datetime) -> str:
    """The canonical JSON text of a datetime: UTC, six fraction digits, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unsupported(node: ast.Expr, message: str) -> UnsupportedExpressionError:
    span = node.span
    if span is None:
        return UnsupportedExpressionError(message)
    return UnsupportedExpressionError(
        message,
        line=span.line,
        column=span.column,
        excerpt=excerpt(span.source, span.line, span.column, max(1, span.end - span.start)),
    )


class _V:
    """A compiled SQL value with its crmhub type and, for literals, the Python constant."""

    __slots__ = ("sql", "type", "const", "is_const")

    def __init__(self, sql: Any, vtype: ValueType | None, const: Any = None, is_const: bool = False) -> None:
        self.sql = sql
        self.type = vtype
        self.const = const
        self.is_const = is_const


_NULL_BOOL = sa.cast(sa.null(), sa.Boolean)


class _SqlCompiler:
    def __init__(self, column: Any, dialect: str, types: Types, now: datetime) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"compile_sql supports sqlite and postgresql, not {dialect!r}")
        self.col = column
        self.pg = dialect == "postgresql"
        self.types = types
        self.now = now

    # Reading JSON ---------------------------------------------------------------------------------

    def _path(self, node: ast.Expr, key: str) -> Any:
        if '"' in key or "\\" in key:
            raise _unsupported(node, f"field name {key!r} cannot be read in SQLite (quote or backslash)")
        return sa.literal(f'$."{key}"', sa.String)

    def json_value(self, node: ast.Expr, key: str) -> Any:
        """The raw JSON value (jsonb on PostgreSQL, JSON text or SQL scalar on SQLite)."""
        if self.pg:
            return self.col.op("->")(sa.literal(key, sa.String))
        return sa.func.json_extract(self.col, self._path(node, key))

    def field(self, node: ast.Field, vtype: ValueType | None) -> Any:
        key = node.path
        if self.pg:
            raw = self.col.op("->")(sa.literal(key, sa.String))
            text = self.col.op("->>")(sa.literal(key, sa.String))
            if vtype in NUMERIC:
                return sa.case(
                    (sa.func.jsonb_typeof(raw) == "number", sa.cast(text, sa.Float)), else_=sa.null()
                )
            if vtype == T.boolean:
                return sa.case(
                    (sa.func.jsonb_typeof(raw) == "boolean", sa.cast(text, sa.Boolean)), else_=sa.null()
                )
            if vtype == T.multi_text:  # a JSON null is NULL, as ->> makes it for the other types
                return sa.func.nullif(raw, sa.cast(sa.literal("null"), self.col.type))
            return sa.type_coerce(text, sa.String)
        path = self._path(node, key)
        value = sa.func.json_extract(self.col, path)
        if vtype == T.boolean:
            kind = sa.func.json_type(self.col, path)
            return sa.type_coerce(sa.case((kind.in_(["true", "false"]), value), else_=sa.null()), sa.Boolean)
        if vtype in NUMERIC:
            return sa.type_coerce(value, sa.Float)
        return sa.type_coerce(value, sa.String)

    # Helpers --------------------------------------------------------------------------------------

    def lower(self, sql: Any) -> Any:
        return sa.func.lower(sql) if self.pg else sa.func.crmhub_lower(sql)

    def upper(self, sql: Any) -> Any:
        return sa.func.upper(sql) if self.pg else sa.func.crmhub_upper(sql)

    def collate(self, sql: Any) -> Any:
        return sa.collate(sql, "C") if self.pg else sql

    def const(self, value: Any, vtype: ValueType | None) -> _V:
        if self.pg and isinstance(value, str) and "\x00" in value:
            # PostgreSQL text and jsonb cannot hold NUL, so no stored value contains one either.
            raise UnsupportedExpressionError(
                "PostgreSQL cannot compare text containing a NUL character (\\u0000)",
                hint="remove the NUL character from the expression",
            )
        if value is None:
            return _V(sa.null(), vtype, None, True)
        if isinstance(value, bool):
            return _V(sa.literal(value, sa.Boolean), T.boolean, value, True)
        if isinstance(value, int | float):
            return _V(sa.literal(float(value), sa.Float), T.number, value, True)
        if isinstance(value, datetime):
            return _V(sa.literal(datetime_text(value), sa.String), T.datetime, value, True)
        if isinstance(value, date):
            return _V(sa.literal(value.isoformat(), sa.String), T.date, value, True)
        if isinstance(value, str):
            return _V(sa.literal(value, sa.String), T.text, value, True)
        raise TypeError(value)  # pragma: no cover

    def type_of(self, node: ast.Expr) -> ValueType | None:
        return self.types.get(id(node))

    # Nodes ----------------------------------------------------------------------------------------

    def value(self, node: ast.Expr) -> _V:
        vtype = self.type_of(node)
        match node:
            case ast.Literal(value=v):
                return self.const(v, vtype)
            case ast.Field():
                return _V(self.field(node, vtype), vtype)
            case ast.RelativeDate(name=name):
                raise _unsupported(node, f"{name} is a date range; compare a date field with it")
            case ast.Neg(operand=o):
                inner = self.value(o)
                return _V(-inner.sql, vtype)
            case ast.Not(operand=o):
                return _V(sa.not_(self.condition(o)), T.boolean)
            case ast.And(items=items):
                return _V(sa.and_(*[self.condition(i) for i in items]), T.boolean)
            case ast.Or(items=items):
                return _V(sa.or_(*[self.condition(i) for i in items]), T.boolean)
            case ast.Arith():
                return self.arith(node, vtype)
            case ast.Compare():
                return _V(self.compare(node), T.boolean)
            case ast.In():
                return _V(self.in_(node), T.boolean)
            case ast.Like():
                return _V(self.like(node), T.boolean)
            case ast.IsNull(operand=o, negated=neg):
                inner = self.value(o)
                if inner.is_const:
                    return self.const((inner.const is None) != neg, T.boolean)
                return _V(inner.sql.is_not(None) if neg else inner.sql.is_(None), T.boolean)
            case ast.Includes():
                return _V(self.includes(node), T.boolean)
            case ast.Call():
                return self.call(node, vtype)
        raise TypeError(node)  # pragma: no cover

    def condition(self, node: ast.Expr) -> Any:
        v = self.value(node)
        if v.is_const:
            return _NULL_BOOL if v.const is None else (sa.true() if v.const else sa.false())
        return v.sql

    def text_pair(self, a: _V, b: _V) -> tuple[Any, Any]:
        """Both sides lower-cased for a case-insensitive comparison (constants in Python)."""
        left = self.const(a.const.lower(), T.text).sql if a.is_const else self.lower(a.sql)
        right = self.const(b.const.lower(), T.text).sql if b.is_const else self.lower(b.sql)
        return left, right

    def temporal_pair(self, a: _V, b: _V) -> tuple[Any, Any]:
        if a.type == b.type or a.type is None or b.type is None:
            return a.sql, b.sql
        return self.as_datetime_text(a), self.as_datetime_text(b)

    def as_datetime_text(self, v: _V) -> Any:
        if v.type != T.date:
            return v.sql
        if v.is_const:
            return self.const(day_start(v.const), T.datetime).sql
        return sa.type_coerce(v.sql.concat("T00:00:00.000000Z"), sa.String)

    def compare(self, node: ast.Compare) -> Any:
        op, left, right = node.op, node.left, node.right
        if isinstance(left, ast.RelativeDate):
            op, left, right = _FLIP[op], right, left
        if isinstance(right, ast.RelativeDate):
            return self.relative(op, left, right)
        a, b = self.value(left), self.value(right)
        if (a.is_const and a.const is None) or (b.is_const and b.const is None):
            return _NULL_BOOL
        kind = a.type or b.type
        if kind is None:
            return _NULL_BOOL
        group = group_of(kind)
        if group == "text":
            x, y = self.text_pair(a, b)
            if op not in ("=", "!="):
                x, y = self.collate(x), self.collate(y)
        elif group == "date":
            x, y = self.temporal_pair(a, b)
            x, y = self.collate(x), self.collate(y)
        else:
            x, y = a.sql, b.sql
        return _OPS[op](x, y)

    def relative(self, op: str, operand: ast.Expr, rel: ast.RelativeDate) -> Any:
        v = self.value(operand)
        start, end = relative_range(rel.name, rel.n, self.now.date())
        lo: Any
        hi: Any
        if v.type == T.datetime:
            lo, hi = self.const(day_start(start), T.datetime).sql, self.const(day_start(end), T.datetime).sql
        else:
            lo, hi = self.const(start, T.date).sql, self.const(end, T.date).sql
        x = self.collate(v.sql)
        if op == "=":
            return sa.and_(x >= lo, x < hi)
        if op == "!=":
            return sa.or_(x < lo, x >= hi)
        if op == "<":
            return x < lo
        if op == "<=":
            return x < hi
        if op == ">":
            return x >= hi
        return x >= lo

    def in_(self, node: ast.In) -> Any:
        v = self.value(node.operand)
        if not node.items:
            return sa.true() if node.negated else sa.false()
        items = [self.value(i) for i in node.items]
        if v.is_const and v.const is None:
            return _NULL_BOOL
        has_null = any(i.is_const and i.const is None for i in items)
        items = [i for i in items if not (i.is_const and i.const is None)]
        kind = v.type or next((i.type for i in items if i.type is not None), None)
        text = kind is not None and group_of(kind) == "text"
        if items and all(i.is_const for i in items):
            if text:
                target = self.lower(v.sql) if not v.is_const else self.const(v.const.lower(), T.text).sql
                consts = sorted({i.const.lower() for i in items})
            elif kind is not None and group_of(kind) == "date":
                target = v.sql
                consts = sorted(
                    {
                        i.const.isoformat()
                        if v.type == T.date and type(i.const) is date
                        else datetime_text(i.const if isinstance(i.const, datetime) else day_start(i.const))
                        for i in items
                    }
                )
                if v.type == T.datetime or any(isinstance(i.const, datetime) for i in items):
                    target = self.as_datetime_text(v)
                    consts = sorted(
                        {
                            datetime_text(i.const if isinstance(i.const, datetime) else day_start(i.const))
                            for i in items
                        }
                    )
            else:
                target = v.sql
                consts = [
                    float(i.const)
                    if isinstance(i.const, int | float) and not isinstance(i.const, bool)
                    else i.const
                    for i in items
                ]
            core = target.not_in(consts) if node.negated else target.in_(consts)
        elif items:
            parts = [
                self.compare(ast.Compare("!=" if node.negated else "=", node.operand, item))
                for item in node.items
                if not (isinstance(item, ast.Literal) and item.value is None)
            ]
            core = sa.and_(*parts) if node.negated else sa.or_(*parts)
        else:
            core = None
        if has_null:
            if core is None:
                return _NULL_BOOL
            return sa.and_(core, _NULL_BOOL) if node.negated else sa.or_(core, _NULL_BOOL)
        return core

    def like(self, node: ast.Like) -> Any:
        v = self.value(node.operand)
        p = self.value(node.pattern)
        if not p.is_const:
            raise _unsupported(node.pattern, "a LIKE pattern must be a constant in SQL")
        if p.const is None or (v.is_const and v.const is None):
            return _NULL_BOOL
        pattern = []
        for tok in like_tokens(to_text(p.const) or ""):
            if tok in ("%", "_"):
                pattern.append(tok)
            else:
                ch = tok[1].lower()
                pattern.append("\\" + ch if ch in "%_\\" else ch)
        target = self.lower(v.sql) if not v.is_const else self.const(_lower_text(v.const), T.text).sql
        bound = sa.literal("".join(pattern), sa.String)
        if node.negated:
            return target.not_like(bound, escape="\\")
        return target.like(bound, escape="\\")

    def includes(self, node: ast.Includes) -> Any:
        if not isinstance(node.operand, ast.Field):
            raise _unsupported(node, "INCLUDES/EXCLUDES in SQL need a multi-value field on the left")
        wanted = []
        for item in node.items:
            iv = self.value(item)
            if not iv.is_const:
                raise _unsupported(item, "INCLUDES/EXCLUDES values must be constants in SQL")
            text = to_text(iv.const)
            if text is not None:
                wanted.append(text.lower())
        key = node.operand.path
        if self.pg:
            raw = self.col.op("->")(sa.literal(key, sa.String))
            array = sa.case(
                (sa.func.jsonb_typeof(raw) == "array", raw), else_=sa.cast(sa.literal("[]"), self.col.type)
            )
            elements = sa.func.jsonb_array_elements_text(array).table_valued("value")
            is_null = self.col.op("->>")(sa.literal(key, sa.String)).is_(None)
        else:
            path = self._path(node, key)
            elements = sa.func.json_each(self.col, path).table_valued("value")
            is_null = sa.func.json_extract(self.col, path).is_(None)
        found = sa.exists(
            sa.select(sa.literal(1))
            .select_from(elements)
            .where(self.lower(elements.c.value).in_(sorted(set(wanted))))
        )
        test = sa.not_(found) if node.negated else found
        return sa.case((is_null, _NULL_BOOL), else_=test)

    def arith(self, node: ast.Arith, vtype: ValueType | None) -> _V:
        a, b = self.value(node.left), self.value(node.right)
        if node.op == "&":
            return _V(
                sa.type_coerce(
                    self.text_operand(node.left, a).concat(self.text_operand(node.right, b)), sa.String
                ),
                T.text,
            )
        for v in (a, b):
            if v.type is not None and v.type not in NUMERIC:
                raise _unsupported(
                    node, f"date arithmetic ({node.op}) is not translated to SQL; use a constant date"
                )
        if node.op == "+":
            return _V(a.sql + b.sql, vtype)
        if node.op == "-":
            return _V(a.sql - b.sql, vtype)
        if node.op == "*":
            return _V(a.sql * b.sql, vtype)
        return _V(sa.cast(a.sql, sa.Float) / sa.func.nullif(b.sql, 0), vtype)

    def text_operand(self, node: ast.Expr, v: _V) -> Any:
        """A text value for concatenation (NULL counts as empty text)."""
        if v.is_const:
            return sa.literal(to_text(v.const) or "", sa.String)
        if v.type is not None and v.type not in TEXTUAL and v.type not in TEMPORAL:
            raise _unsupported(
                node, f"text from a {v.type} value is not translated to SQL; compute it in a mapping"
            )
        return sa.func.coalesce(v.sql, sa.literal("", sa.String))

    # Functions ------------------------------------------------------------------------------------

    def call(self, node: ast.Call, vtype: ValueType | None) -> _V:
        name = node.name
        if name not in SQL_FUNCTIONS:
            raise _unsupported(
                node, f"{name} is not translated to SQL; evaluate it in Python or use it in a mapping"
            )
        if name == "TODAY":
            return self.const(self.now.date(), T.date)
        if name == "NOW":
            return self.const(self.now, T.datetime)
        if name == "IF":
            cond = self.condition(node.args[0])
            then = self.value(node.args[1]).sql
            other = self.value(node.args[2]).sql if len(node.args) > 2 else sa.null()
            return _V(sa.case((cond, then), else_=other), vtype)
        if name == "CASE":
            return self.case(node, vtype)
        if name == "COALESCE":
            return _V(sa.func.coalesce(*[self.value(a).sql for a in node.args]), vtype)
        args = [self.value(a) for a in node.args]
        first = args[0]
        if name == "UPPER":
            return _V(self.upper(first.sql), T.text)
        if name == "LOWER":
            return _V(self.lower(first.sql), T.text)
        if name == "TRIM":
            if self.pg:
                return _V(sa.func.btrim(first.sql, sa.literal(_TRIM_CHARS)), T.text)
            return _V(sa.func.trim(first.sql, sa.literal(_TRIM_CHARS)), T.text)
        if name == "LEN":
            return _V(sa.func.length(first.sql), T.number)
        if name in ("LEFT", "RIGHT", "SUBSTR"):
            return self.substring(node, args)
        if name == "REPLACE":
            return _V(sa.func.replace(first.sql, args[1].sql, args[2].sql), T.text)
        if name == "CONCAT":
            parts = [self.text_operand(a, v) for a, v in zip(node.args, args, strict=True)]
            result = parts[0]
            for part in parts[1:]:
                result = result.concat(part)
            return _V(sa.type_coerce(result, sa.String), T.text)
        if name == "ISBLANK":
            if first.type in TEXTUAL:
                return _V(sa.or_(first.sql.is_(None), first.sql == ""), T.boolean)
            if first.type == T.multi_text and isinstance(node.args[0], ast.Field):
                if self.pg:
                    kind = sa.func.jsonb_typeof(first.sql)
                    length = sa.func.jsonb_array_length(first.sql)
                else:
                    path = self._path(node, node.args[0].path)
                    kind = sa.func.json_type(self.col, path)
                    length = sa.func.json_array_length(self.col, path)
                empty = sa.case((kind == "array", length == 0), else_=sa.false())
                return _V(sa.or_(first.sql.is_(None), empty), T.boolean)
            return _V(first.sql.is_(None), T.boolean)
        if name == "ABS":
            return _V(sa.func.abs(first.sql), vtype)
        if name in ("MIN", "MAX"):
            return self.minmax(node, args, vtype)
        if name in ("YEAR", "MONTH", "DAY"):
            begin, size = {"YEAR": (1, 4), "MONTH": (6, 2), "DAY": (9, 2)}[name]
            return _V(sa.cast(sa.func.substr(first.sql, begin, size), sa.Integer), T.number)
        if name == "DATE" and len(args) == 1 and first.type in TEMPORAL:
            return _V(sa.type_coerce(sa.func.substr(first.sql, 1, 10), sa.String), T.date)
        raise _unsupported(node, f"{name} with these arguments is not translated to SQL")

    def substring(self, node: ast.Call, args: Sequence[_V]) -> _V:
        for a, v in zip(node.args[1:], args[1:], strict=True):
            if not v.is_const:
                raise _unsupported(a, f"{node.name} positions must be constants in SQL")
            if v.const is None:
                return self.const(None, T.text)
        text = args[0].sql
        numbers = [int(v.const) for v in args[1:]]
        if node.name == "LEFT":
            return _V(sa.func.substr(text, 1, max(0, numbers[0])), T.text)
        if node.name == "RIGHT":
            count = max(0, numbers[0])
            if count == 0:
                return _V(sa.case((text.is_(None), sa.null()), else_=sa.literal("")), T.text)
            return _V(sa.func.right(text, count) if self.pg else sa.func.substr(text, -count), T.text)
        start = max(1, numbers[0])
        if len(numbers) == 1:
            return _V(sa.func.substr(text, start), T.text)
        return _V(sa.func.substr(text, start, max(0, numbers[1])), T.text)

    def minmax(self, node: ast.Call, args: Sequence[_V], vtype: ValueType | None) -> _V:
        if any(a.type is not None and a.type not in NUMERIC for a in args):
            raise _unsupported(node, f"{node.name} of dates is not translated to SQL")
        sqls = [a.sql for a in args]
        if len(sqls) == 1:
            return _V(sqls[0], vtype)
        if self.pg:
            pg_name = "least" if node.name == "MIN" else "greatest"
            return _V(getattr(sa.func, pg_name)(*sqls), vtype)
        # SQLite's min()/max() return NULL if any argument is NULL; rotate COALESCEs so each slot
        # holds its own value or, if NULL, another non-NULL one.
        rotated = [sa.func.coalesce(*(sqls[i:] + sqls[:i])) for i in range(len(sqls))]
        lite_name = "min" if node.name == "MIN" else "max"
        return _V(getattr(sa.func, lite_name)(*rotated), vtype)

    def case(self, node: ast.Call, vtype: ValueType | None) -> _V:
        subject, rest = node.args[0], node.args[1:]
        whens = []
        for i in range(0, len(rest) - 1, 2):
            test = self.compare(ast.Compare("=", subject, rest[i]))
            whens.append((test, self.value(rest[i + 1]).sql))
        default = self.value(rest[-1]).sql if len(rest) % 2 == 1 else sa.null()
        return _V(sa.case(*whens, else_=default), vtype)


def _lower_text(value: Any) -> str:
    return (to_text(value) or "").lower()


def _eq(a: Any, b: Any) -> Any:
    return a == b


def _ne(a: Any, b: Any) -> Any:
    return a != b


def _lt(a: Any, b: Any) -> Any:
    return a < b


def _le(a: Any, b: Any) -> Any:
    return a <= b


def _gt(a: Any, b: Any) -> Any:
    return a > b


def _ge(a: Any, b: Any) -> Any:
    return a >= b


_OPS: dict[str, Callable[[Any, Any], Any]] = {"=": _eq, "!=": _ne, "<": _lt, "<=": _le, ">": _gt, ">=": _ge}


def compile_sql(
    expr: ast.Expr,
    values_column: Any,
    *,
    dialect_name: str,
    schema: Mapping[str, ValueType],
    now: Callable[[], datetime] | None = None,
) -> ColumnElement[bool]:
    """Compile a filter into a SQLAlchemy boolean expression over the JSON ``values_column``.

    Raises:
        ExpressionTypeError: the filter does not fit ``schema``.
        UnsupportedExpressionError: a part (e.g. a function) has no SQL translation; it names it.
    """
    folded = fold(expr)
    types = annotate(folded, schema)
    moment = (now or utcnow)().astimezone(UTC)
    compiler = _SqlCompiler(values_column, dialect_name, types, moment)
    result: ColumnElement[bool] = compiler.condition(folded)
    return result
