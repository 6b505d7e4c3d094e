"""Hypothesis strategies: typed random expressions (as ASTs) and canonical records."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from crmhub.expr import ast
from crmhub.expr.types import ValueType as T

#: One profile for the expression suite: enough examples to find bugs, no deadline (databases).
EXPR_SETTINGS = settings(
    max_examples=int(os.environ.get("CRMHUB_EXPR_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2024, 3, 15, 12, 30, tzinfo=UTC)

SCHEMA: dict[str, T] = {
    "Name": T.text,
    "Industry": T.text,
    "Owner.Name": T.text,
    "AccountId": T.foreign_key,
    "Amount": T.currency,
    "Employees": T.number,
    "IsActive": T.boolean,
    "CloseDate": T.date,
    "CreatedDate": T.datetime,
    "Tags": T.multi_text,
}
TEXT_FIELDS = ["Name", "Industry", "Owner.Name", "AccountId"]
NUMBER_FIELDS = ["Amount", "Employees"]

# Letters whose lower case agrees between Python and PostgreSQL's lower(); plus LIKE's and the
# dialects' special characters.
ALPHABET = "aAbBzé É%_\\'\"ß\n"
texts = st.text(alphabet=ALPHABET, max_size=5)
short_texts = st.text(alphabet="aAbB", min_size=1, max_size=2)
numbers = st.one_of(
    st.integers(-50, 50),
    st.floats(-100, 100, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 2)),
)
dates = st.dates(date(2023, 12, 1), date(2024, 6, 30))
# hypothesis takes naive bounds and attaches the zone itself
_LO = datetime(2023, 12, 1, tzinfo=UTC).replace(tzinfo=None)
_HI = datetime(2024, 6, 30, tzinfo=UTC).replace(tzinfo=None)
datetimes = st.datetimes(_LO, _HI, timezones=st.just(UTC)).map(
    lambda d: d if d.microsecond % 3 else d.replace(microsecond=0)
)
tag_lists = st.lists(st.sampled_from(["a", "A", "b", "vip", "Vip"]), max_size=3)


def _value(vtype: T) -> st.SearchStrategy[Any]:
    base: st.SearchStrategy[Any] = {
        T.text: st.one_of(texts, short_texts),
        T.foreign_key: st.sampled_from(["001A", "001a", "001B"]),
        T.currency: numbers,
        T.number: numbers,
        T.boolean: st.booleans(),
        T.date: dates,
        T.datetime: datetimes,
        T.multi_text: tag_lists,
    }[vtype]
    return st.one_of(st.none(), base, base, base)  # mostly values: NULL everywhere tests little


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A canonical hub record; a field may be missing, NULL or a value."""
    record: dict[str, Any] = {}
    for name, vtype in SCHEMA.items():
        if draw(st.booleans()) or draw(st.booleans()):
            record[name] = draw(_value(vtype))
    return record


record_lists = st.lists(records(), min_size=1, max_size=8)

OPS = ["=", "!=", "<", "<=", ">", ">="]


def lit(value: Any) -> ast.Literal:
    return ast.Literal(value)


def field(name: str) -> ast.Field:
    return ast.Field(name)


@st.composite
def _text_compare(draw: st.DrawFn) -> ast.Expr:
    f = field(draw(st.sampled_from(TEXT_FIELDS[:3])))
    op = draw(st.sampled_from(OPS))
    right = draw(
        st.one_of(
            st.builds(lit, st.one_of(texts, short_texts)),
            st.just(lit(None)),
            st.sampled_from([field(n) for n in TEXT_FIELDS[:3]]),
        )
    )
    if draw(st.booleans()):
        return ast.Compare(op, right, f) if isinstance(right, ast.Literal) else ast.Compare(op, f, right)
    return ast.Compare(op, f, right)


@st.composite
def _number_compare(draw: st.DrawFn) -> ast.Expr:
    left: ast.Expr = field(draw(st.sampled_from(NUMBER_FIELDS)))
    if draw(st.integers(0, 4)) == 0:
        other = field(draw(st.sampled_from(NUMBER_FIELDS)))
        left = ast.Arith(draw(st.sampled_from(["+", "-", "*", "/"])), left, other)
    right = draw(
        st.one_of(
            st.builds(lit, numbers), st.just(lit(None)), st.sampled_from([field(n) for n in NUMBER_FIELDS])
        )
    )
    return ast.Compare(draw(st.sampled_from(OPS)), left, right)


@st.composite
def _bool_atom(draw: st.DrawFn) -> ast.Expr:
    f = field("IsActive")
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return f
    if choice == 1:
        return ast.Not(f)
    return ast.Compare(draw(st.sampled_from(["=", "!="])), f, lit(draw(st.booleans())))


@st.composite
def _date_compare(draw: st.DrawFn) -> ast.Expr:
    f = field(draw(st.sampled_from(["CloseDate", "CreatedDate"])))
    right = draw(
        st.one_of(
            st.builds(lit, dates),
            st.builds(lit, datetimes),
            st.sampled_from([field("CloseDate"), field("CreatedDate")]),
        )
    )
    return ast.Compare(draw(st.sampled_from(OPS)), f, right)


