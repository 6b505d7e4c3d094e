"""HubSpot CRM search compiler: ``filterGroups`` for ``POST /crm/v3/objects/{type}/search``.

The pushed part is the list of filter groups (groups are ORed, filters in a group ANDed), built
as the disjunctive normal form of the translatable conjuncts, within HubSpot's limits. Sources:
HubSpot developer docs "CRM search" (operators EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN,
HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN; "when using IN/NOT_IN with a
string property, values must be lowercase"), and the changelog "Expanded filtering capabilities"
(Aug 2024: 5 groups, 10 filters per group, 25 filters in total). The guide text still shows
6 filters per group and 18 in total; the defaults here use the stricter of both (5 / 6 / 18).

What is pushed, and why (where HubSpot's documented behaviour is unclear, the part stays local):

* Text ``=`` and ``IN`` are sent as ``IN`` with lower-cased values: the documented form for string
  properties, which matches case-insensitively like crmhub. ``EQ`` on text is not used — its case
  handling is not documented.
* Text ``!=`` / ``NOT IN`` are sent as ``NOT_IN`` plus ``HAS_PROPERTY`` (crmhub never matches an
  unset property; HubSpot's handling of unset properties in NEQ/NOT_IN is not documented), and are
  *also* re-checked locally, in case HubSpot compares them case-sensitively (then the pushed part
  is a superset, which is allowed).
* Numbers, booleans, dates and datetimes use EQ/NEQ/LT/LTE/GT/GTE with the value as a string;
  dates and datetimes as epoch milliseconds (UTC; date properties hold midnight UTC). ``NEQ`` gets
  ``HAS_PROPERTY`` too. Sub-millisecond datetimes are rounded outward and re-checked.
* ``IS NULL`` → ``NOT_HAS_PROPERTY``; ``IS NOT NULL`` → ``HAS_PROPERTY``.
* Relative dates are resolved to absolute epoch-millisecond bounds at compile time (``now``).
* Kept local: LIKE (HubSpot only has token search), INCLUDES/EXCLUDES (multi-select matching and
  its case rules are not documented), text ordering, field-to-field comparisons, functions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmhub.core.clock import utcnow
from crmhub.expr import ast
from crmhub.expr._atoms import Shape, relative_bounds, shape_of
from crmhub.expr.dates import day_start
from crmhub.expr.optimize import fold
from crmhub.expr.pushdown import Atom, PAnd, POr, PTree, PushDown, split
from crmhub.expr.types import NUMERIC, TEMPORAL, TEXTUAL, ValueType

__all__ = ["HubSpotLimits", "to_hubspot"]

Filter = dict[str, Any]
Group = list[Filter]  # ANDed filters
Dnf = list[Group]  # ORed groups

_OPS = {"=": "EQ", "!=": "NEQ", "<": "LT", "<=": "LTE", ">": "GT", ">=": "GTE"}
#: HubSpot property internal names: letters, digits, underscores (no relationship paths).
_PROPERTY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class HubSpotLimits:
    """Search limits: filter groups, filters per group, filters in total."""

    def __init__(self, groups: int = 5, per_group: int = 6, total: int = 18) -> None:
        self.groups = groups
        self.per_group = per_group
        self.total = total

    def fits(self, dnf: Dnf) -> bool:
        return (
            len(dnf) <= self.groups
            and all(len(g) <= self.per_group for g in dnf)
            and sum(len(g) for g in dnf) <= self.total
        )


def _ms(value: datetime) -> int:
    return int((value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))


def _ms_ceil(value: datetime) -> int:
    floor = _ms(value)
    return floor if value.microsecond % 1000 == 0 else floor + 1


def _value(value: Any) -> str | None:
    """The string HubSpot expects for a constant (None: not expressible)."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, datetime):
        return str(_ms(value))
    if isinstance(value, date):
        return str(_ms(day_start(value)))
    if isinstance(value, str):
        return value
    return None


def _f(prop: str, operator: str, value: str | None = None, values: Sequence[str] | None = None) -> Filter:
    out: Filter = {"propertyName": prop, "operator": operator}
    if value is not None:
        out["value"] = value
    if values is not None:
        out["values"] = list(values)
    return out


