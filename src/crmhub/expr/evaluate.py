"""The Python compiler: an AST becomes a tree of small closures evaluated per record.

No ``eval``/``exec``/``compile`` of user text and no ``getattr`` on user-provided names: fields are
dictionary lookups, functions come from the allow-list in :mod:`crmhub.expr.functions`.
Closures are specialised at compile time: a comparison of a field with a constant becomes one
tiny function with the constant already lower-cased or converted, AND/OR short-circuit, and
constant sub-expressions are folded.

Values are three-valued: a comparison with NULL is NULL (``None``), ``NOT NULL`` is NULL, and a
filter selects a record only when the result is ``True``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from crmhub.core.clock import utcnow
from crmhub.core.errors import CrmHubError, ValueConversionError
from crmhub.expr import ast
from crmhub.expr.dates import day_start, relative_range
from crmhub.expr.errors import ExpressionEvaluationError, UnsupportedExpressionError, excerpt
from crmhub.expr.functions import FUNCTIONS, concat
from crmhub.expr.values import (
    check_size,
    compare,
    equals,
    like_matcher,
    like_tokens,
    to_bool,
    to_datetime,
    to_list,
    to_number,
    to_temporal,
    to_text,
)

__all__ = ["Evaluator", "compile_python", "lookup"]

Record = Mapping[str, Any]
Evaluator = Callable[[Record], Any]

_MISSING = object()
_NEGATE = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def lookup(record: Record, path: str) -> Any:
    """The value at ``path``: the literal key first, then a walk through nested mappings."""
    value = record.get(path, _MISSING)
    if value is not _MISSING:
        return value
    if "." not in path:
        return None
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
        if current is None:
            return None
    return current


class _Const:
    """Marker for a compiled constant."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


Compiled = Evaluator | _Const


def _fn(c: Compiled) -> Evaluator:
    if isinstance(c, _Const):
        value = c.value
        return lambda r: value
    return c


def _error(node: ast.Expr, message: str) -> UnsupportedExpressionError:
    span = node.span
    if span is None:
        return UnsupportedExpressionError(message)
    return UnsupportedExpressionError(
        message, line=span.line, column=span.column, excerpt=excerpt(span.source, span.line, span.column)
    )


