"""HubSpot CRM search (``POST /crm/v3/objects/{type}/search``): filterGroups compiled to a predicate.

Limits, and where they come from:

* at most 5 filter groups, 10 filters per group and 25 filters in all — HubSpot developer changelog,
  "Breaking Change: Expanded Filtering Capabilities and Error Messaging in HubSpot's Search API"
  (effective 2024-08-26); more gives 400 ``VALIDATION_ERROR``;
* ``limit`` at most 200 (HubSpot search guide "Limitations", as cited in activepieces PR #10160);
* at most 10,000 results per query: paging past them gives 400 (same guide; activepieces PR #10160,
  onyx PR #10677, hubspot-api-nodejs issue #132). ``total`` still counts every match.

Filter semantics:

* groups are ORed, filters inside a group ANDed (HubSpot search guide);
* ``EQ``/``NEQ`` on text and enumeration properties ignore case; ``IN``/``NOT_IN`` on *string*
  properties compare against the lower-cased stored value, so values must be given in lower case
  (HubSpot search guide: "When searching string properties with this operator, values must be
  lowercase") — recalled from the guide, not re-read through the search tool, so **unconfirmed**;
* ``NEQ``, ``NOT_IN`` and ``NOT_CONTAINS_TOKEN`` also match records where the property is unset, as an
  Elasticsearch ``must_not`` does; ``LT``/``GT``/``BETWEEN``/``EQ``/``IN``/``CONTAINS_TOKEN`` never match an
  unset property. No primary source for the unset behaviour was found: **unconfirmed**;
* on multi-checkbox properties ``EQ``/``IN`` match when one of the selected values matches (a
  ``;``-joined value never equals, as a HubSpot community thread on ``hs_all_contact_vids`` shows);
* ``CONTAINS_TOKEN`` matches a word of the value (split on non-alphanumerics) or, with ``*`` wildcards,
  the word or the whole value (``*@example.com``);
* ``BETWEEN`` is inclusive; datetime values may be epoch milliseconds or ISO 8601 strings;
* sorts: one or more ``{propertyName, direction}`` (or ``"name"``/``"-name"``); unset values sort last;
  without sorts results come in record id order (**unconfirmed**: HubSpot documents no default order).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from crmhub.emulators._common.table import Record
from crmhub.emulators.hubspot.schema import ObjectType, Prop

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS_TOTAL = 25
MAX_LIMIT = 200
MAX_RESULTS = 10_000
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)

Typed = Callable[[Record, Prop], Any]
AssocIds = Callable[[Record, str], set[str]]
Predicate = Callable[[Record], bool]

_TOKEN_SPLIT = re.compile(r"[^0-9a-z]+")


class SearchError(ValueError):
    """A search request HubSpot answers with 400 VALIDATION_ERROR."""


@dataclass
class SearchPlan:
    """A compiled search: which records, in which order, which page, which properties."""

    predicate: Predicate | None
    sort: list[tuple[Callable[[Record], Any], bool]]
    properties: list[str]
    limit: int
    after: int
    cache_key: str
    #: Modified-date bounds (epoch ms, ``[lo, hi)``) every match lies within, when the filters say so:
    #: the emulator then scans only that slice of its (modstamp, id)-ordered table.
    stamp_lo: int | None = None
    stamp_hi: int | None = None


def to_ms(value: Any) -> int:
    """Epoch ms from epoch-ms digits, an ISO datetime or an ISO date."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def convert(prop: Prop, value: Any) -> Any:
    """A filter value in the property's comparable form; raises :class:`SearchError`."""
    if value is None:
        raise SearchError(f"a value is required for a filter on {prop.name}")
    try:
        if prop.type == "number":
            return float(value)
        if prop.type == "datetime":
            return to_ms(value)
        if prop.type == "date":
            text = str(value).strip()
            if text.isdigit():
                return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).date().isoformat()
            return dt.date.fromisoformat(text[:10]).isoformat()
        if prop.type == "bool":
            return str(value).strip().lower() == "true"
    except (TypeError, ValueError) as exc:
        raise SearchError(f"{value!r} is not a valid {prop.type} value for {prop.name}") from exc
    return str(value)


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN_SPLIT.split(text.lower()) if t]


