"""The standard functions: each documented example holds; edge cases behave."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from crmhub.expr import FUNCTIONS, compile_python, parse

NOW = datetime(2024, 3, 15, 12, 30, tzinfo=UTC)


def run(text: str, record: dict[str, Any] | None = None) -> Any:
    return compile_python(parse(text), now=lambda: NOW)(record or {})


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_given_a_function_when_its_documented_example_runs_then_it_is_true(name: str) -> None:
    assert run(FUNCTIONS[name].example) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('UPPER("straße")', "STRASSE"),
        ("UPPER(NULL)", None),
        ('TRIM("\t a b \n")', "a b"),
        ('LEFT("abc", 10)', "abc"),
        ('LEFT("abc", -1)', ""),
        ('RIGHT("abc", 0)', ""),
        ('RIGHT("abc", 2)', "bc"),
        ('RIGHT("ab", 3)', "ab"),
        ('SUBSTR("abcdef", 0, 2)', "ab"),
        ('SUBSTR("abcdef", 3)', "cdef"),
        ('LEN("ünï")', 3),
        ('REPLACE("a-b-c", "-", "")', "abc"),
        ('REPLACE("abc", "", "x")', "abc"),
        ("CONCAT(NULL, NULL)", ""),
        ('CONCAT("n=", 42, " ", 1.5, " ", TRUE, " ", 2024-01-31)', "n=42 1.5 true 2024-01-31"),
        ('SPLIT("a; b;;c")', ["a", "b", "c"]),
        ('SPLIT("a,b", ",")', ["a", "b"]),
        ('JOIN(SPLIT("a;b"), ", ")', "a, b"),
        ('IF(NULL, "y", "n")', "n"),
        ('IF(1 = 1, "y")', "y"),
        ('IF(1 = 2, "y")', None),
        ('CASE("x", "a", 1, 2)', 2),
        ('CASE("x", "a", 1)', None),
        ("CASE(NULL, NULL, 1, 2)", 2),
        ("COALESCE(NULL, NULL)", None),
        ("ISBLANK(NULL)", True),
        ('ISBLANK(" ")', False),
        ('ISBLANK(SPLIT(";"))', True),
        ("ROUND(2.5)", 3),
        ("ROUND(-2.5)", -3),
        ("ROUND(1.005, 2)", 1.01),
        ("ROUND(1234.5, -2)", 1200),
        ("ABS(-2.5)", 2.5),
        ("MIN(NULL, NULL)", None),
        ("MAX(1, 2.5, NULL)", 2.5),
        ("MIN(2024-01-01T10:00:00Z, 2024-01-01)", datetime(2024, 1, 1, tzinfo=UTC)),
        ("DATE(2024, 2, 29)", date(2024, 2, 29)),
        ('DATE("2024-01-31")', date(2024, 1, 31)),
        ('DATE("31.01.2024", "DD.MM.YYYY")', date(2024, 1, 31)),
        ("DATE(2024-01-31T23:30:00-02:00)", date(2024, 2, 1)),
        ('DATETIME("2024-01-31T10:00:00+02:00")', datetime(2024, 1, 31, 8, tzinfo=UTC)),
        ("DATETIME(2024-01-31)", datetime(2024, 1, 31, tzinfo=UTC)),
        ("TODAY()", date(2024, 3, 15)),
        ("NOW()", NOW),
        ('DATEADD(2024-01-31, 1, "month")', date(2024, 2, 29)),
        ('DATEADD(2024-01-31, -1, "year")', date(2023, 1, 31)),
        ("DATEADD(2024-01-31, 7)", date(2024, 2, 7)),
        ('DATEADD(2024-01-31T10:00:00Z, 90, "minute")', datetime(2024, 1, 31, 11, 30, tzinfo=UTC)),
        ('DATEDIFF(2024-01-31, 2024-03-01, "month")', 1),
        ('DATEDIFF(2024-03-01, 2024-01-31, "month")', -1),
        ("DATEDIFF(2024-01-01, 2024-03-01)", 60),
        ('DATEDIFF(2024-01-01T00:00:00Z, 2024-01-01T05:59:00Z, "hour")', 5),
        ('DATEDIFF(2020-02-29, 2024-02-28, "year")', 3),
        ("YEAR(2024-12-31T23:00:00-05:00)", 2025),
        ('FORMAT_DATE(2024-01-05T13:07:00Z, "DD.MM.YYYY HH:mm")', "05.01.2024 13:07"),
        ('FORMAT_DATE(2024-01-05, "D MMM YYYY")', "5 Jan 2024"),
        ('FORMAT_DATE(2024-01-05T13:07:00Z, "hh:mm A")', "01:07 PM"),
        ('DOMAIN("https://www.Acme.com/x")', "acme.com"),
        ('DOMAIN("jane.doe@Sales.ACME.com")', "sales.acme.com"),
        ('DOMAIN("acme.com")', "acme.com"),
        ('DOMAIN("http://user:pw@www.acme.co.uk:8080/path?q=1#f")', "acme.co.uk"),
        ('DOMAIN("WWW.Example.org.")', "example.org"),
        ('DOMAIN("www.com")', "www.com"),
        ('DOMAIN("münchen.de")', "xn--mnchen-3ya.de"),
        ('DOMAIN("")', None),
        ("DOMAIN(NULL)", None),
    ],
)
def test_given_edge_cases_when_functions_run_then_results_are_defined(text: str, expected: Any) -> None:
    result = run(text)
    assert result == expected and type(result) is type(expected)


def test_given_a_function_call_when_its_argument_is_a_field_then_it_reads_the_record() -> None:
    assert run("UPPER(Name) = 'ACME'", {"Name": "acme"}) is True
    assert run("LEN(Name)", {"Name": None}) is None