class _Compiler:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now

    # Entry ---------------------------------------------------------------------------------------

    def build(self, node: ast.Expr) -> Compiled:
        match node:
            case ast.Literal(value=v):
                return _Const(v)
            case ast.Field(path=p):
                return self.field(p)
            case ast.RelativeDate(name=name):
                raise _error(node, f"{name} is a date range; compare a date field with it")
            case ast.Neg(operand=o):
                return self.unary(o, _neg)
            case ast.Not(operand=o):
                return self.unary(o, _not3)
            case ast.And(items=items):
                return self.and_(items)
            case ast.Or(items=items):
                return self.or_(items)
            case ast.Arith(op=op, left=a, right=b):
                return self.arith(op, a, b)
            case ast.Compare():
                return self.compare(node)
            case ast.In(operand=o, items=items, negated=neg):
                return self.in_(o, items, neg)
            case ast.Like(operand=o, pattern=p, negated=neg):
                return self.like(o, p, neg)
            case ast.IsNull(operand=o, negated=neg):
                return self.is_null(o, neg)
            case ast.Includes(operand=o, items=items, negated=neg):
                return self.includes(o, items, neg)
            case ast.Call():
                return self.call(node)
        raise TypeError(node)  # pragma: no cover

    def boolean(self, node: ast.Expr) -> Compiled:
        """Compile an operand of AND/OR/NOT/IF: raw values (``"true"``) become booleans."""
        compiled = self.build(node)
        if isinstance(compiled, _Const):
            return _Const(to_bool(compiled.value))
        if isinstance(node, ast.Field | ast.Call | ast.Arith | ast.Neg):
            inner = compiled

            def as_bool(r: Record) -> Any:
                v = inner(r)
                if v is True or v is False or v is None:
                    return v
                return to_bool(v)

            return as_bool
        return compiled

    # Leaves --------------------------------------------------------------------------------------

    def field(self, path: str) -> Compiled:
        if "." not in path:
            return lambda r: r.get(path)
        return lambda r: lookup(r, path)

    def unary(self, operand: ast.Expr, op: Callable[[Any], Any]) -> Compiled:
        inner = self.boolean(operand) if op is _not3 else self.build(operand)
        if isinstance(inner, _Const):
            return _Const(op(inner.value))
        return lambda r: op(inner(r))

    # Logic ---------------------------------------------------------------------------------------

    def and_(self, items: tuple[ast.Expr, ...]) -> Compiled:
        parts: list[Evaluator] = []
        unknown = False
        for item in items:
            c = self.boolean(item)
            if isinstance(c, _Const):
                if c.value is False:
                    return _Const(False)
                if c.value is None:
                    unknown = True
                continue
            parts.append(c)
        if not parts:
            return _Const(None if unknown else True)
        if unknown:
            parts.append(lambda r: None)
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts

            def and2(r: Record) -> Any:
                x = a(r)
                if x is False:
                    return False
                y = b(r)
                if y is False:
                    return False
                return None if x is None or y is None else True

            return and2
        fns = tuple(parts)

        def and_n(r: Record) -> Any:
            result: Any = True
            for f in fns:
                v = f(r)
                if v is False:
                    return False
                if v is None:
                    result = None
            return result

        return and_n

    def or_(self, items: tuple[ast.Expr, ...]) -> Compiled:
        parts: list[Evaluator] = []
        unknown = False
        for item in items:
            c = self.boolean(item)
            if isinstance(c, _Const):
                if c.value is True:
                    return _Const(True)
                if c.value is None:
                    unknown = True
                continue
            parts.append(c)
        if not parts:
            return _Const(None if unknown else False)
        if unknown:
            parts.append(lambda r: None)
        if len(parts) == 1:
            return parts[0]
        fns = tuple(parts)

        def or_n(r: Record) -> Any:
            result: Any = False
            for f in fns:
                v = f(r)
                if v is True:
                    return True
                if v is None:
                    result = None
            return result

        return or_n

    # Arithmetic ----------------------------------------------------------------------------------

    def arith(self, op: str, left: ast.Expr, right: ast.Expr) -> Compiled:
        a, b = self.build(left), self.build(right)
        fn = _concat2 if op == "&" else _ARITH[op]
        if isinstance(a, _Const) and isinstance(b, _Const):
            return _Const(fn(a.value, b.value))
        fa, fb = _fn(a), _fn(b)
        return lambda r: fn(fa(r), fb(r))

    # Comparisons ---------------------------------------------------------------------------------

    def compare(self, node: ast.Compare) -> Compiled:
        op, left, right = node.op, node.left, node.right
        if isinstance(left, ast.RelativeDate) and not isinstance(right, ast.RelativeDate):
            op, left, right = _FLIP[op], right, left
        if isinstance(right, ast.RelativeDate):
            return self.relative(op, left, right)
        if isinstance(left, ast.Literal) and not isinstance(right, ast.Literal):
            op, left, right = _FLIP[op], right, left
        a = self.build(left)
        b = self.build(right)
        if isinstance(b, _Const):
            if b.value is None:
                return _Const(None)
            if isinstance(a, _Const):
                return _Const(compare(op, a.value, b.value))
            key = left.path if isinstance(left, ast.Field) and "." not in left.path else None
            return _compare_const(op, key, a, b.value)
        fa, fb = _fn(a), _fn(b)
        return lambda r: compare(op, fa(r), fb(r))

    def relative(self, op: str, operand: ast.Expr, rel: ast.RelativeDate) -> Compiled:
        value = _fn(self.build(operand))
        now = self.now
        name, n = rel.name, rel.n
        cache: list[Any] = [None, None]

        def bounds() -> tuple[date, date, datetime, datetime]:
            today = now().astimezone(UTC).date()
            if cache[0] != today:
                start, end = relative_range(name, n, today)
                cache[0] = today
                cache[1] = (start, end, day_start(start), day_start(end))
            result: tuple[date, date, datetime, datetime] = cache[1]
            return result

        def rel_cmp(r: Record) -> Any:
            v = value(r)
            if v is None:
                return None
            start, end, start_dt, end_dt = bounds()
            if isinstance(v, datetime):
                lo: Any = start_dt
                hi: Any = end_dt
                v = v if v.tzinfo is not None else v.replace(tzinfo=UTC)
            elif isinstance(v, date):
                lo, hi = start, end
            else:
                v = to_datetime(v) if isinstance(v, str) and len(v.strip()) > 10 else _to_date_value(v)
                lo, hi = (start_dt, end_dt) if isinstance(v, datetime) else (start, end)
            if op == "=":
                return lo <= v < hi
            if op == "!=":
                return v < lo or v >= hi
            if op == "<":
                return v < lo
            if op == "<=":
                return v < hi
            if op == ">":
                return v >= hi
            return v >= lo

        return rel_cmp

    def in_(self, operand: ast.Expr, items: tuple[ast.Expr, ...], negated: bool) -> Compiled:
        value = self.build(operand)
        if not items:
            return _Const(negated)
        compiled = [self.build(i) for i in items]
        if all(isinstance(c, _Const) for c in compiled):
            consts = [c.value for c in compiled if isinstance(c, _Const)]
            has_null = any(v is None for v in consts)
            non_null = [v for v in consts if v is not None]
            if isinstance(value, _Const):
                return _Const(_in_generic(value.value, non_null, has_null, negated))
            if non_null and all(v.__class__ is str for v in non_null):
                return _in_text(operand, value, non_null, has_null, negated)
            fv = value

            def in_consts(r: Record) -> Any:
                return _in_generic(fv(r), non_null, has_null, negated)

            return in_consts
        fv2 = _fn(value)
        fns = [_fn(c) for c in compiled]

        def in_dynamic(r: Record) -> Any:
            values = [f(r) for f in fns]
            return _in_generic(fv2(r), [v for v in values if v is not None], None in values, negated)

        return in_dynamic

    def like(self, operand: ast.Expr, pattern: ast.Expr, negated: bool) -> Compiled:
        value = self.build(operand)
        pat = self.build(pattern)
        if isinstance(pat, _Const):
            if pat.value is None:
                return _Const(None)
            matcher = _like_matcher(to_text(pat.value) or "")
            if isinstance(value, _Const):
                v = value.value
                return _Const(None if v is None else matcher(_lower_text(v)) != negated)
            fv = value

            def like_const(r: Record) -> Any:
                v = fv(r)
                if v is None:
                    return None
                if v.__class__ is not str:
                    v = to_text(v)
                return matcher(v.lower()) != negated

            return like_const
        fv2, fp = _fn(value), _fn(pat)

        def like_dynamic(r: Record) -> Any:
            v, p = fv2(r), fp(r)
            if v is None or p is None:
                return None
            return _like_matcher(to_text(p) or "")(_lower_text(v)) != negated

        return like_dynamic

    def is_null(self, operand: ast.Expr, negated: bool) -> Compiled:
        value = self.build(operand)
        if isinstance(value, _Const):
            return _Const((value.value is None) != negated)
        if isinstance(operand, ast.Field) and "." not in operand.path:
            key = operand.path
            if negated:
                return lambda r: r.get(key) is not None
            return lambda r: r.get(key) is None
        fv = value
        if negated:
            return lambda r: fv(r) is not None
        return lambda r: fv(r) is None

    def includes(self, operand: ast.Expr, items: tuple[ast.Expr, ...], negated: bool) -> Compiled:
        value = _fn(self.build(operand))
        compiled = [self.build(i) for i in items]
        if all(isinstance(c, _Const) for c in compiled):
            wanted = frozenset(
                t.lower()
                for c in compiled
                if isinstance(c, _Const)
                for t in [to_text(c.value)]
                if t is not None
            )

            def includes_const(r: Record) -> Any:
                v = value(r)
                if v is None:
                    return None
                if v.__class__ is not list:
                    v = to_list(v) or []
                for x in v:
                    if (
                        x.__class__ is str
                        and x.lower() in wanted
                        or x.__class__ is not str
                        and _lower_text(x) in wanted
                    ):
                        return not negated
                return negated

            return includes_const
        fns = [_fn(c) for c in compiled]

        def includes_dynamic(r: Record) -> Any:
            v = value(r)
            if v is None:
                return None
            want = {t.lower() for f in fns for t in [to_text(f(r))] if t is not None}
            found = any(_lower_text(x) in want for x in (to_list(v) or []))
            return found != negated

        return includes_dynamic

    # Functions -----------------------------------------------------------------------------------

    def call(self, node: ast.Call) -> Compiled:
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            from crmhub.expr.checker import suggest

            close = suggest(node.name, FUNCTIONS)
            raise _error(
                node, f"unknown function {node.name}" + (f"; did you mean {close}?" if close else "")
            )
        count = len(node.args)
        if count < fn.min_args or (fn.max_args is not None and count > fn.max_args):
            raise _error(node, f"{fn.name} takes {fn.min_args}–{fn.max_args or 'any'} arguments, not {count}")
        if node.name == "IF":
            return self.if_(node.args)
        if node.name == "CASE":
            return self.case(node.args)
        if node.name == "COALESCE":
            return self.coalesce(node.args)
        if node.name == "TODAY":
            now = self.now
            return lambda r: now().astimezone(UTC).date()
        if node.name == "NOW":
            now = self.now
            return lambda r: now().astimezone(UTC)
        impl = fn.impl
        assert impl is not None
        args = [self.build(a) for a in node.args]
        if fn.pure and all(isinstance(a, _Const) for a in args):
            return _Const(impl(*[a.value for a in args if isinstance(a, _Const)]))
        fns = [_fn(a) for a in args]
        if len(fns) == 1:
            (f0,) = fns
            return lambda r: impl(f0(r))
        if len(fns) == 2:
            f1, f2 = fns
            return lambda r: impl(f1(r), f2(r))
        return lambda r: impl(*[f(r) for f in fns])

    def if_(self, args: tuple[ast.Expr, ...]) -> Compiled:
        cond = self.boolean(args[0])
        then = self.build(args[1])
        other = self.build(args[2]) if len(args) > 2 else _Const(None)
        if isinstance(cond, _Const):
            return then if cond.value is True else other
        ft, fo = _fn(then), _fn(other)
        fc = cond
        return lambda r: ft(r) if fc(r) is True else fo(r)

    def case(self, args: tuple[ast.Expr, ...]) -> Compiled:
        subject = _fn(self.build(args[0]))
        rest = args[1:]
        pairs = [(self.build(rest[i]), _fn(self.build(rest[i + 1]))) for i in range(0, len(rest) - 1, 2)]
        default = _fn(self.build(rest[-1])) if len(rest) % 2 == 1 else (lambda r: None)

        def case_fn(r: Record) -> Any:
            v = subject(r)
            if v is not None:
                for match, result in pairs:
                    m = match.value if isinstance(match, _Const) else match(r)
                    if equals(v, m) is True:
                        return result(r)
            return default(r)

        return case_fn

    def coalesce(self, args: tuple[ast.Expr, ...]) -> Compiled:
        compiled = [self.build(a) for a in args]
        fns: list[Evaluator] = []
        for c in compiled:
            if isinstance(c, _Const):
                if c.value is not None:
                    fns.append(_fn(c))
                    break
                continue
            fns.append(c)
        if not fns:
            return _Const(None)

        def coalesce_fn(r: Record) -> Any:
            for f in fns:
                v = f(r)
                if v is not None:
                    return v
            return None

        return coalesce_fn


