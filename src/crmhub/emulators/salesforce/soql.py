"""A SOQL subset with Salesforce's semantics, compiled once per query into Python closures.

Supported: ``SELECT`` field lists with relationship paths (``Owner.Name``, ``Account.Owner.Email``) or
``COUNT()``; ``FROM``; ``WHERE`` with ``= != <> < <= > >=``, ``LIKE``, ``[NOT] IN (…)``,
``INCLUDES``/``EXCLUDES``, ``AND``/``OR``/``NOT`` and parentheses; ``ORDER BY`` with ``ASC``/``DESC`` and
``NULLS FIRST``/``LAST``; ``LIMIT``; ``OFFSET``. Literals: strings with SOQL escapes, numbers,
``TRUE``/``FALSE``/``NULL``, dates, datetimes and the relative date literals (``TODAY``,
``LAST_N_DAYS:n`` …).

Semantics follow Salesforce rather than SQL:

* text comparisons (``=``, ``!=``, ``IN``, ``LIKE``, ordering) ignore case; an empty string is null;
* ``field != value``, ``NOT IN`` and ``EXCLUDES`` match records whose field is null; ``= null`` and
  ``!= null`` test nullness; every other comparison with a null field is false;
* ``AND`` and ``OR`` cannot be mixed at one level without parentheses (MALFORMED_QUERY);
* ``ORDER BY`` sorts text case-insensitively and puts nulls first unless ``NULLS LAST`` is given
  (Salesforce's SOQL reference, "ORDER BY": "By default, null values are sorted first");
* a relative date literal is a range: ``= TODAY`` is inside it, ``< TODAY`` before its start, ``> TODAY``
  after its end; weeks start on Sunday and days are UTC days.

Not supported (MALFORMED_QUERY saying so): subqueries and semi-joins, aggregates other than
``COUNT()``, ``GROUP BY``, ``HAVING``, ``TYPEOF``, ``WITH``, ``USING SCOPE``, ``FOR VIEW/UPDATE``,
fiscal date literals and ``FIELDS()``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from crmhub.emulators._common.responses import sf_datetime
from crmhub.emulators._common.table import Record, Ref
from crmhub.emulators.salesforce.schema import SField, SObject

Getter = Callable[[Ref], Any]
Predicate = Callable[[Ref], bool]

_MAX_OFFSET = 2000


class SoqlError(Exception):
    """A query Salesforce would refuse: ``code`` is its errorCode (MALFORMED_QUERY, INVALID_FIELD …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- tokens -----------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
   |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
   |(?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
   |(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?![A-Za-z_]))
   |(?P<string>'(?:[^'\\]|\\.)*')
   |(?P<op><>|!=|<=|>=|=|<|>)
   |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
   |(?P<punct>[(),:])
    """,
    re.VERBOSE,
)

KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "INCLUDES",
        "EXCLUDES",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "LIMIT",
        "OFFSET",
        "NULL",
        "TRUE",
        "FALSE",
        "GROUP",
        "HAVING",
        "WITH",
        "USING",
        "FOR",
        "TYPEOF",
    }
)

# Placeholders for escaped LIKE wildcards (\% and \_) inside decoded strings.
_ESC_PERCENT = "\ue000"
_ESC_UNDERSCORE = "\ue001"
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "%": _ESC_PERCENT,
    "_": _ESC_UNDERSCORE,
}


@dataclass(frozen=True)
class Token:
    kind: str  # ident, keyword, string, number, date, datetime, op, punct, eof
    value: Any
    pos: int
    text: str


def _decode_string(raw: str, pos: int, query: str) -> str:
    out: list[str] = []
    i = 1
    while i < len(raw) - 1:
        char = raw[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt == "u":
            digits = raw[i + 2 : i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise _error(
                    query, pos + i, "MALFORMED_QUERY", "Invalid string literal: illegal unicode escape"
                )
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        if nxt not in _ESCAPES:
            raise _error(
                query,
                pos + i,
                "MALFORMED_QUERY",
                f"Invalid string literal '{raw}'. Illegal escape sequence '\\{nxt}'",
            )
        out.append(_ESCAPES[nxt])
        i += 2
    return "".join(out)


def tokenize(query: str) -> list[Token]:
    """Split a query into tokens; raises MALFORMED_QUERY on characters SOQL does not know."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        match = _TOKEN_RE.match(query, pos)
        if match is None:
            if query[pos] == "'":
                raise _error(query, pos, "MALFORMED_QUERY", "unexpected token: unterminated string literal")
            raise _error(query, pos, "MALFORMED_QUERY", f"unexpected token: '{query[pos]}'")
        kind = match.lastgroup
        text = match.group()
        assert kind is not None
        if kind == "ident" and "." not in text and text.upper() in KEYWORDS:
            tokens.append(Token("keyword", text.upper(), pos, text))
        elif kind == "string":
            tokens.append(Token("string", _decode_string(text, pos, query), pos, text))
        elif kind == "number":
            value: Any = float(text) if any(c in text for c in ".") else int(text)
            tokens.append(Token("number", value, pos, text))
        elif kind != "ws":
            tokens.append(Token(kind, text, pos, text))
        pos = match.end()
    tokens.append(Token("eof", None, len(query), ""))
    return tokens


