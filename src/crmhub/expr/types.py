"""The value types of hub attributes and expressions."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ValueType", "NUMERIC", "TEXTUAL", "TEMPORAL"]


class ValueType(StrEnum):
    """The type of an attribute or an expression's value (the store's attribute types use these names)."""

    text = "text"
    number = "number"
    currency = "currency"
    boolean = "boolean"
    date = "date"
    datetime = "datetime"
    foreign_key = "foreign_key"
    multi_text = "multi_text"


#: Types that compare and compute as numbers.
NUMERIC = frozenset({ValueType.number, ValueType.currency})
#: Types that compare as (case-insensitive) text.
TEXTUAL = frozenset({ValueType.text, ValueType.foreign_key})
#: Types that compare as points in time (a date is midnight UTC when compared with a datetime).
TEMPORAL = frozenset({ValueType.date, ValueType.datetime})