# Runtime helpers ----------------------------------------------------------------------------------


def _not3(v: Any) -> Any:
    if v is None:
        return None
    return not to_bool(v)


def _neg(v: Any) -> Any:
    if v is None:
        return None
    number = to_number(v)
    assert number is not None
    return -number


def _lower_text(v: Any) -> str:
    text = v if v.__class__ is str else to_text(v)
    return text.lower() if text is not None else ""


def _to_date_value(v: Any) -> Any:
    from crmhub.expr.values import to_date

    return to_date(v)


def _date_operands(a: Any, b: Any) -> tuple[Any, Any]:
    """Raw ISO text next to a date or a number in + / - is read as a date or datetime."""
    if isinstance(a, str) and (isinstance(b, date) or isinstance(b, int | float)):
        a = to_temporal(a) or a
    if isinstance(b, str) and isinstance(a, date):
        b = to_temporal(b) or b
    return a, b


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    a, b = _date_operands(a, b)
    if isinstance(b, str) and isinstance(a, int | float):
        b = to_temporal(b) or b
    if isinstance(a, date) or isinstance(b, date):
        moment, days = (a, b) if isinstance(a, date) else (b, a)
        count = to_number(days)
        assert count is not None
        if isinstance(moment, datetime):
            return moment + timedelta(days=count)
        return moment + timedelta(days=int(count))
    x, y = to_number(a), to_number(b)
    assert x is not None and y is not None
    return x + y


