"""The type checker: every problem, with position and a suggestion, before anything runs."""

from __future__ import annotations

import pytest

from crmhub.expr import ExpressionTypeError, ValueType, check, fields, parse

T = ValueType
SCHEMA = {
    "Industry": T.text,
    "Name": T.text,
    "OwnerId": T.foreign_key,
    "Amount": T.currency,
    "Employees": T.number,
    "IsActive": T.boolean,
    "CloseDate": T.date,
    "CreatedDate": T.datetime,
    "Tags": T.multi_text,
    "Owner.Name": T.text,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Industry = "Banking"', T.boolean),
        ('CONCAT(Name, " ", Owner.Name)', T.text),
        ('IF(Industry = "Partner", "P", "C")', T.text),
        ("Amount * 2", T.currency),
        ("Amount / Amount", T.number),
        ("Employees + 1", T.number),
        ("CloseDate + 30", T.date),
        ("CloseDate - CloseDate", T.number),
        ("CreatedDate > CloseDate", T.boolean),
        ("CreatedDate = LAST_N_DAYS:30", T.boolean),
        ("TODAY() >= CloseDate", T.boolean),
        ("COALESCE(Amount, Employees, 0)", T.currency),
        ('SPLIT("a;b")', T.multi_text),
        ('Tags INCLUDES ("a", "b")', T.boolean),
        ("OwnerId = 'x' AND IsActive", T.boolean),
        ('DATEADD(CreatedDate, 2, "hour")', T.datetime),
        ("NULL", T.text),
        ("IF(IsActive, NULL, 1)", T.number),
    ],
)
def test_given_a_well_typed_expression_when_checked_then_its_type_is_returned(text: str, expected: T) -> None:
    assert check(parse(text), SCHEMA) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('Indsutry = "x"', "unknown field 'Indsutry'; did you mean 'Industry'?"),
        ('industry = "x"', "did you mean 'Industry'?"),
        ('Amount > "5"', "cannot compare currency with text (write numbers without quotes)"),
        ('CloseDate = "2024-01-01"', "write dates without quotes"),
        ('Tags = "a"', "multi-value"),
        ("Tags IN ('a')", "use INCLUDES"),
        ('Industry INCLUDES ("a")', "use = or IN"),
        ("IsActive > FALSE", "booleans have no order"),
        ("Industry + 1", "use & to join text"),
        ("LEFT(Name)", "LEFT takes 2 arguments, not 1"),
        ("CONCATT(Name)", "unknown function CONCATT; did you mean CONCAT?"),
        ("UPPER(Amount)", "UPPER: argument 1 must be text"),
        ('DATE("x", "QQ")', "has no date or time tokens"),
        ('DATEADD(CloseDate, 1, "hour")', "unit must be one of day, week, month, year"),
        ("Amount AND IsActive", "AND needs a condition"),
        ("LAST_N_DAYS:3", "is a date range"),
        ("Industry = TODAY", "compares with dates"),
        ("Name LIKE 5", "LIKE needs text"),
    ],
)
def test_given_a_bad_expression_when_checked_then_the_problem_is_named(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionTypeError) as info:
        check(parse(text), SCHEMA)
    assert fragment in str(info.value)


def test_given_several_problems_when_checked_then_each_is_listed_with_its_position() -> None:
    text = 'Indsutry = "x" AND\n  Amount > "5" AND LEFT(Name) = 1'
    with pytest.raises(ExpressionTypeError) as info:
        check(parse(text), SCHEMA)
    problems = info.value.problems
    assert [(p.line, p.column) for p in problems] == [(1, 1), (2, 3), (2, 20)]
    assert info.value.line == 1 and info.value.column == 1
    assert "^^^^^^^^" in problems[0].excerpt
    assert problems[2].excerpt.splitlines()[0].strip().startswith("Amount")


def test_given_an_expression_when_fields_are_listed_then_every_path_appears_once() -> None:
    expr = parse('CONCAT(FirstName, " ", LastName) = Owner.Name OR FirstName IS NULL')
    assert fields(expr) == {"FirstName", "LastName", "Owner.Name"}
