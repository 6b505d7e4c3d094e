"""Canonical hub values: what each attribute type stores, and the fast coercion into it.

The hub stores JSON. Per attribute type the canonical form is:

==============  ===============================================================
text            string
number          JSON number (int when integral, else float)
currency        JSON number (as number)
boolean         true / false
date            ``"YYYY-MM-DD"``
datetime        ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` — UTC, always six fraction digits,
                so text order is time order (SQL over the JSON compares them as text)
foreign_key     string (the target record's hub id or key)
multi_text      list of strings (order kept, empty strings dropped)
==============  ===============================================================

``None`` (and ``""`` for every type but text) means "no value". Coercion here accepts already-parsed
values and their plain string forms; parsing with a user's *source format* (``MM/DD/YYYY``,
``1.234,56``) is the expression package's converters' job and happens before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Coercer = Callable[[Any], Any]

#: Whole numbers the hub stores exactly (64-bit): JSON writers and SQLite stop there.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_TOO_BIG = "expects a whole number between -9223372036854775808 and 9223372036854775807 (a larger one cannot be stored exactly: keep it in a text attribute)"

_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


class CoercionError(ValueError):
    """A value does not fit an attribute type; the message says what was expected."""


def strip_nul(value: Any) -> Any:
    """``value`` without NUL characters in any text it holds (lists and objects included).

    PostgreSQL can store no NUL character, in text or in JSON; the hub drops them on both
    databases (they carry no meaning in CRM data, where they come from pasted or exported text).
    """
    if type(value) is str:
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip_nul(v) for v in value]
    return value


#: How a NUL character looks in JSON text: a document holding it needs :func:`strip_nul`.
NUL_IN_JSON = b"\\u0000"


def json_has_nul(doc: bytes) -> bool:
    """Whether a JSON document holds a NUL character (a one-byte search first: most have no escape)."""
    return b"\\" in doc and NUL_IN_JSON in doc


def _text(value: Any) -> Any:
    if type(value) is str:
        return value.replace("\x00", "") if "\x00" in value else value
    if value is None:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise CoercionError(f"expects text, got a {type(value).__name__}")


def _number(value: Any) -> Any:
    t = type(value)
    if t is int:
        if not INT_MIN <= value <= INT_MAX:
            raise CoercionError(_TOO_BIG)
        return value
    if t is float:
        if not math.isfinite(value):
            raise CoercionError("expects a finite number")
        return value
    if value is None:
        return None
    if t is bool:
        raise CoercionError("expects a number, got a boolean")
    if isinstance(value, Decimal):
        return _number(int(value)) if value == value.to_integral_value() else float(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if text == "":
            return None
        try:
            number = float(text)
        except ValueError:
            raise CoercionError("expects a number") from None
        if not math.isfinite(number):
            raise CoercionError("expects a finite number")
        if number.is_integer() and "." not in text and "e" not in text.lower():
            return _number(int(text))
        return number
    raise CoercionError(f"expects a number, got a {t.__name__}")


def _boolean(value: Any) -> Any:
    if value is True or value is False or value is None:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "":
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CoercionError("expects a boolean (true/false, yes/no, 1/0)")


def _date(value: Any) -> Any:
    if type(value) is str:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise CoercionError("expects a date (YYYY-MM-DD)") from None
            return value
        if value.strip() == "":
            return None
        try:
            return datetime.fromisoformat(value.strip()).date().isoformat()
        except ValueError:
            raise CoercionError("expects a date (YYYY-MM-DD)") from None
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise CoercionError(f"expects a date, got a {type(value).__name__}")


def format_datetime(value: datetime) -> str:
    """The canonical text of a datetime; a naive one is taken as UTC."""
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    # isoformat is several times faster than strftime; "+00:00" becomes "Z".
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def _datetime(value: Any) -> Any:
    if type(value) is str:
        # Fast path: already canonical.
        if len(value) == 27 and value[-1] == "Z" and value[10] == "T" and value[19] == ".":
            return value
        text = value.strip()
        if text == "":
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            # Salesforce writes +0000 without a colon; fromisoformat accepts it from 3.11 on,
            # but not every variant, so normalise a trailing Z / ±hhmm once more.
            raise CoercionError("expects a datetime (ISO 8601, e.g. 2024-01-31T10:00:00Z)") from None
        return format_datetime(parsed)
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_datetime(datetime(value.year, value.month, value.day, tzinfo=UTC))
    raise CoercionError(f"expects a datetime, got a {type(value).__name__}")


def _foreign_key(value: Any) -> Any:
    if type(value) is str:
        return (value.replace("\x00", "") if "\x00" in value else value) or None
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise CoercionError(f"expects a reference (text id), got a {type(value).__name__}")


def _multi_text(value: Any) -> Any:
    if value.__class__ is list:
        # Fast path: a list of clean texts (what the hub stores) is taken as it is, copied.
        for item in value:
            if item.__class__ is not str or not item or "\x00" in item or item != item.strip():
                break
        else:
            return list(value) if value else None
    if value is None:
        return None
    if isinstance(value, str):
        items = [part.strip() for part in value.replace("\x00", "").split(";")]
    elif isinstance(value, list | tuple):
        items = []
        for item in value:
            if item is None:
                continue
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise CoercionError(f"expects a list of texts, got an item of type {type(item).__name__}")
            items.append(str(item).replace("\x00", "").strip())
    else:
        raise CoercionError(f"expects a list of texts or a ';'-separated text, got a {type(value).__name__}")
    cleaned = [item for item in items if item]
    return cleaned or None


COERCERS: dict[str, Coercer] = {
    "text": _text,
    "number": _number,
    "currency": _number,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "foreign_key": _foreign_key,
    "multi_text": _multi_text,
}


def coercer_for(type_name: str) -> Coercer:
    """The coercion function of an attribute type; KeyError for an unknown type."""
    return COERCERS[type_name]


def describe_value(value: Any, limit: int = 80) -> str:
    """A short, safe rendering of a raw value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
