"""Runtime value semantics shared by the evaluator and the converters.

Canonical Python values: ``str`` (text, foreign key), ``int``/``float`` (number, currency),
``bool``, ``datetime.date``, aware UTC ``datetime.datetime``, ``list[str]`` (multi-value text) and
``None`` (NULL). Raw values from a source (HubSpot sends every property as a string) are coerced
where the other side of an operation says what is meant: ``"1500" > 1000`` compares numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from crmhub.core.errors import ValueConversionError
from crmhub.expr.ast import format_datetime
from crmhub.expr.errors import ExpressionEvaluationError

__all__ = [
    "MAX_STRING",
    "check_size",
    "compare",
    "equals",
    "like_matcher",
    "like_regex",
    "like_tokens",
    "to_bool",
    "to_date",
    "to_datetime",
    "to_list",
    "to_number",
    "to_text",
]

#: Largest string an expression may build (CONCAT, REPLACE, &, JOIN …), in characters.
MAX_STRING = 1_000_000

_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})


def check_size(text: str, what: str) -> str:
    """Return ``text`` or raise when it is longer than :data:`MAX_STRING`."""
    if len(text) > MAX_STRING:
        raise ExpressionEvaluationError(
            f"{what} would build a string of {len(text):,} characters; the limit is {MAX_STRING:,}",
            hint="shorten the inputs or the expression",
        )
    return text


def to_text(value: Any) -> str | None:
    """Text form of a value (NULL stays NULL); integral floats print without ``.0``."""
    if value is None or value.__class__ is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(t for t in (to_text(v) for v in value) if t is not None)
    if isinstance(value, str):
        return str(value)
    raise ValueConversionError(f"cannot use a {type(value).__name__} value as text", value=repr(value)[:200])


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def to_number(value: Any) -> int | float | None:
    """Numeric form of a value; numeric text such as ``"1500"`` or ``"12.5"`` is accepted."""
    cls = value.__class__
    if cls is int or cls is float or value is None:
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        raise ValueConversionError(f"cannot use the boolean {value} as a number", value=value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            number = float(text)
            if "." not in text and "e" not in text.lower() and abs(number) < 2**53:
                return int(text)
            return number
        raise ValueConversionError(f"cannot use {value[:100]!r} as a number", value=value[:200])
    raise ValueConversionError(
        f"cannot use a {type(value).__name__} value as a number", value=repr(value)[:200]
    )


def to_bool(value: Any) -> bool | None:
    """Boolean form: booleans, ``"true"``/``"false"`` (and yes/no, 1/0) text, 1 and 0."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    elif isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise ValueConversionError(f"cannot use {value!r} as a boolean", value=repr(value)[:200])


def to_date(value: Any) -> date | None:
    """Date form: dates, datetimes (their UTC date) and ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text).date()
        except ValueError:
            pass
    raise ValueConversionError(
        f"cannot use {value!r} as a date (expected YYYY-MM-DD)", value=repr(value)[:200]
    )


def to_datetime(value: Any) -> datetime | None:
    """Aware UTC datetime form: datetimes, dates (midnight UTC) and ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueConversionError(
        f"cannot use {value!r} as a datetime (expected ISO 8601, e.g. 2024-01-31T10:00:00Z)",
        value=repr(value)[:200],
    )


_ISO_START = re.compile(r"\s*\d{4}-\d{2}-\d{2}")


def to_temporal(value: Any) -> date | datetime | None:
    """A date (for ``YYYY-MM-DD``) or a UTC datetime (for ISO text with a time); else None."""
    if isinstance(value, date):
        return to_datetime(value) if isinstance(value, datetime) else value
    if isinstance(value, str) and _ISO_START.match(value):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else to_datetime(text)
        except (ValueError, ValueConversionError):
            return None
    return None


