"""The Python compiler: one semantics — case-insensitive text, three-valued NULL, dates as dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from crmhub.core.errors import SkippableError, ValueConversionError
from crmhub.expr import ExpressionEvaluationError, compile_python, parse

NOW = datetime(2024, 3, 15, 12, 30, tzinfo=UTC)


def run(text: str, record: dict[str, Any] | None = None) -> Any:
    return compile_python(parse(text), now=lambda: NOW)(record or {})


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        # the examples
        (
            'AccountType__c = "customer" AND AccountStatus__c IN ("Active","Disabled")',
            {"AccountType__c": "CUSTOMER", "AccountStatus__c": "disabled"},
            True,
        ),
        ('CONCAT(FirstName, " ", LastName)', {"FirstName": "Jane", "LastName": "Doe"}, "Jane Doe"),
        ('IF(Type = "Partner", "P", "C")', {"Type": "partner"}, "P"),
        ('IF(Type = "Partner", "P", "C")', {}, "C"),
        # case-insensitive text
        ('Name = "ACME"', {"Name": "acme"}, True),
        ('Name != "ACME"', {"Name": "Acme"}, False),
        ('Name LIKE "ac%"', {"Name": "ACME Corp"}, True),
        ('Name LIKE "a_me"', {"Name": "ACME"}, True),
        ('Name LIKE "a_me"', {"Name": "ACMME"}, False),
        ('Name LIKE "50\\%"', {"Name": "50%"}, True),
        ('Name LIKE "50\\%"', {"Name": "500"}, False),
        ('Name LIKE "%\\_%"', {"Name": "a_b"}, True),
        ('Name LIKE "%\\_%"', {"Name": "ab"}, False),
        ('Name LIKE "%"', {"Name": ""}, True),
        ('Name LIKE "line%"', {"Name": "line\nbreak"}, True),
        ('Name IN ("ÄRZTE")', {"Name": "ärzte"}, True),
        ('Tags INCLUDES ("VIP")', {"Tags": ["vip", "smb"]}, True),
        ('Tags EXCLUDES ("VIP")', {"Tags": ["vip"]}, False),
        ('Tags EXCLUDES ("x")', {"Tags": []}, True),
        # three-valued logic
        ('Industry != "Banking"', {"Industry": None}, None),
        ('Industry != "Banking"', {}, None),
        ("NOT (x = NULL)", {"x": 1}, None),
        ("x = NULL", {"x": None}, None),
        ("x IS NULL", {"x": None}, True),
        ("x IS NULL", {}, True),
        ("x IS NOT NULL", {"x": 0}, True),
        ("a = 1 AND b = 1", {"a": 1}, None),
        ("a = 1 AND b = 1", {"a": 2}, False),
        ("a = 1 OR b = 1", {"a": 1}, True),
        ("a = 1 OR b = 1", {"a": 2}, None),
        ("NOT (a = 1 OR b = 1)", {"a": 2}, None),
        ('x IN ("a", NULL)', {"x": "a"}, True),
        ('x IN ("a", NULL)', {"x": "b"}, None),
        ('x NOT IN ("a", NULL)', {"x": "b"}, None),
        ('x NOT IN ("a", NULL)', {"x": "a"}, False),
        ("x IN ()", {"x": None}, False),
        ("x NOT IN ()", {"x": None}, True),
        ('Tags INCLUDES ("a")', {}, None),
        ("IsActive AND NOT IsDeleted", {"IsActive": True, "IsDeleted": False}, True),
        ("IsActive AND TRUE", {"IsActive": "true"}, True),
        ("IsActive = TRUE", {"IsActive": "TRUE"}, True),
        # numbers and raw source values
        ("Amount > 1000", {"Amount": 1000.5}, True),
        ("Amount > 1000", {"Amount": "1500"}, True),
        ("Amount = 1", {"Amount": 1.0}, True),
        ("a / b", {"a": 1, "b": 0}, None),
        ("a / b", {"a": 1, "b": 4}, 0.25),
        ("a + b * 2", {"a": 1, "b": 2}, 5),
        ("-a", {"a": 3}, -3),
        ('a & "-" & b', {"a": "x"}, "x-"),
        # dates compare as dates; datetimes in UTC
        ("CloseDate > 2024-01-31", {"CloseDate": date(2024, 2, 1)}, True),
        ("CloseDate > 2024-01-31", {"CloseDate": "2024-02-01"}, True),
        ("Created = 2024-01-31T10:00:00+02:00", {"Created": datetime(2024, 1, 31, 8, tzinfo=UTC)}, True),
        ("Created >= 2024-01-31", {"Created": datetime(2024, 1, 30, 23, 59, tzinfo=UTC)}, False),
        ("Created >= 2024-01-31", {"Created": "2024-01-31T00:00:00Z"}, True),
        ("CloseDate = TODAY", {"CloseDate": date(2024, 3, 15)}, True),
        ("CloseDate = YESTERDAY", {"CloseDate": date(2024, 3, 14)}, True),
        ("CloseDate = LAST_N_DAYS:30", {"CloseDate": date(2024, 2, 14)}, True),
        ("CloseDate = LAST_N_DAYS:30", {"CloseDate": date(2024, 2, 13)}, False),
        ("CloseDate = LAST_N_DAYS:30", {"CloseDate": date(2024, 3, 16)}, False),
        ("CloseDate = NEXT_N_DAYS:7", {"CloseDate": date(2024, 3, 15)}, False),
        ("CloseDate = NEXT_N_DAYS:7", {"CloseDate": date(2024, 3, 22)}, True),
        ("CloseDate < THIS_MONTH", {"CloseDate": date(2024, 2, 29)}, True),
        ("CloseDate > THIS_MONTH", {"CloseDate": date(2024, 4, 1)}, True),
        ("CloseDate <= THIS_MONTH", {"CloseDate": date(2024, 3, 31)}, True),
        ("CloseDate != THIS_MONTH", {"CloseDate": date(2024, 3, 31)}, False),
        ("THIS_MONTH >= CloseDate", {"CloseDate": date(2024, 3, 31)}, True),
        ("Created = THIS_WEEK", {"Created": datetime(2024, 3, 11, 0, 0, tzinfo=UTC)}, True),
        ("Created = THIS_WEEK", {"Created": datetime(2024, 3, 10, 23, 59, tzinfo=UTC)}, False),
        ("CloseDate = LAST_QUARTER", {"CloseDate": date(2023, 12, 31)}, True),
        ("CloseDate = N_DAYS_AGO:3", {"CloseDate": date(2024, 3, 12)}, True),
        ("CloseDate = LAST_N_MONTHS:2", {"CloseDate": date(2024, 1, 1)}, True),
        ("CloseDate = LAST_N_MONTHS:2", {"CloseDate": date(2024, 3, 1)}, False),
        ("CloseDate = TODAY", {}, None),
        # dot paths: literal key first, then nested mappings
        ('Owner.Name = "jane"', {"Owner.Name": "Jane"}, True),
        ('Owner.Name = "jane"', {"Owner": {"Name": "Jane"}}, True),
        ('Account.Owner.Email LIKE "%@x.com"', {"Account": {"Owner": {"Email": "a@X.com"}}}, True),
        ("Owner.Name IS NULL", {"Owner": None}, True),
        ("Owner.Name IS NULL", {"Owner": "not a mapping"}, True),
    ],
)
def test_given_a_record_when_evaluated_then_the_result_follows_the_semantics(
    text: str, record: dict[str, Any], expected: Any
) -> None:
    result = run(text, record)
    assert result == expected and type(result) is type(expected)


def test_given_constant_subexpressions_when_compiled_then_they_are_folded() -> None:
    evaluate = compile_python(parse('UPPER("abc") = "ABC" AND 1 + 1 = 2'))
    assert evaluate({}) is True


def test_given_now_when_today_is_used_then_the_clock_is_read_at_evaluation_time() -> None:
    moments = iter([datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)])
    evaluate = compile_python(parse("d = TODAY"), now=lambda: next(moments))
    assert evaluate({"d": date(2024, 1, 1)}) is True
    assert evaluate({"d": date(2024, 1, 1)}) is False


@pytest.mark.parametrize(
    ("text", "record"),
    [
        ("Amount > 5", {"Amount": "lots"}),
        ("Created > 2024-01-01", {"Created": "someday"}),
        ("IsActive AND TRUE", {"IsActive": "maybe"}),
        ("a + 1", {"a": {"nested": 1}}),
    ],
)
def test_given_a_value_that_does_not_fit_when_evaluated_then_a_skippable_error_names_it(
    text: str, record: dict[str, Any]
) -> None:
    with pytest.raises(SkippableError) as info:
        run(text, record)
    assert isinstance(info.value, ValueConversionError | ExpressionEvaluationError)
