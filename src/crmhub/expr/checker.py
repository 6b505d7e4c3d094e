"""The type checker: checks an expression against a schema before anything runs.

It reports every problem it finds — unknown fields (with a "did you mean"), unknown functions,
wrong argument counts and type mismatches — each with its line and column.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from crmhub.expr import ast
from crmhub.expr.errors import ExpressionTypeError, Problem, excerpt
from crmhub.expr.functions import FUNCTIONS, SignatureError
from crmhub.expr.types import NUMERIC, TEMPORAL, TEXTUAL, ValueType

__all__ = ["Types", "annotate", "check", "group_of"]

T = ValueType
#: Types of every node of a checked tree, by ``id(node)``; None means NULL (fits anything).
Types = dict[int, ValueType | None]

_GROUPS: tuple[tuple[str, frozenset[ValueType]], ...] = (
    ("number", NUMERIC),
    ("text", TEXTUAL),
    ("date", TEMPORAL),
    ("boolean", frozenset({T.boolean})),
    ("multi", frozenset({T.multi_text})),
)


def group_of(t: ValueType) -> str:
    """The comparison family of a type: number, text, date, boolean or multi."""
    for name, members in _GROUPS:
        if t in members:
            return name
    raise ValueError(t)  # pragma: no cover


def _show(t: ValueType | None) -> str:
    return "NULL" if t is None else t.value


class _Checker:
    def __init__(self, schema: Mapping[str, ValueType]) -> None:
        self.schema = {k: ValueType(v) for k, v in schema.items()}
        self.types: Types = {}
        self.problems: list[Problem] = []

    def problem(self, node: ast.Expr, message: str) -> None:
        span = node.span
        if span is None:
            self.problems.append(Problem(message, 1, 1, ""))
            return
        width = max(1, span.end - span.start)
        self.problems.append(
            Problem(message, span.line, span.column, excerpt(span.source, span.line, span.column, width))
        )

    def visit(self, node: ast.Expr) -> ValueType | None:
        result = self._visit(node)
        self.types[id(node)] = result
        return result

    def _visit(self, node: ast.Expr) -> ValueType | None:
        match node:
            case ast.Literal(kind=kind):
                return kind
            case ast.Field(path=path):
                return self.field(node, path)
            case ast.RelativeDate(name=name):
                self.problem(
                    node, f"{name} is a date range; compare a date field with it, e.g. CreatedDate = {name}"
                )
                return T.date
            case ast.Neg(operand=o):
                t = self.visit(o)
                if t is not None and t not in NUMERIC:
                    self.problem(node, f"cannot negate {_show(t)}")
                return t or T.number
            case ast.Not(operand=o):
                self.boolean(o, "NOT")
                return T.boolean
            case ast.And(items=items) | ast.Or(items=items):
                word = "AND" if isinstance(node, ast.And) else "OR"
                for item in items:
                    self.boolean(item, word)
                return T.boolean
            case ast.Arith():
                return self.arith(node)
            case ast.Compare():
                self.compare(node)
                return T.boolean
            case ast.In(operand=o, items=items, negated=neg):
                t = self.visit(o)
                word = "NOT IN" if neg else "IN"
                if t == T.multi_text:
                    self.problem(
                        o, f"{word} on a multi-value field; use {'EXCLUDES' if neg else 'INCLUDES'} (…)"
                    )
                for item in items:
                    it = self.visit(item)
                    if t is not None and it is not None and t != T.multi_text and not self.comparable(t, it):
                        self.problem(item, f"{word} list item is {_show(it)} but the value is {_show(t)}")
                return T.boolean
            case ast.Like(operand=o, pattern=p):
                for part, what in ((o, "value"), (p, "pattern")):
                    t = self.visit(part)
                    if t is not None and t not in TEXTUAL:
                        self.problem(part, f"LIKE needs text, but the {what} is {_show(t)}")
                return T.boolean
            case ast.IsNull(operand=o):
                self.visit(o)
                return T.boolean
            case ast.Includes(operand=o, items=items, negated=neg):
                word = "EXCLUDES" if neg else "INCLUDES"
                t = self.visit(o)
                if t is not None and t != T.multi_text:
                    hint = " (use = or IN for a single value)" if t in TEXTUAL else ""
                    self.problem(o, f"{word} needs a multi-value field, not {_show(t)}{hint}")
                for item in items:
                    it = self.visit(item)
                    if it is not None and it not in TEXTUAL:
                        self.problem(item, f"{word} items must be text, not {_show(it)}")
                return T.boolean
            case ast.Call():
                return self.call(node)
        raise TypeError(node)  # pragma: no cover

    def field(self, node: ast.Expr, path: str) -> ValueType | None:
        if path in self.schema:
            return self.schema[path]
        self.problem(node, f"unknown field {path!r}{did_you_mean(path, self.schema)}")
        return None

    def boolean(self, node: ast.Expr, word: str) -> None:
        t = self.visit(node)
        if t is not None and t != T.boolean:
            self.problem(node, f"{word} needs a condition (boolean), not {_show(t)}")

    @staticmethod
    def comparable(a: ValueType, b: ValueType) -> bool:
        return group_of(a) == group_of(b)

    def compare(self, node: ast.Compare) -> None:
        left, right = node.left, node.right
        for side, other in ((left, right), (right, left)):
            if isinstance(side, ast.RelativeDate):
                self.types[id(side)] = T.date
                if isinstance(other, ast.RelativeDate):
                    self.problem(node, "compare a date field with a relative date, not two relative dates")
                    return
                t = self.visit(other)
                if t is not None and t not in TEMPORAL:
                    self.problem(
                        other, f"{side.name} is a date range; it compares with dates, not {_show(t)}"
                    )
                return
        lt, rt = self.visit(left), self.visit(right)
        if lt is None or rt is None:
            return
        if not self.comparable(lt, rt):
            hint = ""
            if lt in TEMPORAL and rt in TEXTUAL or rt in TEMPORAL and lt in TEXTUAL:
                hint = " (write dates without quotes, e.g. 2024-01-31, or use DATE(text))"
            elif lt in NUMERIC and rt in TEXTUAL or rt in NUMERIC and lt in TEXTUAL:
                hint = " (write numbers without quotes)"
            elif T.multi_text in (lt, rt):
                hint = " (multi-value fields compare with INCLUDES (…) / EXCLUDES (…))"
            self.problem(node, f"cannot compare {_show(lt)} with {_show(rt)}{hint}")
            return
        if lt == T.multi_text:
            self.problem(node, "multi-value fields compare with INCLUDES (…) / EXCLUDES (…), not " + node.op)
        elif lt == T.boolean and node.op not in ("=", "!="):
            self.problem(node, f"booleans have no order; {node.op} does not apply")

    def arith(self, node: ast.Arith) -> ValueType | None:
        lt, rt = self.visit(node.left), self.visit(node.right)
        op = node.op
        if op == "&":
            for side, t in ((node.left, lt), (node.right, rt)):
                if t == T.multi_text:
                    self.problem(side, 'cannot concatenate a multi-value list; use JOIN(list, ";")')
            return T.text
        if lt is None and rt is None:
            return T.number
        if lt is None or rt is None:
            known = lt or rt
            return known if known in NUMERIC | TEMPORAL else T.number
        if lt in NUMERIC and rt in NUMERIC:
            if op in ("+", "-"):
                return T.currency if T.currency in (lt, rt) else T.number
            if op == "*":
                return T.currency if (lt == T.currency) != (rt == T.currency) else T.number
            return T.currency if lt == T.currency and rt == T.number else T.number
        if op in ("+", "-") and lt in TEMPORAL and rt in NUMERIC:
            return lt
        if op == "+" and rt in TEMPORAL and lt in NUMERIC:
            return rt
        if op == "-" and lt in TEMPORAL and rt in TEMPORAL:
            return T.number
        hint = " (use & to join text)" if op == "+" and (lt in TEXTUAL or rt in TEXTUAL) else ""
        self.problem(node, f"cannot compute {_show(lt)} {op} {_show(rt)}{hint}")
        return None

    def call(self, node: ast.Call) -> ValueType | None:
        fn = FUNCTIONS.get(node.name)
        arg_types = [self.visit(a) for a in node.args]
        if fn is None:
            close = difflib.get_close_matches(node.name, list(FUNCTIONS), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            self.problem(node, f"unknown function {node.name}{hint}")
            return None
        count = len(node.args)
        if count < fn.min_args or (fn.max_args is not None and count > fn.max_args):
            if fn.max_args == fn.min_args:
                want = f"{fn.min_args}"
            elif fn.max_args is None:
                want = f"at least {fn.min_args}"
            else:
                want = f"{fn.min_args} to {fn.max_args}"
            self.problem(
                node,
                f"{fn.name} takes {want} argument{'s' if want != '1' else ''}, not {count}: {fn.signature}",
            )
            return None
        try:
            return fn.result(arg_types, node.args)
        except SignatureError as exc:
            target = node.args[exc.index] if exc.index is not None and exc.index < count else node
            self.problem(target, f"{fn.name}: {exc}")
            return None


def annotate(expr: ast.Expr, schema: Mapping[str, ValueType]) -> Types:
    """Type every node of ``expr`` against ``schema``; raise :class:`ExpressionTypeError` on problems."""
    checker = _Checker(schema)
    checker.visit(expr)
    if checker.problems:
        raise ExpressionTypeError(checker.problems)
    return checker.types


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` was most likely meant to be (close spelling, or another case), or None."""
    pool = list(candidates)
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {k.lower(): k for k in pool}
    return lowered.get(name.lower())


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or "" (appended to "unknown …" messages)."""
    close = suggest(name, candidates)
    return f"; did you mean {close!r}?" if close else ""


def check(expr: ast.Expr, schema: Mapping[str, ValueType]) -> ValueType:
    """The type of ``expr`` against ``schema`` (field path → type).

    Raises:
        ExpressionTypeError: listing every problem, each with line and column.
    """
    result = annotate(expr, schema)[id(expr)]
    return result if result is not None else ValueType.text