def _token_matcher(pattern: str) -> Callable[[str], bool]:
    pattern = pattern.strip().lower()
    if "*" in pattern:
        return lambda text: (
            fnmatch.fnmatchcase(text.lower(), pattern)
            or any(fnmatch.fnmatchcase(t, pattern) for t in _tokens(text))
        )
    wanted = _tokens(pattern)
    return lambda text: bool(wanted) and set(wanted) <= set(_tokens(text))


def _compile_filter(otype: ObjectType, flt: Any, typed: Typed, assoc_ids: AssocIds) -> Predicate:
    if not isinstance(flt, dict):
        raise SearchError("each filter must be an object with propertyName and operator")
    name = flt.get("propertyName")
    op = flt.get("operator")
    if not isinstance(name, str) or not name:
        raise SearchError("propertyName is required in every filter")
    if op not in OPERATORS:
        raise SearchError(f"operator {op!r} is not one of {', '.join(sorted(OPERATORS))}")
    if name.startswith("associations."):
        target = name.split(".", 1)[1]
        ids_of = assoc_ids
        if op in ("EQ", "IN"):
            wanted = {str(v) for v in (flt.get("values") or [flt.get("value")]) if v is not None}
            return lambda rec: bool(ids_of(rec, target) & wanted)
        if op in ("NEQ", "NOT_IN"):
            wanted = {str(v) for v in (flt.get("values") or [flt.get("value")]) if v is not None}
            return lambda rec: not ids_of(rec, target) & wanted
        if op == "HAS_PROPERTY":
            return lambda rec: bool(ids_of(rec, target))
        if op == "NOT_HAS_PROPERTY":
            return lambda rec: not ids_of(rec, target)
        raise SearchError(f"operator {op} is not supported on {name}")
    prop = otype.prop(name)
    if prop is None:
        raise SearchError(
            f"There was a problem with the request: property {name!r} does not exist on {otype.name}"
        )

    def get(rec: Record) -> Any:
        return typed(rec, prop)

    text = prop.type in ("string", "enumeration")
    multi = prop.field_type == "checkbox"
    if op == "HAS_PROPERTY":
        return lambda rec: get(rec) not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return lambda rec: get(rec) in (None, "")
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        if flt.get("value") is None:
            raise SearchError(f"{op} needs a value")
        matcher = _token_matcher(str(flt["value"]))
        if op == "CONTAINS_TOKEN":
            return lambda rec: (v := get(rec)) is not None and matcher(str(v))
        return lambda rec: (v := get(rec)) is None or not matcher(str(v))
    if op in ("IN", "NOT_IN"):
        values = flt.get("values")
        if not isinstance(values, list) or not values:
            raise SearchError(f"{op} needs a non-empty values list")
        if prop.type == "string":
            keys = {str(v) for v in values}  # compared against the lower-cased stored value, as given

            def norm(v: Any) -> Any:
                return v.lower()
        elif text:
            keys = {str(v).casefold() for v in values}

            def norm(v: Any) -> Any:
                return v.casefold()
        else:
            keys = {convert(prop, v) for v in values}

            def norm(v: Any) -> Any:
                return v

        def member(rec: Record) -> bool | None:
            v = get(rec)
            if v is None:
                return None
            if multi:
                return any(norm(part) in keys for part in v.split(";"))
            return norm(v) in keys

        if op == "IN":
            return lambda rec: bool(member(rec))
        return lambda rec: not member(rec)
    if op == "BETWEEN":
        if flt.get("value") is None or flt.get("highValue") is None:
            raise SearchError("BETWEEN needs value and highValue")
        lo, hi = convert(prop, flt["value"]), convert(prop, flt["highValue"])
        if text:
            lo, hi = str(lo).casefold(), str(hi).casefold()
            return lambda rec: (v := get(rec)) is not None and lo <= v.casefold() <= hi
        return lambda rec: (v := get(rec)) is not None and lo <= v <= hi
    want = convert(prop, flt.get("value"))
    if text:
        want = want.casefold()
        if multi and op in ("EQ", "NEQ"):

            def has(rec: Record) -> bool:
                v = get(rec)
                return v is not None and want in {p.casefold() for p in v.split(";")}

            return has if op == "EQ" else (lambda rec: not has(rec))

        def value(rec: Record) -> Any:
            v = get(rec)
            return None if v is None else v.casefold()
    else:
        value = get
    tests: dict[str, Predicate] = {
        "EQ": lambda rec: (v := value(rec)) is not None and v == want,
        "NEQ": lambda rec: (v := value(rec)) is None or v != want,
        "LT": lambda rec: (v := value(rec)) is not None and v < want,
        "LTE": lambda rec: (v := value(rec)) is not None and v <= want,
        "GT": lambda rec: (v := value(rec)) is not None and v > want,
        "GTE": lambda rec: (v := value(rec)) is not None and v >= want,
    }
    return tests[op]


