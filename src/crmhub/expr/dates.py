"""Relative date ranges (``TODAY``, ``LAST_N_DAYS:30`` …) and calendar helpers.

A relative date literal is a half-open range of days ``[start, end)`` computed from today's date
in UTC, with the meanings of Salesforce's SOQL date literals (weeks start on Monday, ISO 8601).
Comparing a value with a range: ``=`` within it, ``!=`` outside it, ``<`` before its start,
``<=`` before its end, ``>`` at or after its end, ``>=`` at or after its start.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

__all__ = [
    "RELATIVE_NAMES",
    "RELATIVE_N_NAMES",
    "add_months",
    "day_start",
    "relative_range",
]

#: Relative date literals without a number.
RELATIVE_NAMES = frozenset(
    {
        "TODAY",
        "YESTERDAY",
        "TOMORROW",
        "THIS_WEEK",
        "LAST_WEEK",
        "NEXT_WEEK",
        "THIS_MONTH",
        "LAST_MONTH",
        "NEXT_MONTH",
        "THIS_QUARTER",
        "LAST_QUARTER",
        "NEXT_QUARTER",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
    }
)
#: Relative date literals that take ``:n``.
RELATIVE_N_NAMES = frozenset(
    {f"{d}_N_{u}" for d in ("LAST", "NEXT") for u in ("DAYS", "WEEKS", "MONTHS", "QUARTERS", "YEARS")}
    | {f"N_{u}_AGO" for u in ("DAYS", "WEEKS", "MONTHS", "QUARTERS", "YEARS")}
)

MAX_N = 100_000


def add_months(value: date, months: int) -> date:
    """``value`` moved by whole months, the day clamped to the target month's length."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise OverflowError("date out of range")
    day = min(value.day, _days_in_month(year, month))
    return date(year, month, day)


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def day_start(value: date) -> datetime:
    """Midnight UTC at the start of ``value``."""
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _unit_start(today: date, unit: str) -> date:
    if unit == "DAYS":
        return today
    if unit == "WEEKS":
        return today - timedelta(days=today.weekday())
    if unit == "MONTHS":
        return today.replace(day=1)
    if unit == "QUARTERS":
        return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return date(today.year, 1, 1)


def _shift(start: date, unit: str, count: int) -> date:
    if unit == "DAYS":
        return start + timedelta(days=count)
    if unit == "WEEKS":
        return start + timedelta(days=7 * count)
    if unit == "MONTHS":
        return add_months(start, count)
    if unit == "QUARTERS":
        return add_months(start, 3 * count)
    return add_months(start, 12 * count)


_SINGLE = {
    "TODAY": ("DAYS", 0),
    "YESTERDAY": ("DAYS", -1),
    "TOMORROW": ("DAYS", 1),
    "THIS_WEEK": ("WEEKS", 0),
    "LAST_WEEK": ("WEEKS", -1),
    "NEXT_WEEK": ("WEEKS", 1),
    "THIS_MONTH": ("MONTHS", 0),
    "LAST_MONTH": ("MONTHS", -1),
    "NEXT_MONTH": ("MONTHS", 1),
    "THIS_QUARTER": ("QUARTERS", 0),
    "LAST_QUARTER": ("QUARTERS", -1),
    "NEXT_QUARTER": ("QUARTERS", 1),
    "THIS_YEAR": ("YEARS", 0),
    "LAST_YEAR": ("YEARS", -1),
    "NEXT_YEAR": ("YEARS", 1),
}


def relative_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The half-open day range ``[start, end)`` of a relative date literal on ``today``."""
    if name in _SINGLE:
        unit, offset = _SINGLE[name]
        start = _shift(_unit_start(today, unit), unit, offset)
        return start, _shift(start, unit, 1)
    if name == "LAST_90_DAYS":
        name, n = "LAST_N_DAYS", 90
    elif name == "NEXT_90_DAYS":
        name, n = "NEXT_N_DAYS", 90
    if n is None:
        raise ValueError(f"{name} needs a number, e.g. {name}:7")
    if name.startswith("N_") and name.endswith("_AGO"):
        unit = name[2:-4]
        start = _shift(_unit_start(today, unit), unit, -n)
        return start, _shift(start, unit, 1)
    direction, _, unit = name.split("_", 2)
    if unit == "DAYS":
        # SOQL: LAST_N_DAYS:n includes today (n + 1 days); NEXT_N_DAYS:n starts tomorrow.
        if direction == "LAST":
            return today - timedelta(days=n), today + timedelta(days=1)
        return today + timedelta(days=1), today + timedelta(days=n + 1)
    current = _unit_start(today, unit)
    if direction == "LAST":
        return _shift(current, unit, -n), current
    following = _shift(current, unit, 1)
    return following, _shift(following, unit, n)
