"""The evaluator is an allow-list: one test per restriction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import crmhub.expr
from crmhub.expr import (
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    ExpressionTypeError,
    UnsupportedExpressionError,
    ValueType,
    check,
    compile_python,
    parse,
)
from crmhub.expr.parser import MAX_DEPTH, MAX_LIST_ITEMS
from crmhub.expr.values import MAX_STRING

EXPR_DIR = Path(crmhub.expr.__file__).parent


class Secretive:
    Name = "attribute value"

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - must never be called
        raise AssertionError(f"the evaluator read attribute {name!r}")


def test_given_a_method_call_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ExpressionSyntaxError, match="not a function"):
        parse('Name.upper("x")')


def test_given_a_dotted_path_on_an_object_when_evaluated_then_no_attribute_is_read() -> None:
    evaluate = compile_python(parse("Owner.Name"))
    assert evaluate({"Owner": Secretive()}) is None
    assert compile_python(parse("Owner.Name IS NULL"))({"Owner": Secretive()}) is True


@pytest.mark.parametrize(
    "text",
    ['__import__("os")', "x.__class__", "__builtins__", "Owner.__dict__.keys", "__class__ = 1"],
)
def test_given_a_dunder_name_when_parsed_then_it_is_refused(text: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match="names starting with '__'"):
        parse(text)


@pytest.mark.parametrize(
    "name", ["IMPORT", "EVAL", "EXEC", "OPEN", "GETATTR", "SYSTEM", "COMPILE", "GLOBALS"]
)
def test_given_an_unlisted_function_when_checked_or_compiled_then_it_is_unknown(name: str) -> None:
    expr = parse(f'{name}("os")')
    with pytest.raises(ExpressionTypeError, match=f"unknown function {name}"):
        check(expr, {})
    with pytest.raises(UnsupportedExpressionError, match=f"unknown function {name}"):
        compile_python(expr)


def test_given_the_expression_package_when_scanned_then_it_never_evals_execs_or_imports_dynamically() -> None:
    # bare builtins only: "re.compile(" and "self.compile(" are fine
    forbidden = re.compile(r"(?<![\w.])(eval|exec|compile|__import__|import_module)\s*\(")
    allowed_getattr = {"parser.py", "functions.py"}  # grammar rule names and fixed date parts only
    for path in EXPR_DIR.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
        hits = [m.group(0) for m in forbidden.finditer(code)]
        assert not hits, f"{path.name}: {hits}"
        if path.name not in allowed_getattr:
            assert "getattr(" not in code, path.name


@pytest.mark.parametrize(
    "text",
    [
        "CONCAT(Big, Big)",
        "Big & Big",
        'REPLACE(Big, "a", "aa")',
        'JOIN(SPLIT(CONCAT(LEFT(Big, 600000), ";", LEFT(Big, 600000))), "")',
    ],
)
def test_given_a_string_growing_past_the_cap_when_evaluated_then_it_stops(text: str) -> None:
    record = {"Big": "a" * (MAX_STRING // 2 + 1)}
    with pytest.raises(ExpressionEvaluationError, match="limit is"):
        compile_python(parse(text))(record)


def test_given_a_string_just_under_the_cap_when_concatenated_then_it_is_built() -> None:
    record = {"Big": "a" * (MAX_STRING // 2)}
    assert len(compile_python(parse("CONCAT(Big, Big)"))(record)) == MAX_STRING


def test_given_nesting_at_the_limit_when_compiled_and_run_then_there_is_no_recursion_error() -> None:
    depth = MAX_DEPTH - 5
    text = "UPPER(" * depth + "Name" + ")" * depth
    assert compile_python(parse(text))({"Name": "x"}) == "X"
    with pytest.raises(ExpressionLimitError):
        parse("UPPER(" * (MAX_DEPTH + 3) + "Name" + ")" * (MAX_DEPTH + 3))


def test_given_a_huge_list_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ExpressionLimitError, match="more than"):
        parse("x IN (" + ",".join(["1"] * (MAX_LIST_ITEMS + 1)) + ")")


def test_given_an_absurd_relative_date_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ExpressionLimitError, match="too far"):
        parse("d = LAST_N_DAYS:99999999")


def test_given_an_adversarial_like_pattern_when_matched_then_it_stays_linear() -> None:
    import time

    pattern = "%a" * 40 + "%b%"
    evaluate = compile_python(parse(f'Name LIKE "{pattern}"'))
    start = time.perf_counter()
    assert evaluate({"Name": "a" * 20_000}) is False
    assert time.perf_counter() - start < 0.5


def test_given_date_arithmetic_out_of_range_when_evaluated_then_it_is_a_record_error() -> None:
    with pytest.raises(Exception) as info:
        compile_python(parse('DATEADD(d, 100000, "year")'))({"d": "2024-01-01"})
    assert "range" in str(info.value)


def test_given_the_schema_when_types_are_named_then_the_store_names_match() -> None:
    assert [t.value for t in ValueType] == [
        "text",
        "number",
        "currency",
        "boolean",
        "date",
        "datetime",
        "foreign_key",
        "multi_text",
    ]