def _compile_query_text(otype: ObjectType, text: str, typed: Typed) -> Predicate:
    words = _tokens(text)
    props = [p for p in (otype.prop(n) for n in otype.search_text_props) if p is not None]

    def matches(rec: Record) -> bool:
        tokens: list[str] = []
        for prop in props:
            v = typed(rec, prop)
            if v:
                tokens.extend(_tokens(str(v)))
        return all(any(t.startswith(w) for t in tokens) for w in words)

    return matches


def _stamp_bounds(groups: list[Any], prop: str) -> tuple[int | None, int | None]:
    """The hull over filter groups of the modified-date range each group allows (None: unbounded)."""
    if not groups:
        return None, None
    los: list[int | None] = []
    his: list[int | None] = []
    for group in groups:
        lo: int | None = None
        hi: int | None = None
        for flt in group.get("filters") or []:
            if not isinstance(flt, dict) or flt.get("propertyName") != prop:
                continue
            op = flt.get("operator")
            try:
                value = to_ms(flt["value"]) if "value" in flt else None
                high = to_ms(flt["highValue"]) if "highValue" in flt else None
            except (ValueError, TypeError):
                continue
            new_lo = new_hi = None
            if op == "GTE" and value is not None:
                new_lo = value
            elif op == "GT" and value is not None:
                new_lo = value + 1
            elif op == "LT" and value is not None:
                new_hi = value
            elif op == "LTE" and value is not None:
                new_hi = value + 1
            elif op == "EQ" and value is not None:
                new_lo, new_hi = value, value + 1
            elif op == "BETWEEN" and value is not None and high is not None:
                new_lo, new_hi = value, high + 1
            if new_lo is not None:
                lo = new_lo if lo is None else max(lo, new_lo)
            if new_hi is not None:
                hi = new_hi if hi is None else min(hi, new_hi)
        los.append(lo)
        his.append(hi)
    lo_all = None if any(v is None for v in los) else min(v for v in los if v is not None)
    hi_all = None if any(v is None for v in his) else max(v for v in his if v is not None)
    return lo_all, hi_all