def _error(query: str, pos: int, code: str, message: str) -> SoqlError:
    """A SoqlError whose message points at ``pos`` the way Salesforce's do."""
    before = query[:pos]
    row = before.count("\n") + 1
    col = pos - (before.rfind("\n") + 1) + 1
    line = query.splitlines()[row - 1] if query else ""
    return SoqlError(code, f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}")


# -- syntax tree ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Value:
    kind: str  # null, bool, num, str, date, datetime, dlit
    value: Any
    pos: int
    n: int | None = None  # the :n of LAST_N_DAYS:n


@dataclass(frozen=True)
class Cmp:
    path: Path
    op: str
    value: Value


@dataclass(frozen=True)
class InList:
    path: Path
    values: tuple[Value, ...]
    negate: bool


@dataclass(frozen=True)
class Like:
    path: Path
    pattern: Value


@dataclass(frozen=True)
class Includes:
    path: Path
    values: tuple[Value, ...]
    negate: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND, OR
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class OrderItem:
    path: Path
    desc: bool
    nulls_first: bool


@dataclass
class Query:
    fields: list[Path]
    count_only: bool
    sobject: str
    sobject_pos: int
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


DATE_LITERALS = frozenset(
    {
        "YESTERDAY",
        "TODAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_QUARTER",
        "LAST_QUARTER",
        "NEXT_QUARTER",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    }
)
DATE_LITERALS_N = frozenset(
    {
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "N_DAYS_AGO",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "N_WEEKS_AGO",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
        "N_MONTHS_AGO",
        "LAST_N_QUARTERS",
        "NEXT_N_QUARTERS",
        "N_QUARTERS_AGO",
        "LAST_N_YEARS",
        "NEXT_N_YEARS",
        "N_YEARS_AGO",
    }
)


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_kw(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def at_punct(self, char: str) -> bool:
        return self.tok.kind == "punct" and self.tok.value == char

    def unexpected(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        if tok.kind == "eof":
            return _error(self.query, tok.pos, "MALFORMED_QUERY", "unexpected token: <EOF>")
        return _error(self.query, tok.pos, "MALFORMED_QUERY", f"unexpected token: '{tok.text}'")

    def unsupported(self, what: str, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        return _error(
            self.query, tok.pos, "MALFORMED_QUERY", f"{what} is not supported by the crmhub emulator"
        )

    def expect_kw(self, word: str) -> Token:
        if not self.at_kw(word):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if not self.at_punct(char):
            raise self.unexpected()
        return self.advance()

    def path(self) -> Path:
        tok = self.tok
        if tok.kind != "ident":
            raise self.unexpected()
        self.advance()
        return Path(tuple(tok.value.split(".")), tok.pos)

    # grammar
    def parse(self) -> Query:
        if not self.query.strip():
            raise SoqlError("MALFORMED_QUERY", "The query string is empty")
        self.expect_kw("SELECT")
        fields: list[Path] = []
        count_only = False
        if (
            self.tok.kind == "ident"
            and self.tok.value.upper() == "COUNT"
            and self.tokens[self.i + 1].value == "("
        ):
            start = self.advance()
            self.advance()
            if not self.at_punct(")"):
                raise self.unsupported("COUNT(fieldName) and other aggregate functions", start)
            self.advance()
            count_only = True
        else:
            while True:
                if self.at_punct("("):
                    raise self.unsupported("A relationship subquery")
                if self.at_kw("TYPEOF"):
                    raise self.unsupported("TYPEOF")
                if self.tok.kind == "ident" and self.tokens[self.i + 1].value == "(":
                    raise self.unsupported(f"The function {self.tok.text}()")
                fields.append(self.path())
                if not self.at_punct(","):
                    break
                self.advance()
        self.expect_kw("FROM")
        obj = self.tok
        if obj.kind != "ident" or "." in obj.value:
            raise self.unexpected()
        self.advance()
        query = Query(fields, count_only, obj.value, obj.pos)
        if self.at_kw("USING", "WITH"):
            raise self.unsupported(f"{self.tok.value} clauses")
        if self.at_kw("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.at_kw("GROUP", "HAVING"):
            raise self.unsupported(f"{self.tok.value} clauses")
        if self.at_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            while True:
                path = self.path()
                desc = False
                if self.at_kw("ASC", "DESC"):
                    desc = self.advance().value == "DESC"
                nulls_first = True
                if self.at_kw("NULLS"):
                    self.advance()
                    word = self.tok
                    if word.kind != "ident" or word.value.upper() not in ("FIRST", "LAST"):
                        raise self.unexpected()
                    self.advance()
                    nulls_first = word.value.upper() == "FIRST"
                query.order.append(OrderItem(path, desc, nulls_first))
                if not self.at_punct(","):
                    break
                self.advance()
        if self.at_kw("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.at_kw("OFFSET"):
            self.advance()
            tok = self.tok
            query.offset = self.integer()
            if query.offset > _MAX_OFFSET:
                raise _error(
                    self.query,
                    tok.pos,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"Maximum SOQL offset allowed is {_MAX_OFFSET}",
                )
        if self.at_kw("FOR"):
            raise self.unsupported("FOR VIEW/REFERENCE/UPDATE")
        if self.tok.kind != "eof":
            raise self.unexpected()
        return query

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.unexpected()
        self.advance()
        return int(tok.value)

    def condition(self) -> Any:
        items = [self.unary()]
        op: str | None = None
        while self.at_kw("AND", "OR"):
            word = self.tok
            if op is not None and word.value != op:
                # SOQL needs parentheses to mix AND and OR.
                raise self.unexpected(word)
            op = word.value
            self.advance()
            items.append(self.unary())
        if len(items) == 1:
            return items[0]
        assert op is not None
        return BoolOp(op, tuple(items))

    def unary(self) -> Any:
        if self.at_kw("NOT"):
            self.advance()
            return Not(self.unary())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Any:
        path = self.path()
        tok = self.tok
        if self.at_kw("NOT"):
            self.advance()
            self.expect_kw("IN")
            return InList(path, self.value_list(), True)
        if self.at_kw("IN"):
            self.advance()
            return InList(path, self.value_list(), False)
        if self.at_kw("LIKE"):
            self.advance()
            pattern = self.value()
            if pattern.kind != "str":
                raise _error(self.query, pattern.pos, "MALFORMED_QUERY", "LIKE needs a string literal")
            return Like(path, pattern)
        if self.at_kw("INCLUDES", "EXCLUDES"):
            negate = self.advance().value == "EXCLUDES"
            return Includes(path, self.value_list(), negate)
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.value == "<>" else tok.value
            return Cmp(path, op, self.value())
        raise self.unexpected()

    def value_list(self) -> tuple[Value, ...]:
        self.expect_punct("(")
        if self.at_kw("SELECT"):
            raise self.unsupported("A semi-join subquery")
        values = [self.value()]
        while self.at_punct(","):
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Value:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            return Value("str", tok.value, tok.pos)
        if tok.kind == "number":
            self.advance()
            return Value("num", tok.value, tok.pos)
        if tok.kind == "date":
            self.advance()
            try:
                return Value("date", dt.date.fromisoformat(tok.value).isoformat(), tok.pos)
            except ValueError as exc:
                raise _error(self.query, tok.pos, "MALFORMED_QUERY", f"invalid date: {tok.text}") from exc
        if tok.kind == "datetime":
            self.advance()
            try:
                parsed = dt.datetime.fromisoformat(tok.value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise _error(self.query, tok.pos, "MALFORMED_QUERY", f"invalid dateTime: {tok.text}") from exc
            return Value("datetime", int(parsed.timestamp() * 1000), tok.pos)
        if tok.kind == "keyword" and tok.value in ("NULL", "TRUE", "FALSE"):
            self.advance()
            if tok.value == "NULL":
                return Value("null", None, tok.pos)
            return Value("bool", tok.value == "TRUE", tok.pos)
        if tok.kind == "ident":
            name = tok.value.upper()
            if name in DATE_LITERALS:
                self.advance()
                return Value("dlit", name, tok.pos)
            if name in DATE_LITERALS_N:
                self.advance()
                if not self.at_punct(":"):
                    raise _error(
                        self.query, tok.pos, "MALFORMED_QUERY", f"{name} needs a number, as in {name}:7"
                    )
                self.advance()
                n = self.tok
                if n.kind != "number" or not isinstance(n.value, int) or n.value < 0:
                    raise self.unexpected()
                self.advance()
                return Value("dlit", name, tok.pos, int(n.value))
            if name.startswith(
                ("THIS_FISCAL", "LAST_FISCAL", "NEXT_FISCAL", "LAST_N_FISCAL", "NEXT_N_FISCAL")
            ):
                raise self.unsupported("Fiscal date literals")
        raise self.unexpected()


def parse(query: str) -> Query:
    """Parse a SOQL query (syntax only; fields are checked by :func:`compile_query`)."""
    return _Parser(query).parse()


# -- date literals -----------------------------------------------------------------------------------


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def date_literal_range(name: str, n: int | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The half-open day range ``[start, end)`` a relative date literal stands for."""
    one = dt.timedelta(days=1)
    week_start = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # Sunday
    month_start = today.replace(day=1)
    quarter_start = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    year_start = dt.date(today.year, 1, 1)
    k = n or 0
    fixed: dict[str, tuple[dt.date, dt.date]] = {
        "YESTERDAY": (today - one, today),
        "TODAY": (today, today + one),
        "TOMORROW": (today + one, today + 2 * one),
        "LAST_WEEK": (week_start - 7 * one, week_start),
        "THIS_WEEK": (week_start, week_start + 7 * one),
        "NEXT_WEEK": (week_start + 7 * one, week_start + 14 * one),
        "LAST_MONTH": (_add_months(month_start, -1), month_start),
        "THIS_MONTH": (month_start, _add_months(month_start, 1)),
        "NEXT_MONTH": (_add_months(month_start, 1), _add_months(month_start, 2)),
        "LAST_90_DAYS": (today - 90 * one, today + one),
        "NEXT_90_DAYS": (today + one, today + 91 * one),
        "LAST_QUARTER": (_add_months(quarter_start, -3), quarter_start),
        "THIS_QUARTER": (quarter_start, _add_months(quarter_start, 3)),
        "NEXT_QUARTER": (_add_months(quarter_start, 3), _add_months(quarter_start, 6)),
        "LAST_YEAR": (year_start.replace(year=today.year - 1), year_start),
        "THIS_YEAR": (year_start, year_start.replace(year=today.year + 1)),
        "NEXT_YEAR": (year_start.replace(year=today.year + 1), year_start.replace(year=today.year + 2)),
    }
    if name in fixed:
        return fixed[name]
    ranges: dict[str, tuple[dt.date, dt.date]] = {
        "LAST_N_DAYS": (today - k * one, today + one),
        "NEXT_N_DAYS": (today + one, today + (k + 1) * one),
        "N_DAYS_AGO": (today - k * one, today - (k - 1) * one),
        "LAST_N_WEEKS": (week_start - 7 * k * one, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * one, week_start + 7 * (k + 1) * one),
        "N_WEEKS_AGO": (week_start - 7 * k * one, week_start - 7 * (k - 1) * one),
        "LAST_N_MONTHS": (_add_months(month_start, -k), month_start),
        "NEXT_N_MONTHS": (_add_months(month_start, 1), _add_months(month_start, k + 1)),
        "N_MONTHS_AGO": (_add_months(month_start, -k), _add_months(month_start, -k + 1)),
        "LAST_N_QUARTERS": (_add_months(quarter_start, -3 * k), quarter_start),
        "NEXT_N_QUARTERS": (_add_months(quarter_start, 3), _add_months(quarter_start, 3 * (k + 1))),
        "N_QUARTERS_AGO": (_add_months(quarter_start, -3 * k), _add_months(quarter_start, -3 * k + 3)),
        "LAST_N_YEARS": (year_start.replace(year=today.year - k), year_start),
        "NEXT_N_YEARS": (
            year_start.replace(year=today.year + 1),
            year_start.replace(year=today.year + k + 1),
        ),
        "N_YEARS_AGO": (year_start.replace(year=today.year - k), year_start.replace(year=today.year - k + 1)),
    }
    return ranges[name]


def _day_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


# -- compiling ----------------------------------------------------------------------------------------


class Resolver(Protocol):
    """What the compiler needs from the emulator's store."""

    def sobject(self, name: str) -> SObject | None:
        """The sObject called ``name`` (any case)."""

    def getter(self, sobject: SObject, field_name: str) -> Getter:
        """Reads one field of a row reference (an int seeded row or a record dict) of ``sobject``."""

    def by_id(self, record_id: str) -> Record | None:
        """The live record with that id, of any object type."""


@dataclass(frozen=True)
class Hop:
    ref_field: SField
    target: SObject


@dataclass(frozen=True)
class Resolved:
    hops: tuple[Hop, ...]
    field: SField
    path: Path


@dataclass
class CompiledQuery:
    """A query ready to run: filter, sort keys, window and record projection."""

    sobject: SObject
    count_only: bool
    predicate: Predicate | None
    sort: list[tuple[Callable[[Ref], Any], bool]] | None  # None: (SystemModstamp, Id) order
    limit: int | None
    offset: int
    project: Callable[[Record], dict[str, Any]]
    stamp_range: tuple[int | None, int | None]


_NATURAL_SORTS = ({"systemmodstamp"}, {"lastmodifieddate"})


class _Compiler:
    def __init__(self, query_text: str, resolver: Resolver, now_ms: int, version: str) -> None:
        self.text = query_text
        self.resolver = resolver
        self.today = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).date()
        self.version = version

    def err(self, pos: int, code: str, message: str) -> SoqlError:
        return _error(self.text, pos, code, message)

    # fields
    def resolve(self, sobject: SObject, path: Path) -> Resolved:
        hops: list[Hop] = []
        current = sobject
        for part in path.parts[:-1]:
            ref = current.relationships.get(part.lower())
            if ref is None or ref.reference_to is None:
                raise self.err(
                    path.pos,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{part}' in field path. If you are attempting to use a custom "
                    "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
                    "your WSDL or the describe call for the appropriate names.",
                )
            target = self.resolver.sobject(ref.reference_to)
            assert target is not None
            hops.append(Hop(ref, target))
            current = target
        last = path.parts[-1]
        found = current.field(last)
        if found is None:
            if len(path.parts) == 1 and last.lower() in sobject.relationships:
                message = f"No such column '{last}' on entity '{current.name}'."
            else:
                message = (
                    f"No such column '{last}' on entity '{current.name}'. If you are attempting to use a custom "
                    "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or "
                    "the describe call for the appropriate names."
                )
            raise self.err(path.pos, "INVALID_FIELD", message)
        return Resolved(tuple(hops), found, path)

    def getter(self, sobject: SObject, resolved: Resolved) -> Getter:
        if not resolved.hops:
            return self.resolver.getter(sobject, resolved.field.name)
        first = self.resolver.getter(sobject, resolved.hops[0].ref_field.name)
        rest = [hop.ref_field.name for hop in resolved.hops[1:]]
        final = resolved.field.name
        by_id = self.resolver.by_id

        def get(ref: Ref) -> Any:
            target_id = first(ref)
            if target_id is None:
                return None
            rec = by_id(target_id)
            for name in rest:
                if rec is None:
                    return None
                next_id = rec.get(name)
                rec = by_id(next_id) if next_id else None
            return rec.get(final) if rec is not None else None

        return get

    # the whole query
    def compile(self, query: Query) -> CompiledQuery:
        sobject = self.resolver.sobject(query.sobject)
        if sobject is None:
            raise self.err(
                query.sobject_pos,
                "INVALID_TYPE",
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use a custom object, be "
                "sure to append the '__c' after the entity name. Please reference your WSDL or the describe call "
                "for the appropriate names.",
            )
        selected = [self.resolve(sobject, p) for p in query.fields]
        seen: set[str] = set()
        for item in selected:
            key = ".".join(
                [h.ref_field.relationship_name or "" for h in item.hops] + [item.field.name]
            ).lower()
            if key in seen:
                raise self.err(
                    item.path.pos, "MALFORMED_QUERY", f"duplicate field selected: {item.path.text}"
                )
            seen.add(key)
        predicate = self.condition(sobject, query.where) if query.where is not None else None
        sort = self.order(sobject, query.order)
        return CompiledQuery(
            sobject=sobject,
            count_only=query.count_only,
            predicate=predicate,
            sort=sort,
            limit=query.limit,
            offset=query.offset,
            project=self.projector(sobject, selected),
            stamp_range=self.stamp_range(sobject, query.where),
        )

    # ORDER BY
    def order(
        self, sobject: SObject, items: list[OrderItem]
    ) -> list[tuple[Callable[[Ref], Any], bool]] | None:
        if not items:
            return None
        lowered = [".".join(i.path.parts).lower() for i in items]
        if (
            not items[0].desc
            and {lowered[0]} in _NATURAL_SORTS
            and (len(items) == 1 or (len(items) == 2 and lowered[1] == "id" and not items[1].desc))
        ):
            return None
        keys: list[tuple[Callable[[Ref], Any], bool]] = []
        for item in items:
            resolved = self.resolve(sobject, item.path)
            if resolved.field.type in ("multipicklist", "textarea"):
                raise self.err(
                    item.path.pos,
                    "INVALID_FIELD",
                    f"field '{resolved.field.name}' can not be sorted in a query call",
                )
            get = self.getter(sobject, resolved)
            # Where the null rank goes so that, after reverse=desc, nulls land first or last.
            null_rank, value_rank = (0, 1) if item.nulls_first != item.desc else (1, 0)
            category = resolved.field.category
            default: Any = "" if category in ("text", "id", "date") else 0

            def key(
                ref: Ref,
                get: Getter = get,
                nr: int = null_rank,
                vr: int = value_rank,
                text: bool = category == "text",
                default: Any = default,
            ) -> Any:
                value = get(ref)
                if value is None:
                    return (nr, default)
                return (vr, value.casefold() if text else value)

            keys.append((key, item.desc))
        return keys

    # projection
    def projector(self, sobject: SObject, selected: Sequence[Resolved]) -> Callable[[Record], dict[str, Any]]:
        tree: dict[str, Any] = {}
        for item in selected:
            node = tree
            for hop in item.hops:
                rel = hop.ref_field.relationship_name
                assert rel is not None
                entry = node.setdefault(rel, ("rel", hop, {}))
                node = entry[2]
            node.setdefault(item.field.name, ("field", item.field, None))
        return self._build_projector(sobject, tree)

    def _build_projector(self, sobject: SObject, tree: dict[str, Any]) -> Callable[[Record], dict[str, Any]]:
        """A function from a record to its JSON shape, generated as Python source once per query.

        Pages of 2000 records go through it, so it is one dict display with no per-field branching.
        Only schema field names (validated above, emitted with ``repr``) end up in the source.
        """
        namespace: dict[str, Any] = {
            "PREFIX": f"/services/data/v{self.version}/sobjects/{sobject.name}/",
            "FMT": sf_datetime,
            "BY_ID": self.resolver.by_id,
        }
        items = [f"'attributes': {{'type': {sobject.name!r}, 'url': PREFIX + rec['Id']}}"]
        for index, (key, (kind, payload, children)) in enumerate(tree.items()):
            if kind == "field":
                if payload.type == "datetime":
                    items.append(
                        f"{key!r}: (None if (v{index} := g({payload.name!r})) is None else FMT(v{index}))"
                    )
                else:
                    items.append(f"{key!r}: g({payload.name!r})")
            else:
                namespace[f"SUB{index}"] = self._build_projector(payload.target, children)
                items.append(
                    f"{key!r}: (None if (t{index} := (BY_ID(v{index}) if (v{index} := g({payload.ref_field.name!r})) "
                    f"else None)) is None else SUB{index}(t{index}))"
                )
        source = "def project(rec):\n    g = rec.get\n    return {" + ", ".join(items) + "}\n"
        exec(compile(source, f"<soql projection of {sobject.name}>", "exec"), namespace)
        project: Callable[[Record], dict[str, Any]] = namespace["project"]
        return project

    # WHERE
    def condition(self, sobject: SObject, node: Any) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.condition(sobject, item) for item in node.items]
            if node.op == "AND":
                if len(parts) == 2:
                    a, b = parts
                    return lambda r: a(r) and b(r)
                return lambda r: all(p(r) for p in parts)
            if len(parts) == 2:
                a, b = parts
                return lambda r: a(r) or b(r)
            return lambda r: any(p(r) for p in parts)
        if isinstance(node, Not):
            inner = self.condition(sobject, node.item)
            return lambda r: not inner(r)
        resolved = self.resolve(sobject, node.path)
        get = self.getter(sobject, resolved)
        f = resolved.field
        if isinstance(node, Cmp):
            return self.compare(f, get, node.op, node.value)
        if isinstance(node, InList):
            return self.in_list(f, get, node)
        if isinstance(node, Like):
            return self.like(f, get, node)
        return self.includes(f, get, node)

    def literal(self, f: SField, value: Value) -> Any:
        """A literal converted to the field's internal form (None for null); errors like Salesforce's."""
        category = f.category
        kind = value.kind
        if kind == "null":
            return None
        if category in ("text", "multi"):
            if kind != "str":
                raise self.err(
                    value.pos,
                    "INVALID_FIELD",
                    f"value of filter criterion for field '{f.name}' must be of type string and should be enclosed "
                    "in quotes",
                )
            text = value.value.replace(_ESC_PERCENT, "%").replace(_ESC_UNDERSCORE, "_")
            return text or None  # an empty string is null in Salesforce
        if category == "id":
            if kind != "str":
                raise self.err(
                    value.pos,
                    "INVALID_FIELD",
                    f"value of filter criterion for field '{f.name}' must be of type id and should be enclosed in quotes",
                )
            text = value.value
            if text == "":
                return None
            if len(text) not in (15, 18) or not text.isalnum():
                raise self.err(value.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}")
            return text[:15]
        type_names = {
            "number": "double" if f.type != "int" else "integer",
            "bool": "boolean",
            "date": "date",
            "datetime": "dateTime",
        }
        expected = {
            "number": ("num",),
            "bool": ("bool",),
            "date": ("date", "dlit"),
            "datetime": ("datetime", "dlit"),
        }
        if kind not in expected[category]:
            raise self.err(
                value.pos,
                "INVALID_FIELD",
                f"value of filter criterion for field '{f.name}' must be of type {type_names[category]} and should "
                "not be enclosed in quotes",
            )
        if kind == "dlit":
            start, end = date_literal_range(value.value, value.n, self.today)
            if category == "date":
                return ("range", start.isoformat(), end.isoformat())
            return ("range", _day_ms(start), _day_ms(end))
        return value.value

    def compare(self, f: SField, get: Getter, op: str, value: Value) -> Predicate:
        lit = self.literal(f, value)
        category = f.category
        if lit is None:
            if op == "=":
                return lambda r: get(r) is None
            if op == "!=":
                return lambda r: get(r) is not None
            return lambda r: False
        if category == "multi":
            if op not in ("=", "!="):
                raise self.err(value.pos, "INVALID_FIELD", f"invalid operator on multipicklist field: {op}")
            wanted = frozenset(v.strip().casefold() for v in lit.split(";") if v.strip())

            def equal_sets(r: Ref) -> bool:
                v = get(r)
                return v is not None and frozenset(x.casefold() for x in v.split(";")) == wanted

            return equal_sets if op == "=" else (lambda r: not equal_sets(r))
        if isinstance(lit, tuple):  # a date literal range
            _, lo, hi = lit
            range_tests: dict[str, Predicate] = {
                "=": lambda r: (v := get(r)) is not None and lo <= v < hi,
                "!=": lambda r: (v := get(r)) is None or not lo <= v < hi,
                "<": lambda r: (v := get(r)) is not None and v < lo,
                "<=": lambda r: (v := get(r)) is not None and v < hi,
                ">": lambda r: (v := get(r)) is not None and v >= hi,
                ">=": lambda r: (v := get(r)) is not None and v >= lo,
            }
            return range_tests[op]
        if category == "text":
            key = lit.casefold()
            text_tests: dict[str, Predicate] = {
                "=": lambda r: (v := get(r)) is not None and v.casefold() == key,
                "!=": lambda r: (v := get(r)) is None or v.casefold() != key,
                "<": lambda r: (v := get(r)) is not None and v.casefold() < key,
                "<=": lambda r: (v := get(r)) is not None and v.casefold() <= key,
                ">": lambda r: (v := get(r)) is not None and v.casefold() > key,
                ">=": lambda r: (v := get(r)) is not None and v.casefold() >= key,
            }
            return text_tests[op]
        if category == "id":
            id_tests: dict[str, Predicate] = {
                "=": lambda r: (v := get(r)) is not None and v[:15] == lit,
                "!=": lambda r: (v := get(r)) is None or v[:15] != lit,
                "<": lambda r: (v := get(r)) is not None and v[:15] < lit,
                "<=": lambda r: (v := get(r)) is not None and v[:15] <= lit,
                ">": lambda r: (v := get(r)) is not None and v[:15] > lit,
                ">=": lambda r: (v := get(r)) is not None and v[:15] >= lit,
            }
            return id_tests[op]
        tests: dict[str, Predicate] = {
            "=": lambda r: (v := get(r)) is not None and v == lit,
            "!=": lambda r: (v := get(r)) is None or v != lit,
            "<": lambda r: (v := get(r)) is not None and v < lit,
            "<=": lambda r: (v := get(r)) is not None and v <= lit,
            ">": lambda r: (v := get(r)) is not None and v > lit,
            ">=": lambda r: (v := get(r)) is not None and v >= lit,
        }
        return tests[op]

    def in_list(self, f: SField, get: Getter, node: InList) -> Predicate:
        if f.category == "multi":
            raise self.err(
                node.path.pos,
                "INVALID_FIELD",
                "IN and NOT IN are not valid on multipicklist fields; use INCLUDES",
            )
        values = [self.literal(f, v) for v in node.values]
        if any(isinstance(v, tuple) for v in values):
            raise self.err(node.path.pos, "MALFORMED_QUERY", "date literals are not supported inside IN")
        has_null = any(v is None for v in values)
        if f.category == "text":
            keys = frozenset(v.casefold() for v in values if v is not None)
            norm: Callable[[Any], Any] = str.casefold
        elif f.category == "id":
            keys = frozenset(v for v in values if v is not None)
            norm = lambda v: v[:15]  # noqa: E731
        else:
            keys = frozenset(v for v in values if v is not None)
            norm = lambda v: v  # noqa: E731
        if node.negate:
            return lambda r: (not has_null) if (v := get(r)) is None else norm(v) not in keys
        return lambda r: has_null if (v := get(r)) is None else norm(v) in keys

    def like(self, f: SField, get: Getter, node: Like) -> Predicate:
        if f.category not in ("text", "id"):
            raise self.err(
                node.path.pos,
                "INVALID_FIELD",
                f"invalid operator on field '{f.name}': LIKE needs a text field",
            )
        pattern = node.pattern.value
        parts = []
        for char in pattern:
            if char == "%":
                parts.append(".*")
            elif char == "_":
                parts.append(".")
            elif char == _ESC_PERCENT:
                parts.append("%")
            elif char == _ESC_UNDERSCORE:
                parts.append("_")
            else:
                parts.append(re.escape(char))
        regex = re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
        match = regex.fullmatch
        return lambda r: (v := get(r)) is not None and match(v) is not None

    def includes(self, f: SField, get: Getter, node: Includes) -> Predicate:
        if f.category != "multi":
            raise self.err(
                node.path.pos,
                "INVALID_FIELD",
                f"includes or excludes operator only valid on multipicklist field: {f.name}",
            )
        wanted = []
        for v in node.values:
            if v.kind != "str":
                raise self.err(v.pos, "INVALID_FIELD", "INCLUDES and EXCLUDES take string literals")
            wanted.append(frozenset(x.strip().casefold() for x in v.value.split(";") if x.strip()))

        def any_included(r: Ref) -> bool:
            v = get(r)
            if v is None:
                return False
            have = {x.casefold() for x in v.split(";")}
            return any(w <= have for w in wanted)

        if node.negate:
            return lambda r: not any_included(r)
        return any_included

    # a modstamp window the store can use to skip rows
    def stamp_range(self, sobject: SObject, node: Any) -> tuple[int | None, int | None]:
        conjuncts = node.items if isinstance(node, BoolOp) and node.op == "AND" else ([node] if node else [])
        lo: int | None = None
        hi: int | None = None
        for item in conjuncts:
            if not isinstance(item, Cmp) or len(item.path.parts) != 1:
                continue
            if item.path.parts[0].lower() not in ("systemmodstamp", "lastmodifieddate"):
                continue
            f = sobject.field(item.path.parts[0])
            if f is None or f.type != "datetime":
                continue
            try:
                lit = self.literal(f, item.value)
            except SoqlError:
                continue
            if lit is None:
                continue
            low, high = (lit[1], lit[2]) if isinstance(lit, tuple) else (lit, lit + 1)
            bounds = {
                "=": (low, high),
                ">": (high, None),
                ">=": (low, None),
                "<": (None, low),
                "<=": (None, high),
            }.get(item.op)
            if bounds is None:
                continue
            if bounds[0] is not None:
                lo = bounds[0] if lo is None else max(lo, bounds[0])
            if bounds[1] is not None:
                hi = bounds[1] if hi is None else min(hi, bounds[1])
        return lo, hi


def projector_for(
    sobject: SObject, field_names: Sequence[str], resolver: Resolver, *, version: str
) -> Callable[[Record], dict[str, Any]]:
    """The record projection for a list of field paths (as ``?fields=`` or a full-record GET need)."""
    text = ", ".join(field_names)
    compiler = _Compiler(text, resolver, 0, version)
    offsets = []
    pos = 0
    for name in field_names:
        offsets.append(pos)
        pos += len(name) + 2
    selected = [
        compiler.resolve(sobject, Path(tuple(name.strip().split(".")), at))
        for name, at in zip(field_names, offsets, strict=True)
    ]
    return compiler.projector(sobject, selected)


def compile_query(query: str, resolver: Resolver, *, now_ms: int, version: str) -> CompiledQuery:
    """Parse and compile ``query``; raises :class:`SoqlError` with Salesforce's errorCode."""
    parsed = parse(query)
    return _Compiler(query, resolver, now_ms, version).compile(parsed)
