"""Grammar and parser: literals, precedence, case-insensitive keywords, errors with positions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given

from crmhub.core.errors import ExpressionError, FatalError
from crmhub.expr import ExpressionLimitError, ExpressionSyntaxError, parse, unparse
from crmhub.expr import ast as A
from crmhub.expr.parser import MAX_DEPTH, MAX_LENGTH

from .strategies import EXPR_SETTINGS, sql_filters


def lit(v: object) -> A.Literal:
    return A.Literal(v)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"double"', "double"),
        ("'single'", "single"),
        (r'"quote \" inside"', 'quote " inside'),
        (r"'it\'s'", "it's"),
        (r'"back\\slash"', "back\\slash"),
        (r'"tab\tnew\nline"', "tab\tnew\nline"),
        (r'"\u00e9t\u00E9"', "été"),
        ('"ünïcödé ✓"', "ünïcödé ✓"),
        (r'"50\%"', "50\\%"),
        ("42", 42),
        ("4.25", 4.25),
        ("1e3", 1000.0),
        ("-7", -7),
        ("TRUE", True),
        ("false", False),
        ("Null", None),
        ("2024-01-31", date(2024, 1, 31)),
        ("2024-01-31T10:00:00Z", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31T10:00:00+02:00", datetime(2024, 1, 31, 8, tzinfo=UTC)),
        ("2024-01-31T10:00:00.250-0500", datetime(2024, 1, 31, 15, 0, 0, 250000, tzinfo=UTC)),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_given_a_literal_when_parsed_then_its_value_is_exact(text: str, value: object) -> None:
    node = parse(text)
    assert isinstance(node, A.Literal)
    assert node.value == value and type(node.value) is type(value)


def test_given_dotted_and_quoted_field_paths_when_parsed_then_they_are_fields() -> None:
    assert parse("Account.Owner.Email") == A.Field("Account.Owner.Email")
    assert parse("`Annual Revenue`") == A.Field("Annual Revenue")
    assert parse("AccountType__c") == A.Field("AccountType__c")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a OR b AND c", A.Or((A.Field("a"), A.And((A.Field("b"), A.Field("c")))))),
        ("NOT a = 1 AND b", A.And((A.Not(A.Compare("=", A.Field("a"), lit(1))), A.Field("b")))),
        ("a + b * c", A.Arith("+", A.Field("a"), A.Arith("*", A.Field("b"), A.Field("c")))),
        ("(a + b) * c", A.Arith("*", A.Arith("+", A.Field("a"), A.Field("b")), A.Field("c"))),
        ("a - b - c", A.Arith("-", A.Arith("-", A.Field("a"), A.Field("b")), A.Field("c"))),
        ("a & b = 'x'", A.Compare("=", A.Arith("&", A.Field("a"), A.Field("b")), lit("x"))),
        ("a <> 1", A.Compare("!=", A.Field("a"), lit(1))),
        ("a == 1", A.Compare("=", A.Field("a"), lit(1))),
        ("a OR b OR c", A.Or((A.Field("a"), A.Field("b"), A.Field("c")))),
        ("x NOT IN ()", A.In(A.Field("x"), (), True)),
        ("x in (1, 2,)", A.In(A.Field("x"), (lit(1), lit(2)))),
        ("x IS NOT NULL", A.IsNull(A.Field("x"), True)),
        ("x not like 'a%'", A.Like(A.Field("x"), lit("a%"), True)),
        ("t EXCLUDES ('a')", A.Includes(A.Field("t"), (lit("a"),), True)),
        ("d = LAST_N_DAYS : 30", A.Compare("=", A.Field("d"), A.RelativeDate("LAST_N_DAYS", 30))),
        ("d < this_month", A.Compare("<", A.Field("d"), A.RelativeDate("THIS_MONTH"))),
        ("today() > d", A.Compare(">", A.Call("TODAY", ()), A.Field("d"))),
        ("concat(a, ' ', b)", A.Call("CONCAT", (A.Field("a"), lit(" "), A.Field("b")))),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_given_operators_when_parsed_then_sql_precedence_applies(text: str, expected: A.Expr) -> None:
    assert parse(text) == expected


def test_given_keywords_in_any_case_when_parsed_then_they_are_the_same() -> None:
    assert parse("a = 1 and b in (2) Or not c is null") == parse("a = 1 AND b IN (2) OR NOT c IS NULL")


def test_given_deeply_nested_parentheses_within_the_limit_when_parsed_then_they_vanish() -> None:
    depth = MAX_DEPTH - 1
    assert parse("(" * depth + "x = 1" + ")" * depth) == parse("x = 1")


@given(sql_filters)
@EXPR_SETTINGS
def test_given_any_expression_when_unparsed_then_it_parses_back_to_the_same_tree(expr: A.Expr) -> None:
    first = parse(unparse(expr))
    text = unparse(first)
    assert parse(text) == first
    assert unparse(parse(text)) == text


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("a = ", 1, 5, "ends too early"),
        ('a = "open', 1, 5, "unterminated string"),
        ("a = b = c", 1, 7, "unexpected '='"),
        ("x IN (1,", 1, 9, "ends too early"),
        ("a AND\n  b = = 2", 2, 7, "unexpected '='"),
        ("2024-13-01 = d", 1, 1, "not a valid date"),
        ("d > 2024-01-01T10:00", 1, 5, "no UTC offset"),
        ("a.b(1)", 1, 1, "not a function"),
        ("#", 1, 1, "unexpected character"),
        ("   ", 1, 1, "empty"),
        ("d = LAST_N_DAYS", 1, 5, "needs a number"),
    ],
)
def test_given_bad_text_when_parsed_then_the_error_says_what_and_where(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse(text)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert fragment in err.message
    assert "^" in err.excerpt
    marker_line = err.excerpt.splitlines()[-1]
    assert marker_line.index("^") == 2 + column - 1 or "…" in err.excerpt
    assert isinstance(err, ExpressionError) and isinstance(err, FatalError)


def test_given_an_unexpected_token_when_parsed_then_expected_alternatives_are_listed() -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse("Industry = 'x' Amount > 1")
    assert "expected" in info.value.message and "AND" in info.value.message


def test_given_too_long_text_when_parsed_then_a_limit_error_is_raised() -> None:
    with pytest.raises(ExpressionLimitError, match="characters long"):
        parse("a = 1 OR " * (MAX_LENGTH // 9 + 1) + "a = 1")


def test_given_nesting_past_the_limit_when_parsed_then_a_limit_error_not_recursion_error() -> None:
    with pytest.raises(ExpressionLimitError, match="nested more than"):
        parse("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionLimitError, match="nested more than"):
        parse("NOT " * 5000 + "x")
    with pytest.raises(ExpressionLimitError, match="nested more than"):
        parse(" + ".join(["1"] * 5000))
    with pytest.raises(ExpressionLimitError, match="nested more than"):
        parse("UPPER(" * 150 + "x" + ")" * 150)
