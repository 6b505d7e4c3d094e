"""Conversions from raw source values to canonical hub values, driven by a *source format*.

``compile_converter(type, format, field=...)`` compiles the format once and returns a function of
one raw value. Canonical results: text → ``str``; number and currency → ``int`` (when the source
has no fraction) or ``float``; boolean → ``bool``; date → ``datetime.date``; datetime → aware UTC
``datetime``; multi-value text → ``list[str]``; foreign key → ``str``. ``None`` and ``""`` become
``None``. A value that does not convert raises :class:`~crmhub.core.errors.ValueConversionError`
naming the value, the expected format and the field — never a silent NULL.

Numbers are floats rather than ``Decimal``: the hub stores JSON numbers, orjson and both databases
treat them as IEEE doubles, and a double holds every currency amount below 2**53 cents exactly
enough for comparisons and sums at 2 decimals.

Source formats:

* date / datetime: a pattern (``MM/DD/YYYY``, ``DD.MM.YYYY HH:mm``, ``YYYY-MM-DDTHH:mm:ssZ``),
  ``epoch_s``, ``epoch_ms`` or ``iso``; default ISO 8601 (any offset, normalised to UTC; a value
  without offset is UTC). A date read from a datetime text keeps the date as written.
* number / currency: a sample showing the separators — ``1,234.56`` (default), ``1.234,56``,
  ``1 234,56``, ``1'234.56``; a sample with one separator names the decimal one (``1234,56``).
  Currency values may carry a symbol or an ISO code (``$1,200.50``, ``EUR 99``, ``99 €``);
  ``(1,200.50)`` is negative.
* boolean: ``true/false`` style pairs (``yes/no``, ``1/0``, ``ja/nein`` …); default accepts
  true/false, yes/no, y/n, 1/0, t/f, on/off in any case.
* multi-value text: ``;`` (Salesforce/HubSpot, default), ``,``, ``|``, ``newline`` or ``json``;
  the default also reads JSON arrays. Items are trimmed; empty items are dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from crmhub.core.errors import ValueConversionError
from crmhub.core.values import INT_MAX, INT_MIN
from crmhub.expr.patterns import compile_pattern
from crmhub.expr.types import ValueType
from crmhub.expr.values import to_text

__all__ = ["Converter", "compile_converter"]

Converter = Callable[[Any], Any]

#: Distinct date texts a pattern date converter remembers.
_DATE_MEMO = 8192

_BOOL_DEFAULT_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_BOOL_DEFAULT_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
_CURRENCY_SYMBOLS = "$€£¥₹₩₽₺₪₫฿₴₦₱¢"
#: A currency marker: an ISO 4217 code, a symbol, or a prefixed dollar such as US$ or C$.
_CURRENCY_MARK = r"(?:[A-Z]{3}|[A-Z]{1,2}\$|[" + _CURRENCY_SYMBOLS + r"])"


def _fail(field: str, value: Any, expected: str, type_name: str) -> ValueConversionError:
    shown = repr(value) if not isinstance(value, str) else repr(value[:200])
    return ValueConversionError(
        f"field {field!r}: cannot convert {shown} to {type_name}; expected {expected}",
        hint="fix the source value or the mapping's source format",
        field=field,
        value=value if isinstance(value, str | int | float | bool) else repr(value)[:200],
        format=expected,
    )


def _empty(value: Any) -> bool:
    return value is None or value == ""


# Text and foreign keys ----------------------------------------------------------------------------


def _text_converter(field: str, type_name: str) -> Converter:
    def convert(value: Any) -> Any:
        if value.__class__ is str:
            return value if value else None
        if value is None:
            return None
        if isinstance(value, dict):
            raise _fail(field, value, "text, not an object", type_name)
        try:
            return to_text(value)
        except ValueConversionError:
            raise _fail(field, value, "text", type_name) from None

    return convert


def _fk_converter(field: str) -> Converter:
    def convert(value: Any) -> Any:
        if value.__class__ is str:
            text = value.strip()
            return text or None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _fail(field, value, "an id (text or whole number)", "foreign_key")
        return str(value)

    return convert


# Numbers ------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _separators(source_format: str | None) -> tuple[str, str]:
    """(thousands, decimal) separators from a sample such as ``1.234,56``."""
    if source_format is None or source_format.strip() == "":
        return ",", "."
    sample = source_format.strip()
    seps = [ch for ch in sample if not ch.isdigit() and ch not in "+-#"]
    if not seps:
        return "", "."
    decimal = seps[-1]
    thousands = next((ch for ch in seps if ch != decimal), "")
    if len(set(seps)) == 1 and len(seps) > 1:
        # "1,234,567": only grouping, no decimals
        return seps[0], "." if seps[0] != "." else ","
    if decimal in (" ", "'", "\u00a0", "\u202f"):
        raise ValueError(f"number format {source_format!r}: {decimal!r} cannot be the decimal separator")
    return thousands, decimal


def _number_parser(source_format: str | None, currency: bool) -> tuple[Callable[[str], int | float], str]:
    thousands, decimal = _separators(source_format)
    described = source_format or "1,234.56"
    group_chars = thousands + ("\u00a0\u202f" if thousands == " " else "")
    t_class = f"[{re.escape(group_chars)}]" if group_chars else None
    d = re.escape(decimal)
    # One regex validates and splits the common forms; grouping must be by threes ("1,5" ≠ 15);
    # currency values may carry one marker before or after the number ("$1,200.50", "EUR 99").
    whole = rf"\d{{1,3}}(?:{t_class}\d{{3}})+|\d+" if t_class else r"\d+"
    mark = _CURRENCY_MARK
    if currency:
        pattern = rf"\s*([+-]?)\s*(?:{mark}\s*)?([+-]?)({whole})(?:{d}(\d*))?(?:\s*{mark})?\s*"
    else:
        pattern = rf"\s*([+-]?)()({whole})(?:{d}(\d*))?\s*"
    match = re.compile(pattern, re.ASCII).fullmatch
    table = str.maketrans("", "", group_chars) if group_chars else None
    exponent = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)[eE][+-]?\d+\s*")

    group = thousands if len(group_chars) == 1 else ""
    symbols = frozenset(_CURRENCY_SYMBOLS)

    def simple(s: str) -> int | float | None:
        """Plain digits with optional grouping and decimals, else None (no regex, no exceptions)."""
        if s.isdigit():
            return int(s) if s.isascii() else None
        whole, dot, fraction = s.partition(decimal)
        if group and group in whole:
            parts = whole.split(group)
            if not 0 < len(parts[0]) <= 3:
                return None
            for part in parts[1:]:
                if len(part) != 3:
                    return None
            whole = whole.replace(group, "")
        if not whole and dot and fraction:
            whole = "0"
        if not (whole.isdigit() and whole.isascii()):
            return None
        if not dot:
            return int(whole)
        if fraction and not (fraction.isdigit() and fraction.isascii()):
            return None
        return float(f"{whole}.{fraction}") if fraction else float(whole)

    def slow(text: str) -> int | float:
        m = match(text)
        if m is None:
            s = text.strip()
            if s[:1] == "(" and s[-1:] == ")":
                return -slow(s[1:-1])
            if decimal == "." and not currency and exponent.fullmatch(s):
                return float(s)
            raise ValueError("not a number in this format")
        sign, sign2, digits, fraction = m.groups()
        if table is not None and not digits.isdigit():
            digits = digits.translate(table)
        if fraction is None:
            number: int | float = int(digits)
        else:
            number = float(f"{digits}.{fraction}") if fraction else float(digits)
        if sign == "-" or sign2 == "-":
            if sign and sign2:
                raise ValueError("two signs")
            return -number
        return number

    def parse(text: str) -> int | float:
        s = text
        negative = False
        head = s[:1]
        if head == "-" or head == "+":
            negative = head == "-"
            s = s[1:]
        if currency and s:
            if s[0] in symbols:
                s = s[1:]
            elif len(s) > 4 and s[3] == " " and s[:3].isupper() and s[:3].isalpha() and s[:3].isascii():
                s = s[4:]
            elif s[-1] in symbols:
                s = s[:-1].rstrip(" ")
            elif len(s) > 4 and s[-4] == " " and s[-3:].isupper() and s[-3:].isalpha() and s[-3:].isascii():
                s = s[:-4]
        number = simple(s)
        if number is None:
            return slow(text)
        return -number if negative else number

    return parse, described


def _number_converter(field: str, source_format: str | None, currency: bool) -> Converter:
    parse, described = _number_parser(source_format, currency)
    type_name = "currency" if currency else "number"
    expected = f"a {'currency amount' if currency else 'number'} like {described}"
    whole_range = f"a whole number between {INT_MIN} and {INT_MAX} (a larger one cannot be stored exactly)"

    def convert(value: Any) -> Any:
        cls = value.__class__
        if cls is str:
            if not value:
                return None
            try:
                number = parse(value)
            except ValueError:
                raise _fail(field, value, expected, type_name) from None
            if number.__class__ is int and not INT_MIN <= number <= INT_MAX:
                raise _fail(field, value, whole_range, type_name)
            return number
        if cls is int:
            if not INT_MIN <= value <= INT_MAX:
                raise _fail(field, value, whole_range, type_name)
            return value
        if cls is float:
            if value != value or value in (float("inf"), float("-inf")):
                raise _fail(field, value, expected, type_name)
            return value
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _fail(field, value, expected, type_name)
        return convert(str(value) if isinstance(value, str) else value.__float__())

    return convert


# Booleans -----------------------------------------------------------------------------------------


def _bool_converter(field: str, source_format: str | None) -> Converter:
    if source_format:
        parts = re.split(r"\s*[/|]\s*", source_format.strip())
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"boolean format {source_format!r} must look like yes/no")
        true_words = frozenset({parts[0].lower()})
        false_words = frozenset({parts[1].lower()})
        expected = f"{parts[0]} or {parts[1]}"
    else:
        true_words, false_words = _BOOL_DEFAULT_TRUE, _BOOL_DEFAULT_FALSE
        expected = "true/false, yes/no or 1/0"
    ints = (
        {1: True, 0: False}
        if source_format is None or source_format.replace(" ", "") in ("1/0", "1|0")
        else {}
    )

    def convert(value: Any) -> Any:
        if value is True or value is False or value is None:
            return value
        if value.__class__ is str:
            low = value.strip().lower()
            if low in true_words:
                return True
            if low in false_words:
                return False
            if low == "":
                return None
        elif isinstance(value, int | float) and value in ints:
            return ints[int(value)]
        raise _fail(field, value, expected, "boolean")

    return convert


# Dates and datetimes ------------------------------------------------------------------------------


def _date_converter(field: str, source_format: str | None) -> Converter:
    if source_format is None or source_format == "iso":
        expected = "an ISO date such as 2024-01-31"
        from_iso = date.fromisoformat
        from_iso_dt = datetime.fromisoformat

        def convert_iso(value: Any) -> Any:
            if value.__class__ is str:
                if len(value) == 10:
                    try:
                        return from_iso(value)
                    except ValueError:
                        pass
                if value == "":
                    return None
                try:
                    return from_iso_dt(value.strip()).date()
                except ValueError:
                    raise _fail(field, value, expected, "date") from None
            return _date_from_object(field, value, expected)

        return convert_iso
    pattern = compile_pattern(source_format)
    parse = pattern.parse_date
    expected = f"a date like {source_format}"
    # Date texts repeat a lot (a decade has ~3,650 days): remember recent ones per converter.
    memo: dict[str, date] = {}
    memo_get = memo.get

    def convert(value: Any) -> Any:
        if value.__class__ is str:
            known = memo_get(value)
            if known is not None:
                return known
            if value == "":
                return None
            try:
                parsed = parse(value)
            except (ValueError, OverflowError):
                raise _fail(field, value, expected, "date") from None
            if len(memo) >= _DATE_MEMO:
                memo.clear()
            memo[value] = parsed
            return parsed
        if (
            source_format in ("epoch_s", "epoch_ms")
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return convert(str(value))
        return _date_from_object(field, value, expected)

    return convert


def _date_from_object(field: str, value: Any, expected: str) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    raise _fail(field, value, expected, "date")


def _datetime_converter(field: str, source_format: str | None) -> Converter:
    if source_format is None or source_format == "iso":
        expected = "an ISO 8601 datetime such as 2024-01-31T10:00:00Z"
        from_iso = datetime.fromisoformat

        def convert_iso(value: Any) -> Any:
            if value.__class__ is str:
                if value == "":
                    return None
                try:
                    parsed = from_iso(value)
                except ValueError:
                    try:
                        parsed = from_iso(value.strip())
                    except ValueError:
                        raise _fail(field, value, expected, "datetime") from None
                tz = parsed.tzinfo
                if tz is None:
                    return parsed.replace(tzinfo=UTC)
                return parsed if tz is UTC else parsed.astimezone(UTC)
            return _datetime_from_object(field, value, expected)

        return convert_iso
    pattern = compile_pattern(source_format)
    parse = pattern.parse_datetime
    expected = f"a datetime like {source_format}"
    epoch = source_format in ("epoch_s", "epoch_ms")

    def convert(value: Any) -> Any:
        if value.__class__ is str:
            if value == "":
                return None
            try:
                return parse(value)
            except (ValueError, OverflowError, OSError):
                raise _fail(field, value, expected, "datetime") from None
        if epoch and isinstance(value, int | float) and not isinstance(value, bool):
            return convert(repr(value))
        return _datetime_from_object(field, value, expected)

    return convert


def _datetime_from_object(field: str, value: Any, expected: str) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise _fail(field, value, expected, "datetime")


# Multi-value text ---------------------------------------------------------------------------------

_MULTI_SEPARATORS = {
    None: ";",
    ";": ";",
    "semicolon": ";",
    ",": ",",
    "comma": ",",
    "|": "|",
    "pipe": "|",
    "newline": "\n",
    "json": None,
}


def _multi_converter(field: str, source_format: str | None) -> Converter:
    if source_format not in _MULTI_SEPARATORS:
        raise ValueError(
            f"multi-value format {source_format!r} must be one of ';', ',', '|', 'newline' or 'json'"
        )
    sep = _MULTI_SEPARATORS[source_format]
    json_only = source_format == "json"
    expected = "a JSON array of strings" if json_only else f"values separated by {sep!r}"

    def from_json(value: str) -> list[str] | None:
        try:
            items = json.loads(value)
        except ValueError:
            raise _fail(field, value, expected if json_only else "a JSON array", "multi_text") from None
        if not isinstance(items, list):
            raise _fail(field, value, "a JSON array", "multi_text")
        return from_list(items, value)

    def from_list(items: list[Any] | tuple[Any, ...], original: Any) -> list[str] | None:
        out: list[str] = []
        for item in items:
            if item is None:
                continue
            if isinstance(item, dict | list):
                raise _fail(field, original, "a list of plain values", "multi_text")
            text = to_text(item)
            if text is not None and text.strip():
                out.append(text.strip())
        return out or None

    def convert(value: Any) -> Any:
        if value.__class__ is str:
            s = value.strip()
            if not s:
                return None
            if json_only or (source_format is None and s[0] == "["):
                return from_json(s)
            assert sep is not None
            items = s.split(sep)
            if " " in s or "\t" in s:
                items = [part.strip() for part in items]
            if "" in items:
                items = [part for part in items if part]
            return items or None
        if value is None:
            return None
        if isinstance(value, list | tuple):
            return from_list(value, value)
        raise _fail(field, value, expected, "multi_text")

    return convert


def compile_converter(value_type: ValueType, source_format: str | None, *, field: str) -> Converter:
    """A function turning one raw source value into the canonical value of ``value_type``.

    Raises:
        ValueError: the source format itself is not usable (say so to the user when they save it).
    """
    value_type = ValueType(value_type)
    fmt = source_format if source_format not in ("", None) else None
    if value_type == ValueType.text:
        return _text_converter(field, "text")
    if value_type == ValueType.foreign_key:
        return _fk_converter(field)
    if value_type in (ValueType.number, ValueType.currency):
        return _number_converter(field, fmt, value_type == ValueType.currency)
    if value_type == ValueType.boolean:
        return _bool_converter(field, fmt)
    if value_type == ValueType.date:
        return _date_converter(field, fmt)
    if value_type == ValueType.datetime:
        return _datetime_converter(field, fmt)
    return _multi_converter(field, fmt)