def plan_search(body: Any, otype: ObjectType, typed: Typed, assoc_ids: AssocIds) -> SearchPlan:
    """Validate and compile a search body; raises :class:`SearchError` for what HubSpot refuses."""
    if not isinstance(body, dict):
        raise SearchError("the search body must be a JSON object")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise SearchError("filterGroups must be a list")
    if len(groups) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups: {len(groups)}. The maximum is {MAX_GROUPS}.")
    total = 0
    group_predicates: list[Predicate] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SearchError("each filter group needs a filters list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(
                f"Too many filters in a filter group: {len(filters)}. The maximum is {MAX_FILTERS_PER_GROUP}."
            )
        total += len(filters)
        if total > MAX_FILTERS_TOTAL:
            raise SearchError(
                f"Too many filters across all filter groups. The maximum is {MAX_FILTERS_TOTAL}."
            )
        compiled = [_compile_filter(otype, f, typed, assoc_ids) for f in filters]
        if compiled:
            group_predicates.append(partial(_all_of, compiled))
    query = body.get("query")
    if query is not None and not isinstance(query, str):
        raise SearchError("query must be a string")
    predicates: list[Predicate] = []
    if group_predicates:
        predicates.append(lambda rec: any(g(rec) for g in group_predicates))
    if query and query.strip():
        predicates.append(_compile_query_text(otype, query, typed))
    predicate: Predicate | None = None
    if len(predicates) == 1:
        predicate = predicates[0]
    elif predicates:
        first, second = predicates
        predicate = lambda rec: first(rec) and second(rec)  # noqa: E731

    limit = body.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise SearchError("limit must be a non-negative integer")
    if limit > MAX_LIMIT:
        raise SearchError(f"limit must be less than or equal to {MAX_LIMIT}, got {limit}")
    after_raw = body.get("after", 0) or 0
    try:
        after = int(after_raw)
    except (TypeError, ValueError) as exc:
        raise SearchError(f"after must be a number, got {after_raw!r}") from exc
    if after >= MAX_RESULTS:
        raise SearchError(
            f"Search results are limited to {MAX_RESULTS:,}; after={after} pages past them. Narrow the search "
            "(for example by hs_object_id or a modified-date window)."
        )

    sort_keys: list[tuple[Callable[[Record], Any], bool]] = []
    for item in body.get("sorts") or []:
        if isinstance(item, str):
            name, desc = item.lstrip("-"), item.startswith("-")
        elif isinstance(item, dict):
            name = item.get("propertyName", "")
            direction = str(item.get("direction", "ASCENDING")).upper()
            if direction not in ("ASCENDING", "DESCENDING"):
                raise SearchError(f"direction must be ASCENDING or DESCENDING, got {direction}")
            desc = direction == "DESCENDING"
        else:
            raise SearchError("each sort must be a property name or {propertyName, direction}")
        prop = otype.prop(name)
        if prop is None:
            raise SearchError(f"cannot sort by unknown property {name!r}")
        null_rank, value_rank = (0, 1) if desc else (1, 0)  # unset last either way
        fold = prop.type in ("string", "enumeration")
        default: Any = "" if prop.type in ("string", "enumeration", "date") else 0

        def key(
            rec: Record,
            prop: Prop = prop,
            nr: int = null_rank,
            vr: int = value_rank,
            fold: bool = fold,
            default: Any = default,
        ) -> Any:
            v = typed(rec, prop)
            if v is None:
                return (nr, default)
            return (vr, v.casefold() if fold else v)

        sort_keys.append((key, desc))

    requested = body.get("properties") or list(otype.default_props)
    if not isinstance(requested, list):
        raise SearchError("properties must be a list of property names")
    props = list(dict.fromkeys([*map(str, requested), "createdate", otype.modified_prop, "hs_object_id"]))
    cache_key = orjson.dumps(
        {"g": groups, "q": query, "s": body.get("sorts") or []}, option=orjson.OPT_SORT_KEYS
    ).decode()
    stamp_lo, stamp_hi = _stamp_bounds(groups, otype.modified_prop)
    return SearchPlan(predicate, sort_keys, props, limit, after, cache_key, stamp_lo, stamp_hi)


def _all_of(predicates: list[Callable[[Any], bool]], rec: Any) -> bool:
    return all(f(rec) for f in predicates)
