"""The standard function library: an explicit allow-list, nothing else is callable.

Each :class:`Function` has an argument count, a type rule (used by the checker) and a plain
Python implementation (used by the evaluator). No function touches the file system, the network,
imports or Python attributes; strings they build are capped at :data:`~crmhub.expr.values.MAX_STRING`.
``IF``, ``CASE`` and ``COALESCE`` evaluate lazily; the evaluator handles them itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from crmhub.core.errors import ValueConversionError
from crmhub.expr.dates import add_months
from crmhub.expr.patterns import compile_pattern
from crmhub.expr.types import NUMERIC, TEMPORAL, TEXTUAL, ValueType
from crmhub.expr.values import (
    check_size,
    to_date,
    to_datetime,
    to_list,
    to_number,
    to_text,
)

__all__ = ["FUNCTIONS", "Function", "SignatureError", "DATE_UNITS", "TIME_UNITS"]

T = ValueType
DATE_UNITS = ("day", "week", "month", "year")
TIME_UNITS = ("hour", "minute", "second")


class SignatureError(Exception):
    """An argument does not fit; ``index`` says which (None: the call as a whole)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


ArgTypes = Sequence[ValueType | None]


@dataclass(frozen=True, slots=True)
class Function:
    """One library function."""

    name: str
    min_args: int
    max_args: int | None
    signature: str
    summary: str
    example: str
    result: Callable[[ArgTypes, Sequence[Any]], ValueType | None]
    impl: Callable[..., Any] | None = None
    #: False for TODAY/NOW: never constant-folded.
    pure: bool = True
    #: Evaluated lazily by the evaluator (IF, CASE, COALESCE).
    lazy: bool = False


# Type rules ---------------------------------------------------------------------------------------


def _describe(t: ValueType | None) -> str:
    return "NULL" if t is None else str(t)


def _want(types: ArgTypes, index: int, allowed: frozenset[ValueType] | set[ValueType], what: str) -> None:
    t = types[index]
    if t is not None and t not in allowed:
        raise SignatureError(f"argument {index + 1} must be {what}, not {_describe(t)}", index)


