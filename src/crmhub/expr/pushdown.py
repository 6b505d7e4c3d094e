"""What every CRM compiler shares: negation normal form and the push-down / residual split.

A compiler translates *atoms* (one comparison, IN, LIKE, IS NULL … on one field) into its dialect.
Each translation is either exact or a superset of what the atom selects (e.g. a datetime rounded
outward to whole seconds). The split then works on the expression in negation normal form, where
NOT sits only on atoms, so each atom's translation only has to say when the atom is TRUE — which is
what makes three-valued logic come out right on dialects with two-valued NULL handling:

* ``AND``: the translatable operands are pushed, the rest stays local.
* ``OR``: pushed only when every operand translates (a superset of each is a superset of the OR).
* The residual is the conjunction of every top-level operand not pushed exactly, so
  ``pushed AND residual`` ≡ the original, and ``pushed`` alone selects a superset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from crmhub.expr import ast

__all__ = ["Atom", "PAnd", "POr", "PTree", "PushDown", "conjuncts", "split", "to_nnf"]

P = TypeVar("P")
Out = TypeVar("Out")

_NEGATE = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


@dataclass(frozen=True, slots=True)
class PushDown(Generic[Out]):
    """A compiled filter: ``pushed`` runs at the CRM, ``residual`` runs locally on what comes back.

    ``pushed`` selects exactly or a superset of the records the original selects (None: no
    filtering at the CRM); ``residual`` is None when nothing is left to check locally.
    """

    pushed: Out | None
    residual: ast.Expr | None


@dataclass(frozen=True, slots=True)
class Atom(Generic[P]):
    """One translated atom: the dialect payload and whether it is exact (else a superset)."""

    payload: P
    exact: bool = True


@dataclass(frozen=True, slots=True)
class PAnd(Generic[P]):
    """AND of pushed parts."""

    items: tuple[PTree[P], ...]


@dataclass(frozen=True, slots=True)
class POr(Generic[P]):
    """OR of pushed parts."""

    items: tuple[PTree[P], ...]


PTree = Atom[P] | PAnd[P] | POr[P]


def to_nnf(node: ast.Expr, negate: bool = False) -> ast.Expr:
    """``node`` (negated when ``negate``) with NOT pushed down onto atoms; AND/OR flattened.

    Every rewrite holds in three-valued logic: ``NOT (a = b)`` is ``a != b`` (both NULL when a
    side is NULL), ``NOT (x IN …)`` is ``x NOT IN …``, De Morgan holds for Kleene AND/OR.
    """
    match node:
        case ast.Not(operand=o):
            return to_nnf(o, not negate)
        case ast.And(items=items) | ast.Or(items=items):
            is_and = isinstance(node, ast.And) != negate
            parts: list[ast.Expr] = []
            for item in items:
                converted = to_nnf(item, negate)
                same = ast.And if is_and else ast.Or
                if isinstance(converted, same):
                    parts.extend(converted.items)
                else:
                    parts.append(converted)
            return ast.And(tuple(parts), span=node.span) if is_and else ast.Or(tuple(parts), span=node.span)
    if not negate:
        return node
    match node:
        case ast.Compare(op=op, left=a, right=b):
            return ast.Compare(_NEGATE[op], a, b, span=node.span)
        case ast.In(operand=o, items=items, negated=neg):
            return ast.In(o, items, not neg, span=node.span)
        case ast.Like(operand=o, pattern=p, negated=neg):
            return ast.Like(o, p, not neg, span=node.span)
        case ast.IsNull(operand=o, negated=neg):
            return ast.IsNull(o, not neg, span=node.span)
        case ast.Includes(operand=o, items=items, negated=neg):
            return ast.Includes(o, items, not neg, span=node.span)
        case ast.Literal(value=v) if v is None or isinstance(v, bool):
            return ast.Literal(None if v is None else not v, span=node.span)
    return ast.Not(node, span=node.span)


def conjuncts(node: ast.Expr) -> list[ast.Expr]:
    """The top-level AND operands of ``node`` (itself when it is not an AND)."""
    return list(node.items) if isinstance(node, ast.And) else [node]


def _push(node: ast.Expr, atom: Callable[[ast.Expr], Atom[P] | None]) -> tuple[PTree[P] | None, bool]:
    if isinstance(node, ast.And):
        kept: list[PTree[P]] = []
        exact = True
        for item in node.items:
            tree, item_exact = _push(item, atom)
            if tree is None:
                exact = False
                continue
            kept.append(tree)
            exact = exact and item_exact
        if not kept:
            return None, False
        return (kept[0] if len(kept) == 1 else PAnd(tuple(kept))), exact
    if isinstance(node, ast.Or):
        parts: list[PTree[P]] = []
        exact = True
        for item in node.items:
            tree, item_exact = _push(item, atom)
            if tree is None:
                return None, False
            parts.append(tree)
            exact = exact and item_exact
        return POr(tuple(parts)), exact
    translated = atom(node)
    if translated is None:
        return None, False
    return translated, translated.exact


def split(
    expr: ast.Expr,
    atom: Callable[[ast.Expr], Atom[P] | None],
    *,
    accept: Callable[[Sequence[PTree[P]]], bool] | None = None,
) -> tuple[list[PTree[P]], ast.Expr | None]:
    """Split ``expr`` into pushed conjunct trees and a residual expression.

    ``accept`` is asked, conjunct by conjunct, whether the pushed list still fits the dialect's
    limits; a conjunct that does not fit stays local (dropping an AND operand only widens).
    """
    pushed: list[PTree[P]] = []
    residual: list[ast.Expr] = []
    for part in conjuncts(to_nnf(expr)):
        if isinstance(part, ast.Literal) and part.value is True:
            continue
        tree, exact = _push(part, atom)
        if tree is not None and (accept is None or accept([*pushed, tree])):
            pushed.append(tree)
            if not exact:
                residual.append(part)
        else:
            residual.append(part)
    if not residual:
        rest: ast.Expr | None = None
    elif len(residual) == 1:
        rest = residual[0]
    else:
        rest = ast.And(tuple(residual))
    return pushed, rest


def render(tree: PTree[P], atom: Callable[[P], str], and_: str, or_: str) -> str:
    """Render a pushed tree as infix text with explicit parentheses around every AND/OR."""
    if isinstance(tree, Atom):
        return atom(tree.payload)
    sep = and_ if isinstance(tree, PAnd) else or_
    return "(" + sep.join(render(t, atom, and_, or_) for t in tree.items) + ")"


def flatten_and(trees: Sequence[PTree[P]]) -> PTree[P]:
    """One tree for a list of conjunct trees."""
    return trees[0] if len(trees) == 1 else PAnd(tuple(trees))