class _HubSpot:
    def __init__(self, schema: Mapping[str, ValueType] | None, now: datetime) -> None:
        self.schema = schema
        self.now = now

    def atom(self, node: ast.Expr) -> Atom[Dnf] | None:
        shape = shape_of(node)
        if shape is None or not _PROPERTY.fullmatch(shape.field):
            return None
        ftype = self.schema.get(shape.field) if self.schema is not None else None
        if shape.kind == "null":
            return Atom([[_f(shape.field, "HAS_PROPERTY" if shape.negated else "NOT_HAS_PROPERTY")]])
        if shape.kind == "compare":
            return self.compare(shape, ftype)
        if shape.kind == "in":
            return self.in_(shape, ftype)
        if shape.kind == "relative":
            return self.relative(shape)
        return None  # LIKE, INCLUDES/EXCLUDES

    def compare(self, shape: Shape, ftype: ValueType | None) -> Atom[Dnf] | None:
        p, op, v = shape.field, shape.op, shape.value
        if v is None:
            return None
        if isinstance(v, str):
            if op not in ("=", "!=") or (ftype is not None and ftype not in TEXTUAL):
                return None
            if op == "=":
                return Atom([[_f(p, "IN", values=[v.lower()])]])
            return Atom([[_f(p, "NOT_IN", values=[v.lower()]), _f(p, "HAS_PROPERTY")]], exact=False)
        if isinstance(v, bool):
            if op not in ("=", "!=") or (ftype is not None and ftype != ValueType.boolean):
                return None
            want = v if op == "=" else not v
            return Atom([[_f(p, "EQ", "true" if want else "false")]])
        if isinstance(v, int | float):
            if ftype is not None and ftype not in NUMERIC:
                return None
        elif isinstance(v, date):
            if ftype is not None and ftype not in TEMPORAL:
                return None
            if isinstance(v, datetime) and v.microsecond % 1000:
                return self.sub_ms(p, op, v)
        text = _value(v)
        if text is None:
            return None
        if op == "!=":
            return Atom([[_f(p, "NEQ", text), _f(p, "HAS_PROPERTY")]])
        return Atom([[_f(p, _OPS[op], text)]])

    def sub_ms(self, p: str, op: str, v: datetime) -> Atom[Dnf]:
        lo, hi = str(_ms(v)), str(_ms_ceil(v))
        if op in (">", ">="):
            return Atom([[_f(p, "GTE", lo)]], exact=False)
        if op in ("<", "<="):
            return Atom([[_f(p, "LTE", hi)]], exact=False)
        if op == "=":
            return Atom([[_f(p, "GTE", lo), _f(p, "LTE", hi)]], exact=False)
        return Atom([[_f(p, "HAS_PROPERTY")]], exact=False)

    def in_(self, shape: Shape, ftype: ValueType | None) -> Atom[Dnf] | None:
        p = shape.field
        values = [v for v in shape.values if v is not None]
        if not values or (shape.negated and len(values) != len(shape.values)):
            return None
        if all(isinstance(v, str) for v in values):
            if ftype is not None and ftype not in TEXTUAL:
                return None
            lowered = sorted({v.lower() for v in values})
            if shape.negated:
                return Atom([[_f(p, "NOT_IN", values=lowered), _f(p, "HAS_PROPERTY")]], exact=False)
            return Atom([[_f(p, "IN", values=lowered)]])
        # Other types: an OR of EQ (IN on non-text properties is not documented).
        atoms = [self.compare(Shape("compare", p, "!=" if shape.negated else "=", v), ftype) for v in values]
        if any(a is None for a in atoms):
            return None
        parts = [a for a in atoms if a is not None]
        exact = all(a.exact for a in parts)
        if shape.negated:  # AND of NEQ: one group
            return Atom([[f for a in parts for f in a.payload[0]]], exact=exact)
        return Atom([g for a in parts for g in a.payload], exact=exact)

    def relative(self, shape: Shape) -> Atom[Dnf] | None:
        assert shape.relative is not None
        start, end = relative_bounds(shape.relative, self.now)
        p = shape.field
        lo, hi = str(_ms(day_start(start))), str(_ms(day_start(end)))
        op = shape.op
        if op == "=":
            return Atom([[_f(p, "GTE", lo), _f(p, "LT", hi)]])
        if op == "!=":
            return Atom([[_f(p, "LT", lo)], [_f(p, "GTE", hi)]])
        if op == "<":
            return Atom([[_f(p, "LT", lo)]])
        if op == "<=":
            return Atom([[_f(p, "LT", hi)]])
        if op == ">":
            return Atom([[_f(p, "GTE", hi)]])
        return Atom([[_f(p, "GTE", lo)]])


def _merge_in(groups: Dnf) -> Dnf:
    """``a IN (x) OR a IN (y)`` → ``a IN (x, y)``: one group instead of many."""
    merged: Dnf = []
    by_property: dict[str, Filter] = {}
    for group in groups:
        if len(group) == 1 and group[0]["operator"] == "IN":
            prop = group[0]["propertyName"]
            if prop in by_property:
                values = by_property[prop]["values"]
                values.extend(v for v in group[0]["values"] if v not in values)
                continue
            single = {**group[0], "values": list(group[0]["values"])}
            by_property[prop] = single
            merged.append([single])
        else:
            merged.append(group)
    return merged


def _dnf(tree: PTree[Dnf], cap: int) -> Dnf | None:
    """Disjunctive normal form of a pushed tree (None once it would exceed ``cap`` groups)."""
    if isinstance(tree, Atom):
        return tree.payload
    parts = [_dnf(t, cap) for t in tree.items]
    if any(p is None for p in parts):
        return None
    dnfs = [p for p in parts if p is not None]
    if isinstance(tree, POr):
        out = _merge_in([g for d in dnfs for g in d])
        return out if len(out) <= cap else None
    assert isinstance(tree, PAnd)
    result: Dnf = [[]]
    for d in dnfs:
        if len(result) * len(d) > cap:
            return None
        result = [a + b for a, b in itertools.product(result, d)]
    return result


def to_hubspot(
    expr: ast.Expr,
    *,
    schema: Mapping[str, ValueType] | None = None,
    now: Callable[[], datetime] | None = None,
    limits: HubSpotLimits | None = None,
) -> PushDown[list[dict[str, Any]]]:
    """Compile a filter to HubSpot search ``filterGroups`` plus the residual to evaluate locally.

    ``pushed`` is ``[{"filters": [...]}, ...]`` ready for the request body's ``filterGroups``.
    """
    limit = limits or HubSpotLimits()
    compiler = _HubSpot(schema, (now or utcnow)())

    def combined(trees: Sequence[PTree[Dnf]]) -> Dnf | None:
        return _dnf(PAnd(tuple(trees)), limit.groups)

    def fits(trees: Sequence[PTree[Dnf]]) -> bool:
        dnf = combined(trees)
        return dnf is not None and limit.fits(dnf)

    pushed, residual = split(fold(expr), compiler.atom, accept=fits)
    if not pushed:
        return PushDown(None, residual)
    dnf = combined(pushed)
    assert dnf is not None
    return PushDown([{"filters": group} for group in dnf], residual)