def _text_in_text_out(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    _want(types, 0, TEXTUAL | {T.text}, "text")
    return T.text


def _numbers_after_text(result: ValueType) -> Callable[[ArgTypes, Sequence[Any]], ValueType]:
    def rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
        _want(types, 0, TEXTUAL, "text")
        for i in range(1, len(types)):
            _want(types, i, NUMERIC, "a number")
        return result

    return rule


def _all_text(result: ValueType) -> Callable[[ArgTypes, Sequence[Any]], ValueType]:
    def rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
        for i in range(len(types)):
            _want(types, i, TEXTUAL, "text")
        return result

    return rule


def _any_to_text(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    for i, t in enumerate(types):
        if t == T.multi_text:
            raise SignatureError(f'argument {i + 1} is a multi-value list; use JOIN(list, ";") first', i)
    return T.text


def _common(types: ArgTypes, indexes: Sequence[int], what: str) -> ValueType | None:
    """The shared type of the arguments at ``indexes`` (numbers and currency mix to currency)."""
    result: ValueType | None = None
    for i in indexes:
        t = types[i]
        if t is None:
            continue
        if result is None:
            result = t
        elif t == result:
            continue
        elif t in NUMERIC and result in NUMERIC:
            result = T.currency
        elif t in TEXTUAL and result in TEXTUAL:
            result = T.text
        elif t in TEMPORAL and result in TEMPORAL:
            result = T.datetime
        else:
            raise SignatureError(f"{what} mix {_describe(result)} and {_describe(t)}", i)
    return result


def _if_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType | None:
    _want(types, 0, {T.boolean}, "a condition (boolean)")
    return _common(types, range(1, len(types)), "the results of IF")


def _case_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType | None:
    if len(types) < 3:
        raise SignatureError("CASE needs an expression, then value/result pairs, then an optional default")
    subject = types[0]
    pairs = range(1, len(types) - (len(types) - 1) % 2, 2)
    for i in pairs:
        t = types[i]
        if subject is not None and t is not None and not _comparable(subject, t):
            raise SignatureError(f"CASE compares {_describe(subject)} with {_describe(t)}", i)
    results = [i + 1 for i in pairs]
    if (len(types) - 1) % 2 == 1:
        results.append(len(types) - 1)
    return _common(types, results, "the results of CASE")


def _comparable(a: ValueType, b: ValueType) -> bool:
    groups = (NUMERIC, TEXTUAL, TEMPORAL, frozenset({T.boolean}), frozenset({T.multi_text}))
    return any(a in g and b in g for g in groups)


def _coalesce_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType | None:
    return _common(types, range(len(types)), "the arguments of COALESCE")


def _isblank_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    return T.boolean


def _numeric_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    _want(types, 0, NUMERIC, "a number")
    for i in range(1, len(types)):
        _want(types, i, {T.number}, "a whole number of digits")
    return types[0] or T.number


def _minmax_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType | None:
    for i, t in enumerate(types):
        if t is not None and t not in NUMERIC | TEMPORAL:
            raise SignatureError(f"argument {i + 1} must be a number, date or datetime, not {t}", i)
    return _common(types, range(len(types)), "MIN/MAX arguments")


def _date_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    if len(types) == 3:
        for i in range(3):
            _want(types, i, NUMERIC, "a number (year, month, day)")
        return T.date
    _want(types, 0, TEXTUAL | TEMPORAL, "text, a date or a datetime")
    if len(types) == 2:
        _want(types, 1, TEXTUAL, 'a date pattern such as "MM/DD/YYYY"')
        _check_pattern(args, 1)
    return T.date


def _datetime_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    _want(types, 0, TEXTUAL | TEMPORAL, "text, a date or a datetime")
    if len(types) == 2:
        _want(types, 1, TEXTUAL, 'a datetime pattern such as "DD.MM.YYYY HH:mm"')
        _check_pattern(args, 1)
    return T.datetime


def _check_pattern(args: Sequence[Any], index: int) -> None:
    from crmhub.expr.ast import Literal

    arg = args[index]
    if isinstance(arg, Literal) and isinstance(arg.value, str):
        try:
            compile_pattern(arg.value)
        except ValueError as exc:
            raise SignatureError(str(exc), index) from None


def _unit(args: Sequence[Any], index: int, allowed: Sequence[str]) -> None:
    from crmhub.expr.ast import Literal

    if len(args) > index:
        arg = args[index]
        if isinstance(arg, Literal) and isinstance(arg.value, str) and arg.value.lower() not in allowed:
            raise SignatureError(f"unit must be one of {', '.join(allowed)}, not {arg.value!r}", index)


def _dateadd_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType | None:
    _want(types, 0, TEMPORAL, "a date or datetime")
    _want(types, 1, NUMERIC, "a number")
    if len(types) == 3:
        _want(types, 2, TEXTUAL, 'a unit such as "day" or "month"')
        units = DATE_UNITS if types[0] == T.date else DATE_UNITS + TIME_UNITS
        _unit(args, 2, units)
    return types[0] or T.date


def _datediff_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    _want(types, 0, TEMPORAL, "a date or datetime")
    _want(types, 1, TEMPORAL, "a date or datetime")
    if len(types) == 3:
        _want(types, 2, TEXTUAL, 'a unit such as "day" or "month"')
        _unit(args, 2, DATE_UNITS + TIME_UNITS)
    return T.number


def _part_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    _want(types, 0, TEMPORAL, "a date or datetime")
    return T.number


def _format_date_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    _want(types, 0, TEMPORAL, "a date or datetime")
    _want(types, 1, TEXTUAL, 'a pattern such as "DD.MM.YYYY"')
    _check_pattern(args, 1)
    return T.text


def _split_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    _want(types, 0, TEXTUAL, "text")
    if len(types) == 2:
        _want(types, 1, TEXTUAL, "a separator")
    return T.multi_text


def _join_rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
    _want(types, 0, {T.multi_text}, "a multi-value list")
    if len(types) == 2:
        _want(types, 1, TEXTUAL, "a separator")
    return T.text


def _const(result: ValueType) -> Callable[[ArgTypes, Sequence[Any]], ValueType]:
    def rule(types: ArgTypes, args: Sequence[Any]) -> ValueType:
        return result

    return rule


# Implementations ----------------------------------------------------------------------------------


def _nulls(fn: Callable[..., Any]) -> Callable[..., Any]:
    """NULL in, NULL out: any NULL argument makes the result NULL."""

    def wrapper(*args: Any) -> Any:
        for a in args:
            if a is None:
                return None
        return fn(*args)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _text(value: Any) -> str:
    text = to_text(value)
    assert text is not None
    return text


def _int(value: Any, what: str) -> int:
    number = to_number(value)
    if number is None or isinstance(number, float) and not math.isfinite(number):
        raise ValueConversionError(f"{what} must be a finite number", value=value)
    return int(number)


@_nulls
def _upper(s: Any) -> str:
    return _text(s).upper()


@_nulls
def _lower(s: Any) -> str:
    return _text(s).lower()


_TRIM_CHARS = " \t\r\n"


@_nulls
def _trim(s: Any) -> str:
    return _text(s).strip(_TRIM_CHARS)


@_nulls
def _left(s: Any, n: Any) -> str:
    return _text(s)[: max(0, _int(n, "LEFT's length"))]


@_nulls
def _right(s: Any, n: Any) -> str:
    count = max(0, _int(n, "RIGHT's length"))
    text = _text(s)
    return text[max(0, len(text) - count) :] if count else ""


def _substr(s: Any, start: Any, length: Any = ...) -> str | None:
    if s is None or start is None or length is None:
        return None
    text = _text(s)
    begin = max(1, _int(start, "SUBSTR's start")) - 1
    if length is ...:
        return text[begin:]
    return text[begin : begin + max(0, _int(length, "SUBSTR's length"))]


@_nulls
def _len(s: Any) -> int:
    return len(_text(s))


@_nulls
def _replace(s: Any, old: Any, new: Any) -> str:
    text, old_t, new_t = _text(s), _text(old), _text(new)
    if not old_t:
        return text
    # Bound the result before building it.
    growth = (len(new_t) - len(old_t)) * text.count(old_t)
    if len(text) + growth > 1_000_000:
        check_size("x" * (len(text) + growth), "REPLACE")
    return text.replace(old_t, new_t)


def concat(*args: Any) -> str:
    """CONCAT: NULL counts as empty text."""
    total = 0
    parts: list[str] = []
    for a in args:
        if a is None:
            continue
        t = _text(a)
        total += len(t)
        if total > 1_000_000:
            check_size("x" * total, "CONCAT")
        parts.append(t)
    return "".join(parts)


def _split(s: Any, sep: Any = ";") -> list[str] | None:
    if s is None or sep is None:
        return None
    separator = _text(sep)
    if not separator:
        raise ValueConversionError("SPLIT needs a non-empty separator")
    return [part.strip() for part in _text(s).split(separator) if part.strip()]


def _join(items: Any, sep: Any = ";") -> str | None:
    if items is None or sep is None:
        return None
    values = to_list(items) or []
    return check_size(_text(sep).join(values), "JOIN")


def _isblank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, list | tuple):
        return len(value) == 0
    return False


def round_half_away(value: int | float, digits: int = 0) -> int | float:
    """Round half away from zero (as spreadsheets and SQL do), not to even."""
    if isinstance(value, int) and digits >= 0:
        return value
    if not math.isfinite(value):
        return value
    quantum = Decimal(1).scaleb(-digits)
    rounded = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    return int(rounded) if digits <= 0 else float(rounded)


@_nulls
def _round(value: Any, digits: Any = 0) -> int | float:
    number = to_number(value)
    assert number is not None
    return round_half_away(number, _int(digits, "ROUND's digits"))


@_nulls
def _abs(value: Any) -> int | float:
    number = to_number(value)
    assert number is not None
    return abs(number)


def _minmax(pick: Callable[..., Any]) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        values = [a for a in args if a is not None]
        if not values:
            return None
        kinds = {type(v) for v in values}
        if kinds & {date, datetime} and len(kinds) > 1:
            values = [to_datetime(v) for v in values]
        elif not kinds & {date, datetime}:
            values = [to_number(v) for v in values]
        return pick(values)

    return fn


def _date(*args: Any) -> date | None:
    if any(a is None for a in args):
        return None
    if len(args) == 3:
        try:
            return date(_int(args[0], "year"), _int(args[1], "month"), _int(args[2], "day"))
        except ValueError as exc:
            raise ValueConversionError(f"DATE({args[0]}, {args[1]}, {args[2]}): {exc}") from None
    value = args[0]
    if len(args) == 2 and isinstance(value, str):
        pattern = compile_pattern(_text(args[1]))
        try:
            return pattern.parse_date(value)
        except ValueError:
            raise ValueConversionError(
                f"{value[:100]!r} does not match the date pattern {pattern.pattern!r}",
                value=value[:200],
                format=pattern.pattern,
            ) from None
    return to_date(value)


def _datetime(*args: Any) -> datetime | None:
    if any(a is None for a in args):
        return None
    value = args[0]
    if len(args) == 2 and isinstance(value, str):
        pattern = compile_pattern(_text(args[1]))
        try:
            return pattern.parse_datetime(value)
        except ValueError:
            raise ValueConversionError(
                f"{value[:100]!r} does not match the datetime pattern {pattern.pattern!r}",
                value=value[:200],
                format=pattern.pattern,
            ) from None
    return to_datetime(value)


def _as_temporal(value: Any) -> date | datetime:
    if isinstance(value, date):
        return value
    result = to_datetime(value) if isinstance(value, str) and len(value.strip()) > 10 else to_date(value)
    assert result is not None
    return result


def _dateadd(value: Any, amount: Any, unit: Any = "day") -> date | datetime | None:
    if value is None or amount is None or unit is None:
        return None
    moment = _as_temporal(value)
    count = to_number(amount)
    assert count is not None
    kind = _text(unit).lower()
    try:
        if kind in ("month", "year"):
            months = int(count) * (12 if kind == "year" else 1)
            if isinstance(moment, datetime):
                moved = add_months(moment.date(), months)
                return moment.replace(year=moved.year, month=moved.month, day=moved.day)
            return add_months(moment, months)
        seconds = {"day": 86400, "week": 604800, "hour": 3600, "minute": 60, "second": 1}.get(kind)
        if seconds is None:
            raise ValueConversionError(f"unknown DATEADD unit {unit!r}", value=unit)
        if isinstance(moment, datetime):
            return moment + timedelta(seconds=count * seconds)
        if seconds < 86400:
            raise ValueConversionError(f"cannot add {kind}s to a date; use DATETIME(x) first", value=unit)
        return moment + timedelta(days=int(count * seconds // 86400))
    except OverflowError:
        raise ValueConversionError("DATEADD leaves the supported date range (years 1–9999)") from None


def _datediff(start: Any, end: Any, unit: Any = "day") -> int | None:
    if start is None or end is None or unit is None:
        return None
    a, b = _as_temporal(start), _as_temporal(end)
    kind = _text(unit).lower()
    if isinstance(a, datetime) or isinstance(b, datetime):
        da, db = to_datetime(a), to_datetime(b)
        assert da is not None and db is not None
    else:
        da = datetime(a.year, a.month, a.day, tzinfo=UTC)
        db = datetime(b.year, b.month, b.day, tzinfo=UTC)
    if kind in ("month", "year"):
        sign = 1 if db >= da else -1
        lo, hi = (da, db) if sign > 0 else (db, da)
        months = (hi.year - lo.year) * 12 + hi.month - lo.month
        if (hi.day, hi.time()) < (lo.day, lo.time()):
            months -= 1
        return sign * (months // 12 if kind == "year" else months)
    seconds = {"day": 86400, "week": 604800, "hour": 3600, "minute": 60, "second": 1}.get(kind)
    if seconds is None:
        raise ValueConversionError(f"unknown DATEDIFF unit {unit!r}", value=unit)
    delta = (db - da).total_seconds()
    return int(delta / seconds)


def _part(attr: str) -> Callable[[Any], int | None]:
    def fn(value: Any) -> int | None:
        if value is None:
            return None
        moment = _as_temporal(value)
        if isinstance(moment, datetime):
            moment = moment.astimezone(UTC)
        result: int = getattr(moment, attr)  # attr is one of our own constants, never user text
        return result

    return fn


@_nulls
def _format_date(value: Any, pattern: Any) -> str:
    return compile_pattern(_text(pattern)).format(_as_temporal(value))


def domain(value: Any) -> str | None:
    """The registrable host of a URL or the domain of an e-mail address, normalised.

    ``https://www.Acme.com/x`` → ``acme.com``; ``Jane@Sales.Acme.COM`` → ``sales.acme.com``.
    """
    if value is None:
        return None
    text = _text(value).strip()
    if not text:
        return None
    if "@" in text and "/" not in text.split("@", 1)[0]:
        host = text.rsplit("@", 1)[1]
    else:
        rest = text.split("://", 1)[1] if "://" in text else text
        rest = rest.lstrip("/")
        host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        host = host.rsplit("@", 1)[-1]  # drop user:password@
    if host.startswith("["):
        return None  # IPv6 literal: no domain
    host = host.split(":", 1)[0].strip().strip(".").lower()
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    if not host or " " in host:
        return None
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    return host


# The registry -------------------------------------------------------------------------------------


def _f(
    name: str,
    min_args: int,
    max_args: int | None,
    signature: str,
    summary: str,
    example: str,
    result: Callable[[ArgTypes, Sequence[Any]], ValueType | None],
    impl: Callable[..., Any] | None = None,
    *,
    pure: bool = True,
    lazy: bool = False,
) -> Function:
    return Function(name, min_args, max_args, signature, summary, example, result, impl, pure, lazy)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        # text
        _f(
            "UPPER",
            1,
            1,
            "UPPER(text)",
            "Upper-case text.",
            'UPPER("acme") = "ACME"',
            _text_in_text_out,
            _upper,
        ),
        _f(
            "LOWER",
            1,
            1,
            "LOWER(text)",
            "Lower-case text.",
            'LOWER("ACME") = "acme"',
            _text_in_text_out,
            _lower,
        ),
        _f(
            "TRIM",
            1,
            1,
            "TRIM(text)",
            "Remove spaces, tabs and line breaks at both ends.",
            'TRIM("  acme ") = "acme"',
            _text_in_text_out,
            _trim,
        ),
        _f(
            "LEFT",
            2,
            2,
            "LEFT(text, n)",
            "The first n characters.",
            'LEFT("Acme Corp", 4) = "Acme"',
            _numbers_after_text(T.text),
            _left,
        ),
        _f(
            "RIGHT",
            2,
            2,
            "RIGHT(text, n)",
            "The last n characters.",
            'RIGHT("Acme Corp", 4) = "Corp"',
            _numbers_after_text(T.text),
            _right,
        ),
        _f(
            "SUBSTR",
            2,
            3,
            "SUBSTR(text, start[, length])",
            "Characters from position start (1-based; below 1 counts as 1), optionally length of them.",
            'SUBSTR("Acme Corp", 6, 2) = "Co"',
            _numbers_after_text(T.text),
            _substr,
        ),
        _f(
            "LEN",
            1,
            1,
            "LEN(text)",
            "Number of characters.",
            'LEN("Acme") = 4',
            _numbers_after_text(T.number),
            _len,
        ),
        _f(
            "REPLACE",
            3,
            3,
            "REPLACE(text, old, new)",
            "Replace every occurrence of old (case-sensitive).",
            'REPLACE("Acme Inc", " Inc", "") = "Acme"',
            _all_text(T.text),
            _replace,
        ),
        _f(
            "CONCAT",
            1,
            None,
            "CONCAT(value, …)",
            "Join values as text; NULL counts as empty text.",
            'CONCAT("Jane", " ", "Doe") = "Jane Doe"',
            _any_to_text,
            concat,
        ),
        _f(
            "SPLIT",
            1,
            2,
            "SPLIT(text[, separator])",
            'A multi-value list from text (default separator ";"); items are trimmed, empty ones dropped.',
            'SPLIT("a; b;;c") INCLUDES ("b")',
            _split_rule,
            _split,
        ),
        _f(
            "JOIN",
            1,
            2,
            "JOIN(list[, separator])",
            'Text from a multi-value list (default separator ";").',
            'JOIN(SPLIT("a,b", ","), " | ") = "a | b"',
            _join_rule,
            _join,
        ),
        # logic
        _f(
            "IF",
            2,
            3,
            "IF(condition, then[, else])",
            "then when condition is TRUE, else otherwise (default NULL).",
            'IF(1 < 2, "P", "C") = "P"',
            _if_rule,
            lazy=True,
        ),
        _f(
            "CASE",
            3,
            None,
            "CASE(value, match1, result1, …[, default])",
            "The result paired with the first match equal to value (text case-insensitively), else default.",
            'CASE("Partner", "Customer", 1, "partner", 2, 0) = 2',
            _case_rule,
            lazy=True,
        ),
        _f(
            "COALESCE",
            1,
            None,
            "COALESCE(value, …)",
            "The first value that is not NULL.",
            'COALESCE(NULL, "fallback") = "fallback"',
            _coalesce_rule,
            lazy=True,
        ),
        _f(
            "ISBLANK",
            1,
            1,
            "ISBLANK(value)",
            "TRUE for NULL, empty text or an empty list.",
            'ISBLANK("") = TRUE',
            _isblank_rule,
            _isblank,
        ),
        # numbers
        _f(
            "ROUND",
            1,
            2,
            "ROUND(number[, digits])",
            "Round half away from zero to digits decimals (default 0).",
            "ROUND(2.5) = 3",
            _numeric_rule,
            _round,
        ),
        _f("ABS", 1, 1, "ABS(number)", "Absolute value.", "ABS(-4) = 4", _numeric_rule, _abs),
        _f(
            "MIN",
            1,
            None,
            "MIN(value, …)",
            "The smallest value, ignoring NULLs (numbers, dates or datetimes).",
            "MIN(3, NULL, 1) = 1",
            _minmax_rule,
            _minmax(min),
        ),
        _f(
            "MAX",
            1,
            None,
            "MAX(value, …)",
            "The largest value, ignoring NULLs (numbers, dates or datetimes).",
            "MAX(2024-01-01, 2024-03-01) = 2024-03-01",
            _minmax_rule,
            _minmax(max),
        ),
        # dates
        _f(
            "DATE",
            1,
            3,
            "DATE(text[, pattern]) | DATE(datetime) | DATE(year, month, day)",
            "A date from text (ISO, or the pattern), from a datetime (its UTC date) or from parts.",
            'DATE("01/31/2024", "MM/DD/YYYY") = 2024-01-31',
            _date_rule,
            _date,
        ),
        _f(
            "DATETIME",
            1,
            2,
            "DATETIME(text[, pattern]) | DATETIME(date)",
            "A UTC datetime from text (ISO with any offset, or the pattern) or a date (midnight UTC).",
            'DATETIME("31.01.2024 10:00", "DD.MM.YYYY HH:mm") = 2024-01-31T10:00:00Z',
            _datetime_rule,
            _datetime,
        ),
        _f(
            "TODAY",
            0,
            0,
            "TODAY()",
            "Today's date in UTC.",
            "TODAY() >= 2024-01-01",
            _const(T.date),
            pure=False,
        ),
        _f(
            "NOW",
            0,
            0,
            "NOW()",
            "The current UTC datetime.",
            "NOW() > 2024-01-01T00:00:00Z",
            _const(T.datetime),
            pure=False,
        ),
        _f(
            "DATEADD",
            2,
            3,
            "DATEADD(date, amount[, unit])",
            "Move a date or datetime by amount units: day (default), week, month, year; hour, minute, second for datetimes.",
            'DATEADD(2024-01-31, 1, "month") = 2024-02-29',
            _dateadd_rule,
            _dateadd,
        ),
        _f(
            "DATEDIFF",
            2,
            3,
            "DATEDIFF(start, end[, unit])",
            "Whole units from start to end (negative when end is earlier); unit as for DATEADD.",
            'DATEDIFF(2024-01-01, 2024-03-15, "month") = 2',
            _datediff_rule,
            _datediff,
        ),
        _f(
            "YEAR",
            1,
            1,
            "YEAR(date)",
            "The year (UTC for datetimes).",
            "YEAR(2024-01-31) = 2024",
            _part_rule,
            _part("year"),
        ),
        _f(
            "MONTH",
            1,
            1,
            "MONTH(date)",
            "The month, 1–12.",
            "MONTH(2024-01-31) = 1",
            _part_rule,
            _part("month"),
        ),
        _f(
            "DAY",
            1,
            1,
            "DAY(date)",
            "The day of the month.",
            "DAY(2024-01-31) = 31",
            _part_rule,
            _part("day"),
        ),
        _f(
            "FORMAT_DATE",
            2,
            2,
            "FORMAT_DATE(date, pattern)",
            "Text of a date or datetime in a pattern.",
            'FORMAT_DATE(2024-01-31, "DD.MM.YYYY") = "31.01.2024"',
            _format_date_rule,
            _format_date,
        ),
        # web
        _f(
            "DOMAIN",
            1,
            1,
            "DOMAIN(url or email)",
            "The normalised domain of a URL or e-mail address (lower case, without www., port or path).",
            'DOMAIN("https://www.Acme.com/x") = "acme.com"',
            _all_text(T.text),
            domain,
        ),
    ]
}


def json_list(text: str) -> list[Any]:
    """Parse a JSON array (used by the multi-value converter)."""
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError("not a JSON array")
    return value