def to_list(value: Any) -> list[str] | None:
    """Multi-value form: lists, or text separated by ``;`` (Salesforce/HubSpot style)."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [t for t in (to_text(v) for v in value) if t is not None]
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    raise ValueConversionError(f"cannot use {value!r} as a multi-value list", value=repr(value)[:200])


# Comparison --------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    cls = value.__class__
    if cls is str:
        return "text"
    if cls is bool:
        return "boolean"
    if cls is int or cls is float:
        return "number"
    if cls is datetime or isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "number"
    return "other"


def _align(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two non-NULL values to one comparable form (text is folded to lower case)."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "text":
            return a.lower(), b.lower()
        if ka == "datetime":
            return to_datetime(a), to_datetime(b)
        if ka == "list":
            return sorted(x.lower() for x in to_list(a) or []), sorted(x.lower() for x in to_list(b) or [])
        if ka == "other":
            raise ValueConversionError(f"cannot compare {type(a).__name__} values", value=repr(a)[:200])
        return a, b
    kinds = {ka, kb}
    if kinds == {"date", "datetime"}:
        return to_datetime(a), to_datetime(b)
    if "text" in kinds:
        other = kb if ka == "text" else ka
        convert = {
            "number": to_number,
            "boolean": to_bool,
            "date": _text_as_temporal,
            "datetime": to_datetime,
            "list": to_list,
        }.get(other)
        if convert is not None:
            a2 = convert(a) if ka == "text" else a
            b2 = convert(b) if kb == "text" else b
            return _align(a2, b2)
    raise ValueConversionError(
        f"cannot compare {ka} {a!r} with {kb} {b!r}", value=repr(a)[:200], other=repr(b)[:200]
    )


def _text_as_temporal(value: Any) -> date | datetime | None:
    """Text compared with a date: a date, or an instant when the text carries a time."""
    if isinstance(value, str) and len(value.strip()) > 10:
        return to_datetime(value)
    return to_date(value)


def equals(a: Any, b: Any) -> bool | None:
    """Three-valued ``a = b``: NULL if either is NULL; text compares case-insensitively."""
    if a is None or b is None:
        return None
    x, y = _align(a, b)
    return bool(x == y)


def compare(op: str, a: Any, b: Any) -> bool | None:
    """Three-valued comparison ``a op b`` for ``= != < <= > >=``."""
    if a is None or b is None:
        return None
    x, y = _align(a, b)
    if op == "=":
        return bool(x == y)
    if op == "!=":
        return bool(x != y)
    if isinstance(x, bool) or isinstance(x, list):
        raise ValueConversionError(f"cannot order {_kind(a)} values with {op}", value=repr(a)[:200])
    if isinstance(x, float) and math.isnan(x) or isinstance(y, float) and math.isnan(y):
        return False
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


# LIKE patterns ------------------------------------------------------------------------------------


def like_tokens(pattern: str) -> list[str]:
    """Split a LIKE pattern into ``"%"``, ``"_"`` and literal one-character strings.

    A backslash makes the next character literal (``\\%`` is a percent sign); a trailing
    backslash is itself literal. Literal characters are returned as ``"\\x"`` pairs.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < len(pattern):
                out.append("\\" + pattern[i + 1])
                i += 2
            else:
                out.append("\\\\")
                i += 1
        elif ch in "%_":
            out.append(ch)
            i += 1
        else:
            out.append("\\" + ch)
            i += 1
    return out


def like_matcher(pattern: str) -> Callable[[str], bool]:
    """A test of lower-cased text against the (lower-cased) LIKE ``pattern``.

    No backtracking regex: the pattern is split at ``%`` into fixed-length segments, the first
    anchored at the start, the last at the end, the middle ones found leftmost in order — linear
    work however many ``%`` a pattern has.
    """
    segments: list[list[str]] = [[]]
    for tok in like_tokens(pattern.lower()):
        if tok == "%":
            segments.append([])
        else:
            segments[-1].append(tok)

    def regex(seg: list[str]) -> re.Pattern[str]:
        return re.compile("".join("." if t == "_" else re.escape(t[1]) for t in seg), re.DOTALL)

    if len(segments) == 1:
        only, size = regex(segments[0]), len(segments[0])
        return lambda text: len(text) == size and only.match(text) is not None
    first, last = segments[0], segments[-1]
    first_rx, last_rx = regex(first), regex(last)
    middle = [(regex(seg), len(seg)) for seg in segments[1:-1] if seg]
    first_len, last_len = len(first), len(last)
    minimum = first_len + last_len + sum(size for _, size in middle)

    def match(text: str) -> bool:
        if len(text) < minimum:
            return False
        if first_len and first_rx.match(text) is None:
            return False
        end = len(text) - last_len
        if last_len and last_rx.match(text, end) is None:
            return False
        pos = first_len
        for rx, _size in middle:
            found = rx.search(text, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True

    return match


def like_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regex matching the (lower-cased) LIKE ``pattern`` against lower-cased text."""
    parts: list[str] = []
    for tok in like_tokens(pattern.lower()):
        if tok == "%":
            parts.append(".*")
        elif tok == "_":
            parts.append(".")
        else:
            parts.append(re.escape(tok[1]))
    return re.compile("".join(parts), re.DOTALL)