RELATIVE = [
    ("TODAY", None),
    ("YESTERDAY", None),
    ("THIS_MONTH", None),
    ("LAST_MONTH", None),
    ("NEXT_QUARTER", None),
    ("THIS_YEAR", None),
    ("LAST_90_DAYS", None),
    ("LAST_N_DAYS", 30),
    ("NEXT_N_DAYS", 7),
    ("LAST_N_MONTHS", 2),
    ("THIS_WEEK", None),
]


@st.composite
def _relative(draw: st.DrawFn) -> ast.Expr:
    f = field(draw(st.sampled_from(["CloseDate", "CreatedDate"])))
    name, n = draw(st.sampled_from(RELATIVE))
    rel = ast.RelativeDate(name, n)
    op = draw(st.sampled_from(OPS))
    return ast.Compare(op, rel, f) if draw(st.booleans()) else ast.Compare(op, f, rel)


@st.composite
def _in(draw: st.DrawFn) -> ast.Expr:
    if draw(st.booleans()):
        f = field(draw(st.sampled_from(TEXT_FIELDS)))
        items = draw(st.lists(st.one_of(short_texts, texts, st.sampled_from(["001a"])).map(lit), max_size=3))
    else:
        f = field(draw(st.sampled_from(NUMBER_FIELDS)))
        items = draw(st.lists(numbers.map(lit), max_size=3))
    if draw(st.integers(0, 3)) == 0:
        items.append(lit(None))
    return ast.In(f, tuple(items), draw(st.booleans()))


@st.composite
def _like(draw: st.DrawFn) -> ast.Expr:
    tokens = draw(
        st.lists(st.sampled_from(["%", "_", "a", "B", "é", "\\%", "\\_", "'", " ", "\\\\"]), max_size=4)
    )
    return ast.Like(field(draw(st.sampled_from(TEXT_FIELDS[:3]))), lit("".join(tokens)), draw(st.booleans()))


@st.composite
def _is_null(draw: st.DrawFn) -> ast.Expr:
    return ast.IsNull(field(draw(st.sampled_from(list(SCHEMA)))), draw(st.booleans()))


@st.composite
def _includes(draw: st.DrawFn) -> ast.Expr:
    items = draw(st.lists(st.sampled_from(["a", "B", "vip", "x"]).map(lit), max_size=2))
    return ast.Includes(field("Tags"), tuple(items), draw(st.booleans()))


@st.composite
def _function(draw: st.DrawFn) -> ast.Expr:
    name = draw(st.sampled_from(["Name", "Industry"]))
    f = field(name)
    n = draw(numbers)
    choices = [
        ast.Compare("=", ast.Call("UPPER", (f,)), lit(draw(short_texts))),
        ast.Compare(">", ast.Call("LEN", (f,)), lit(draw(st.integers(0, 4)))),
        ast.Compare("=", ast.Call("TRIM", (f,)), lit(draw(short_texts))),
        ast.Compare("=", ast.Call("LEFT", (f, lit(draw(st.integers(0, 3))))), lit(draw(short_texts))),
        ast.Compare(
            "=", ast.Call("SUBSTR", (f, lit(draw(st.integers(-1, 3))), lit(2))), lit(draw(short_texts))
        ),
        ast.Compare("<", ast.Call("COALESCE", (field("Amount"), lit(0))), lit(n)),
        ast.Compare(">", ast.Call("ABS", (field("Employees"),)), lit(n)),
        ast.Compare("<", ast.Call("MIN", (field("Amount"), field("Employees"))), lit(n)),
        ast.Compare(">", ast.Call("MAX", (field("Amount"), lit(n))), lit(0)),
        ast.Compare(">=", ast.Call("IF", (field("IsActive"), field("Amount"), field("Employees"))), lit(n)),
        ast.Compare("=", ast.Call("YEAR", (field("CloseDate"),)), lit(2024)),
        ast.Compare("=", ast.Call("DATE", (field("CreatedDate"),)), field("CloseDate")),
        ast.Like(ast.Call("CONCAT", (f, lit("-"), field("Industry"))), lit("%a%"), False),
        ast.Call("ISBLANK", (f,)),
        ast.Call("ISBLANK", (field("Tags"),)),
        ast.Compare("=", ast.Call("CASE", (f, lit("a"), lit(1), lit("b"), lit(2), lit(0))), lit(1)),
        ast.Compare("=", ast.Arith("&", f, lit("x")), lit("ax")),
        ast.Compare("=", ast.Call("REPLACE", (f, lit("a"), lit("b"))), lit(draw(short_texts))),
        ast.Compare("=", ast.Call("RIGHT", (f, lit(draw(st.integers(0, 3))))), lit(draw(short_texts))),
    ]
    return draw(st.sampled_from(choices))


atoms = st.one_of(
    _text_compare(),
    _number_compare(),
    _bool_atom(),
    _date_compare(),
    _relative(),
    _in(),
    _like(),
    _is_null(),
    _includes(),
)


def _logic(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda xs: ast.And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: ast.Or(tuple(xs))),
        children.map(ast.Not),
    )


#: Filters the CRM dialects may push down (no functions).
filters = st.recursive(atoms, _logic, max_leaves=6)
#: Filters including the functions the SQL compiler translates.
sql_filters = st.recursive(st.one_of(atoms, _function()), _logic, max_leaves=6)


def now() -> datetime:
    return NOW


def shift(days: int) -> datetime:
    return NOW + timedelta(days=days)