def _sub(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    a, b = _date_operands(a, b)
    if isinstance(a, date):
        if isinstance(b, date):
            da, db = (
                (to_datetime(a), to_datetime(b))
                if isinstance(a, datetime) or isinstance(b, datetime)
                else (a, b)
            )
            assert da is not None and db is not None
            delta = da - db
            return delta.days if not isinstance(da, datetime) else delta.total_seconds() / 86400
        count = to_number(b)
        assert count is not None
        if isinstance(a, datetime):
            return a - timedelta(days=count)
        return a - timedelta(days=int(count))
    x, y = to_number(a), to_number(b)
    assert x is not None and y is not None
    return x - y


def _mul(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    x, y = to_number(a), to_number(b)
    assert x is not None and y is not None
    return x * y


def _div(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    x, y = to_number(a), to_number(b)
    assert x is not None and y is not None
    if y == 0:
        return None
    return x / y


def _concat2(a: Any, b: Any) -> str:
    return concat(a, b)


_ARITH: dict[str, Callable[[Any, Any], Any]] = {"+": _add, "-": _sub, "*": _mul, "/": _div}


def _in_generic(v: Any, consts: list[Any], has_null: bool | None, negated: bool) -> Any:
    if not consts and not has_null:
        return negated
    if v is None:
        return None
    for c in consts:
        if equals(v, c) is True:
            return not negated
    return None if has_null else negated


def _in_text(
    operand: ast.Expr, value: Evaluator, consts: list[str], has_null: bool, negated: bool
) -> Evaluator:
    wanted = frozenset(c.lower() for c in consts)
    miss: Any = None if has_null else negated
    hit = not negated
    if isinstance(operand, ast.Field) and "." not in operand.path:
        key = operand.path

        def in_text_key(r: Record) -> Any:
            v = r.get(key)
            if v.__class__ is str:
                return hit if v.lower() in wanted else miss
            if v is None:
                return None
            return _in_generic(v, consts, has_null, negated)

        return in_text_key

    def in_text(r: Record) -> Any:
        v = value(r)
        if v.__class__ is str:
            return hit if v.lower() in wanted else miss
        if v is None:
            return None
        return _in_generic(v, consts, has_null, negated)

    return in_text


@lru_cache(maxsize=256)
def _like_matcher(pattern: str) -> Callable[[str], bool]:
    tokens = like_tokens(pattern.lower())
    if "_" not in tokens and "%" in tokens:
        inner = tokens[1:-1]
        text = "".join(t[1] for t in tokens if t != "%")
        if all(t == "%" for t in tokens):
            return lambda v: True
        if tokens[-1] == "%" and "%" not in tokens[:-1]:
            return lambda v: v.startswith(text)
        if tokens[0] == "%" and "%" not in tokens[1:]:
            return lambda v: v.endswith(text)
        if len(tokens) >= 2 and tokens[0] == "%" and tokens[-1] == "%" and "%" not in inner:
            return lambda v: text in v
    return like_matcher(pattern)


def _compare_const(op: str, key: str | None, value: Compiled, c: Any) -> Evaluator:
    """A comparison of a computed value (usually a field) with a non-NULL constant."""
    fv = _fn(value)
    cls = c.__class__
    if cls is str:
        low = c.lower()
        if op in ("=", "!="):
            want = op == "="
            if key is not None:

                def eq_text_key(r: Record) -> Any:
                    v = r.get(key)
                    if v.__class__ is str:
                        return (v.lower() == low) is want
                    if v is None:
                        return None
                    return compare(op, v, c)

                return eq_text_key

            def eq_text(r: Record) -> Any:
                v = fv(r)
                if v.__class__ is str:
                    return (v.lower() == low) is want
                if v is None:
                    return None
                return compare(op, v, c)

            return eq_text
        return lambda r: compare(op, fv(r), c)
    if cls is int or cls is float:
        cmp = _NUMBER_OPS[op]
        if key is not None:

            def num_key(r: Record) -> Any:
                v = r.get(key)
                k = v.__class__
                if k is int or k is float:
                    return cmp(v, c)
                if v is None:
                    return None
                return compare(op, v, c)

            return num_key

        def num(r: Record) -> Any:
            v = fv(r)
            k = v.__class__
            if k is int or k is float:
                return cmp(v, c)
            if v is None:
                return None
            return compare(op, v, c)

        return num
    if cls is bool and op in ("=", "!="):
        want_value = c if op == "=" else not c

        def eq_bool(r: Record) -> Any:
            v = fv(r)
            if v is True or v is False:
                return v is want_value
            if v is None:
                return None
            return compare(op, v, c)

        return eq_bool
    if cls is date or cls is datetime:
        cmp2 = _NUMBER_OPS[op]
        if cls is date:

            def date_cmp(r: Record) -> Any:
                v = fv(r)
                if v.__class__ is date:
                    return cmp2(v, c)
                if v is None:
                    return None
                return compare(op, v, c)

            return date_cmp

        def datetime_cmp(r: Record) -> Any:
            v = fv(r)
            if v.__class__ is datetime and v.tzinfo is not None:
                return cmp2(v, c)
            if v is None:
                return None
            return compare(op, v, c)

        return datetime_cmp
    return lambda r: compare(op, fv(r), c)


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


def _eq(a: Any, b: Any) -> bool:
    return bool(a == b)


def _ne(a: Any, b: Any) -> bool:
    return bool(a != b)


_NUMBER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": _eq,
    "!=": _ne,
    "<": _lt,
    "<=": _le,
    ">": _gt,
    ">=": _ge,
}


def compile_python(expr: ast.Expr, *, now: Callable[[], datetime] | None = None) -> Evaluator:
    """Compile ``expr`` into a function of one record (a mapping from field path to value).

    Dot paths such as ``Owner.Name`` are looked up as the literal key ``"Owner.Name"`` first, then
    by walking nested mappings. ``now`` supplies the current time for ``TODAY``/``NOW``/relative
    dates (default: the system clock, UTC). The result is ``True``/``False``/``None`` for a filter.

    Evaluating a record raises :class:`~crmhub.core.errors.ValueConversionError` or
    :class:`ExpressionEvaluationError` (both skippable) when one of its values does not fit.
    """
    compiled = _Compiler(now or utcnow).build(expr)
    if isinstance(compiled, _Const):
        value = compiled.value
        return lambda record: value
    inner = compiled

    def evaluate(record: Record) -> Any:
        try:
            return inner(record)
        except CrmHubError:
            raise
        except (TypeError, ValueError, OverflowError, ArithmeticError, AttributeError) as exc:
            raise ExpressionEvaluationError(
                f"cannot evaluate the expression on this record: {exc}", expression=ast.unparse(expr)[:200]
            ) from exc

    return evaluate


__all__ += ["check_size", "ValueConversionError"]
