"""A small optimiser: constant folding and AND/OR flattening. Correctness first.

Folding evaluates sub-expressions built only from literals with the Python evaluator (so folded
results mean exactly what evaluation would give); ``TODAY()``/``NOW()``/relative dates are never
folded. AND drops TRUE operands and becomes FALSE with a FALSE operand; OR the other way round;
NULL operands stay (``NULL AND x`` is FALSE or NULL depending on ``x``).
"""

from __future__ import annotations

from datetime import date, datetime

from crmhub.core.errors import CrmHubError
from crmhub.expr import ast
from crmhub.expr.functions import FUNCTIONS

__all__ = ["fold"]

_FOLDABLE = (type(None), bool, int, float, str, date, datetime)


def _constant(node: ast.Expr) -> bool:
    return isinstance(node, ast.Literal)


def fold(node: ast.Expr) -> ast.Expr:
    """``node`` with constant sub-expressions folded and AND/OR flattened."""
    match node:
        case ast.Literal() | ast.Field() | ast.RelativeDate():
            return node
        case ast.And(items=items) | ast.Or(items=items):
            return _fold_logic(node, [fold(i) for i in items])
        case ast.Not(operand=o):
            inner = fold(o)
            if isinstance(inner, ast.Literal) and (inner.value is None or isinstance(inner.value, bool)):
                return ast.Literal(None if inner.value is None else not inner.value, span=node.span)
            return ast.Not(inner, span=node.span)
        case ast.Neg(operand=o):
            rebuilt: ast.Expr = ast.Neg(fold(o), span=node.span)
        case ast.Arith(op=op, left=a, right=b):
            rebuilt = ast.Arith(op, fold(a), fold(b), span=node.span)
        case ast.Compare(op=op, left=a, right=b):
            rebuilt = ast.Compare(op, fold(a), fold(b), span=node.span)
        case ast.In(operand=o, items=items, negated=neg):
            rebuilt = ast.In(fold(o), tuple(fold(i) for i in items), neg, span=node.span)
        case ast.Like(operand=o, pattern=p, negated=neg):
            rebuilt = ast.Like(fold(o), fold(p), neg, span=node.span)
        case ast.IsNull(operand=o, negated=neg):
            rebuilt = ast.IsNull(fold(o), neg, span=node.span)
        case ast.Includes(operand=o, items=items, negated=neg):
            rebuilt = ast.Includes(fold(o), tuple(fold(i) for i in items), neg, span=node.span)
        case ast.Call(name=name, args=args):
            rebuilt = ast.Call(name, tuple(fold(a) for a in args), span=node.span)
            fn = FUNCTIONS.get(name)
            if fn is None or not fn.pure:
                return rebuilt
        case _:  # pragma: no cover
            return node
    if all(_constant(c) for c in ast.children(rebuilt)):
        return _evaluate(rebuilt)
    return rebuilt


def _evaluate(node: ast.Expr) -> ast.Expr:
    from crmhub.expr.evaluate import compile_python

    try:
        value = compile_python(node)({})
    except (CrmHubError, ArithmeticError, ValueError, TypeError, OverflowError):
        return node  # leave it for evaluation time, where the error is reported per record
    if not isinstance(value, _FOLDABLE) or isinstance(value, float) and value != value:
        return node
    return ast.Literal(value, span=node.span)


def _fold_logic(node: ast.And | ast.Or, items: list[ast.Expr]) -> ast.Expr:
    is_and = isinstance(node, ast.And)
    neutral, absorbing = (True, False) if is_and else (False, True)
    kept: list[ast.Expr] = []
    for item in items:
        if isinstance(item, ast.Literal) and item.value is neutral:
            continue
        if isinstance(item, ast.Literal) and item.value is absorbing:
            return ast.Literal(absorbing, span=node.span)
        if isinstance(item, type(node)):
            kept.extend(item.items)
        else:
            kept.append(item)
    if not kept:
        return ast.Literal(neutral, span=node.span)
    if len(kept) == 1 and not (isinstance(kept[0], ast.Literal) and kept[0].value is None):
        only = kept[0]
        # A lone operand keeps AND/OR's boolean meaning only if it is already boolean-valued.
        if isinstance(
            only, ast.Compare | ast.In | ast.Like | ast.IsNull | ast.Includes | ast.And | ast.Or | ast.Not
        ):
            return only
    return ast.And(tuple(kept), span=node.span) if is_and else ast.Or(tuple(kept), span=node.span)
