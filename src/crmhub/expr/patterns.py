"""Date and datetime patterns in the tokens users know (``MM/DD/YYYY``, ``DD.MM.YYYY HH:mm``…).

A pattern is compiled once into a parser (and a formatter) and cached; parsing a value is then one
regular-expression match and a few ``int()`` calls — no per-value ``strptime``.

Tokens: ``YYYY`` ``YY`` (pivot: 00–69 → 2000s, 70–99 → 1900s), ``M`` ``MM`` ``MMM`` (Jan)
``MMMM`` (January), ``D`` ``DD``, ``H`` ``HH`` (24 h), ``h`` ``hh`` (12 h) with ``A``/``a``
(AM/PM), ``m`` ``mm``, ``s`` ``ss``, ``S``…``SSSSSSSSS`` (fraction of a second), ``Z`` (``+01:00``
or ``Z``) and ``ZZ`` (``+0100`` or ``Z``). Anything else is literal text; wrap letters in
``[…]`` to keep them literal (``[at]``). When parsing, two-digit fields followed by a separator
also accept one digit (``1/5/2024`` matches ``MM/DD/YYYY``).

Whole-value formats: ``epoch_s`` and ``epoch_ms`` (seconds / milliseconds since 1970-01-01 UTC) and
``iso`` (ISO 8601; offsets normalised to UTC).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

__all__ = ["DatePattern", "compile_pattern", "SPECIAL_FORMATS"]

SPECIAL_FORMATS = frozenset({"epoch_s", "epoch_ms", "iso"})

_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_MONTH_BY_NAME = {name: i + 1 for i, name in enumerate(_MONTHS)} | {
    name[:3]: i + 1 for i, name in enumerate(_MONTHS)
}
_MONTH_BY_NAME["sept"] = 9

# Longest first, so "YYYY" wins over "YY" and "MMMM" over "MM".
_TOKENS = sorted(
    ["YYYY", "YY", "MMMM", "MMM", "MM", "M", "DD", "D", "HH", "H", "hh", "h", "mm", "m", "ss", "s", "A", "a"]
    + ["S" * n for n in range(1, 10)]
    + ["ZZ", "Z"],
    key=len,
    reverse=True,
)
_TWO_DIGIT = {"MM", "DD", "HH", "hh", "mm", "ss"}
_ONE_OR_TWO = {"M", "D", "H", "h", "m", "s"}


def _tokenize(pattern: str) -> list[tuple[str, str]]:
    """Split a pattern into ("tok", token) and ("lit", text) parts."""
    parts: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            close = pattern.find("]", i + 1)
            if close < 0:
                raise ValueError(f"unclosed '[' at position {i + 1} in date pattern {pattern!r}")
            parts.append(("lit", pattern[i + 1 : close]))
            i = close + 1
            continue
        for tok in _TOKENS:
            if pattern.startswith(tok, i):
                parts.append(("tok", tok))
                i += len(tok)
                break
        else:
            parts.append(("lit", pattern[i]))
            i += 1
    return parts


@dataclass(frozen=True, slots=True)
class DatePattern:
    """A compiled date/datetime pattern: ``parse_*`` read text, ``format`` writes it."""

    pattern: str
    has_time: bool
    has_date: bool
    #: Text → aware UTC datetime (a value without a zone is taken to be UTC).
    parse_datetime: Callable[[str], datetime]
    #: Text → the date as written (before any offset is applied).
    parse_date: Callable[[str], date]
    format: Callable[[date | datetime], str]


def _from_local(
    parse_local: Callable[[str], datetime],
) -> tuple[Callable[[str], datetime], Callable[[str], date]]:
    def parse_datetime(text: str) -> datetime:
        value = parse_local(text)
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    def parse_date(text: str) -> date:
        return parse_local(text).date()

    return parse_datetime, parse_date


def _offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4] or "0")
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad UTC offset {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _parse_iso_local(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _format_iso(value: date | datetime) -> str:
    if isinstance(value, datetime):
        from crmhub.expr.ast import format_datetime

        return format_datetime(value)
    return value.isoformat()


def _parse_epoch(scale: int) -> Callable[[str], datetime]:  # already UTC
    def parse(text: str) -> datetime:
        text = text.strip()
        number = int(text) if text.lstrip("-").isdigit() else float(text)
        return datetime.fromtimestamp(number / scale, UTC)

    return parse


def _format_epoch(scale: int) -> Callable[[date | datetime], str]:
    def fmt(value: date | datetime) -> str:
        if not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day, tzinfo=UTC)
        seconds = value.timestamp()
        return str(round(seconds * scale)) if scale > 1 else str(int(seconds))

    return fmt


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> DatePattern:
    """Compile ``pattern`` once (cached); raises ValueError for a pattern that is not usable."""
    if pattern == "iso" or pattern.upper() == "ISO8601":
        return DatePattern(pattern, True, True, *_from_local(_parse_iso_local), _format_iso)
    if pattern in ("epoch_s", "epoch_ms"):
        scale = 1 if pattern == "epoch_s" else 1000
        parse_utc = _parse_epoch(scale)
        return DatePattern(pattern, True, True, *_from_local(parse_utc), _format_epoch(scale))
    parts = _tokenize(pattern)
    tokens = [t for kind, t in parts if kind == "tok"]
    if not tokens:
        raise ValueError(f"date pattern {pattern!r} has no date or time tokens (e.g. YYYY, MM, DD)")
    seen: set[str] = set()
    for tok in tokens:
        family = tok[0].upper() if tok[0] in "Hh" else tok[0]
        if family in seen:
            raise ValueError(f"date pattern {pattern!r} uses {family!r} twice")
        seen.add(family)
    has_date = bool(seen & {"Y", "M", "D"})
    has_time = bool(seen & {"H", "m", "s", "S"})
    if has_date and not {"Y", "M", "D"} <= seen:
        raise ValueError(f"date pattern {pattern!r} needs a year, a month and a day (YYYY, MM, DD)")
    if ("h" in {t[0] for t in tokens}) != ("A" in seen or "a" in seen):
        raise ValueError(f"date pattern {pattern!r}: 12-hour 'hh' needs 'A' (AM/PM), and 'A' needs 'hh'")
    parse_datetime, parse_date = _build_parser(pattern, parts)
    return DatePattern(pattern, has_time, has_date, parse_datetime, parse_date, _build_formatter(parts))


def _build_parser(
    pattern: str, parts: list[tuple[str, str]]
) -> tuple[Callable[[str], datetime], Callable[[str], date]]:
    regex: list[str] = []
    roles: list[str] = []
    for index, (kind, tok) in enumerate(parts):
        if kind == "lit":
            regex.append(r"\s+" if tok == " " else re.escape(tok))
            continue
        following = parts[index + 1] if index + 1 < len(parts) else None
        lenient = following is None or following[0] == "lit"
        if tok == "YYYY":
            regex.append(r"(\d{4})")
        elif tok == "YY":
            regex.append(r"(\d{2})")
        elif tok in ("MMMM", "MMM"):
            regex.append(r"([A-Za-z]{3,9}\.?)")
        elif tok in _TWO_DIGIT:
            regex.append(r"(\d{1,2})" if lenient else r"(\d{2})")
        elif tok in _ONE_OR_TWO:
            regex.append(r"(\d{1,2})")
        elif tok[0] == "S":
            regex.append(rf"(\d{{{len(tok)}}})" if not lenient else r"(\d{1,9})")
        elif tok in ("A", "a"):
            regex.append(r"([AaPp]\.?[Mm]\.?)")
        else:  # Z, ZZ
            regex.append(r"(Z|z|[+-]\d{2}(?::?\d{2})?)")
        roles.append(tok)
    compiled = re.compile("".join(regex))
    match = compiled.fullmatch
    year_i = _index(roles, "YYYY", "YY")
    month_i = _index(roles, "MM", "M")
    month_name_i = _index(roles, "MMMM", "MMM")
    day_i = _index(roles, "DD", "D")
    hour_i = _index(roles, "HH", "H")
    hour12_i = _index(roles, "hh", "h")
    ampm_i = _index(roles, "A", "a")
    minute_i = _index(roles, "mm", "m")
    second_i = _index(roles, "ss", "s")
    frac_i = next((i for i, r in enumerate(roles) if r[0] == "S"), -1)
    zone_i = _index(roles, "ZZ", "Z")
    two_digit_year = year_i >= 0 and roles[year_i] == "YY"

    # Fast path for the most common shape: numeric year, month, day (in any order), maybe
    # hours/minutes/seconds, no names, no 12-hour clock, no zone.
    simple = month_name_i < 0 and hour12_i < 0 and zone_i < 0 and frac_i < 0 and not two_digit_year
    if simple and year_i >= 0 and hour_i < 0 and minute_i < 0 and second_i < 0:
        yi, mi, di = year_i + 1, month_i + 1, day_i + 1

        def fast_date(text: str) -> date:
            m = match(text) or match(text.strip())
            if m is None:
                raise ValueError(f"does not match {pattern!r}")
            return date(int(m[yi]), int(m[mi]), int(m[di]))

        def fast_datetime(text: str) -> datetime:
            d = fast_date(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)

        return fast_datetime, fast_date

    def parse_local(text: str) -> datetime:
        m = match(text)
        if m is None:
            m = match(text.strip())
            if m is None:
                raise ValueError(f"does not match {pattern!r}")
        groups = m.groups()
        if year_i >= 0:
            year = int(groups[year_i])
            if two_digit_year:
                year += 2000 if year < 70 else 1900
            if month_i >= 0:
                month = int(groups[month_i])
            else:
                name = groups[month_name_i].rstrip(".").lower()
                if name not in _MONTH_BY_NAME:
                    raise ValueError(f"unknown month name {groups[month_name_i]!r}")
                month = _MONTH_BY_NAME[name]
            day = int(groups[day_i])
        else:
            year, month, day = 1970, 1, 1
        hour = int(groups[hour_i]) if hour_i >= 0 else 0
        if hour12_i >= 0:
            hour = int(groups[hour12_i])
            if not 1 <= hour <= 12:
                raise ValueError("12-hour clock hour must be 1–12")
            pm = groups[ampm_i][0] in "Pp"
            hour = (hour % 12) + (12 if pm else 0)
        minute = int(groups[minute_i]) if minute_i >= 0 else 0
        second = int(groups[second_i]) if second_i >= 0 else 0
        micro = int(groups[frac_i][:6].ljust(6, "0")) if frac_i >= 0 else 0
        tz = _offset(groups[zone_i]) if zone_i >= 0 else UTC
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)

    return _from_local(parse_local)


def _index(roles: list[str], *names: str) -> int:
    for name in names:
        if name in roles:
            return roles.index(name)
    return -1


def _build_formatter(parts: list[tuple[str, str]]) -> Callable[[date | datetime], str]:
    def fmt(value: date | datetime) -> str:
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            hour, minute, second, micro = value.hour, value.minute, value.second, value.microsecond
        else:
            hour = minute = second = micro = 0
        out: list[str] = []
        for kind, tok in parts:
            if kind == "lit":
                out.append(tok)
            elif tok == "YYYY":
                out.append(f"{value.year:04d}")
            elif tok == "YY":
                out.append(f"{value.year % 100:02d}")
            elif tok == "MMMM":
                out.append(_MONTHS[value.month - 1].capitalize())
            elif tok == "MMM":
                out.append(_MONTHS[value.month - 1][:3].capitalize())
            elif tok == "MM":
                out.append(f"{value.month:02d}")
            elif tok == "M":
                out.append(str(value.month))
            elif tok == "DD":
                out.append(f"{value.day:02d}")
            elif tok == "D":
                out.append(str(value.day))
            elif tok == "HH":
                out.append(f"{hour:02d}")
            elif tok == "H":
                out.append(str(hour))
            elif tok in ("hh", "h"):
                h12 = hour % 12 or 12
                out.append(f"{h12:02d}" if tok == "hh" else str(h12))
            elif tok in ("A", "a"):
                out.append(("PM" if hour >= 12 else "AM") if tok == "A" else ("pm" if hour >= 12 else "am"))
            elif tok == "mm":
                out.append(f"{minute:02d}")
            elif tok == "m":
                out.append(str(minute))
            elif tok == "ss":
                out.append(f"{second:02d}")
            elif tok == "s":
                out.append(str(second))
            elif tok[0] == "S":
                out.append(f"{micro:06d}".ljust(9, "0")[: len(tok)])
            elif tok == "Z":
                out.append("+00:00")
            else:  # ZZ
                out.append("+0000")
        return "".join(out)

    return fmt
