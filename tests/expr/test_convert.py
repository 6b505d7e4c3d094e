"""Conversions from raw source values with a source format."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from crmhub.core.errors import SkippableError, ValueConversionError
from crmhub.expr import ValueType, compile_converter
from crmhub.expr import patterns as patterns_module

T = ValueType


@pytest.mark.parametrize(
    ("vtype", "fmt", "raw", "expected"),
    [
        # dates and datetimes in the tokens users know
        (T.date, "MM/DD/YYYY", "01/31/2024", date(2024, 1, 31)),
        (T.date, "MM/DD/YYYY", "1/5/2024", date(2024, 1, 5)),
        (T.date, "DD.MM.YYYY", "31.01.2024", date(2024, 1, 31)),
        (T.date, "YYYYMMDD", "20240131", date(2024, 1, 31)),
        (T.date, "D MMM YYYY", "5 feb 2024", date(2024, 2, 5)),
        (T.date, "MMMM D, YYYY", "February 5, 2024", date(2024, 2, 5)),
        (T.date, "DD/MM/YY", "05/02/24", date(2024, 2, 5)),
        (T.date, None, "2024-01-31", date(2024, 1, 31)),
        (T.date, None, "2024-01-31T23:30:00-05:00", date(2024, 1, 31)),
        (T.date, "epoch_ms", 1706659200000, date(2024, 1, 31)),
        (T.date, None, datetime(2024, 1, 31, 23, tzinfo=UTC), date(2024, 1, 31)),
        (T.datetime, "DD.MM.YYYY HH:mm", "31.01.2024 10:05", datetime(2024, 1, 31, 10, 5, tzinfo=UTC)),
        (
            T.datetime,
            "YYYY-MM-DDTHH:mm:ssZ",
            "2024-01-31T10:00:00+02:00",
            datetime(2024, 1, 31, 8, tzinfo=UTC),
        ),
        (T.datetime, "YYYY-MM-DDTHH:mm:ssZ", "2024-01-31T10:00:00Z", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        (T.datetime, "MM/DD/YYYY hh:mm A", "01/31/2024 12:15 AM", datetime(2024, 1, 31, 0, 15, tzinfo=UTC)),
        (T.datetime, "MM/DD/YYYY hh:mm A", "01/31/2024 01:15 pm", datetime(2024, 1, 31, 13, 15, tzinfo=UTC)),
        (
            T.datetime,
            "HH:mm:ss.SSS DD.MM.YYYY",
            "10:00:01.250 31.01.2024",
            datetime(2024, 1, 31, 10, 0, 1, 250000, tzinfo=UTC),
        ),
        (T.datetime, "epoch_s", 1706695200, datetime(2024, 1, 31, 10, tzinfo=UTC)),
        (T.datetime, "epoch_s", "1706695200.5", datetime(2024, 1, 31, 10, 0, 0, 500000, tzinfo=UTC)),
        (T.datetime, "epoch_ms", "1706695200000", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        (T.datetime, None, "2013-05-20T20:49:32.000+0000", datetime(2013, 5, 20, 20, 49, 32, tzinfo=UTC)),
        (T.datetime, None, "2018-10-25T11:56:25+05:30", datetime(2018, 10, 25, 6, 26, 25, tzinfo=UTC)),
        (T.datetime, None, "2024-01-31T10:00:00", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        (T.datetime, "iso", "2024-01-31", datetime(2024, 1, 31, tzinfo=UTC)),
        (T.datetime, None, date(2024, 1, 31), datetime(2024, 1, 31, tzinfo=UTC)),
        # numbers with separators
        (T.number, None, "1,234.56", 1234.56),
        (T.number, None, "1234", 1234),
        (T.number, None, 1234.5, 1234.5),
        (T.number, None, "-0.5", -0.5),
        (T.number, None, "1e3", 1000.0),
        (T.number, None, " 12 ", 12),
        (T.number, "1.234,56", "1.234,56", 1234.56),
        (T.number, "1.234,56", "-1.234.567", -1234567),
        (T.number, "1 234,56", "1\u00a0234,5", 1234.5),
        (T.number, "1'234.56", "1'234.5", 1234.5),
        (T.number, "1234,56", "99,9", 99.9),
        (T.number, None, "(1,200.50)", -1200.5),
        # currency with symbols or codes
        (T.currency, None, "$1,200.50", 1200.5),
        (T.currency, None, "EUR 99", 99),
        (T.currency, None, "-$5", -5),
        (T.currency, None, "$-5", -5),
        (T.currency, None, "USD 1,000", 1000),
        (T.currency, None, "US$ 3", 3),
        (T.currency, None, "(£12.00)", -12.0),
        (T.currency, "1.234,56", "1.200,50 €", 1200.5),
        (T.currency, "1.234,56", "EUR 1.200,50", 1200.5),
        (T.currency, None, 42, 42),
        # booleans
        (T.boolean, None, "TRUE", True),
        (T.boolean, None, "no", False),
        (T.boolean, None, 1, True),
        (T.boolean, None, False, False),
        (T.boolean, "yes/no", "Yes", True),
        (T.boolean, "1/0", "0", False),
        (T.boolean, "1/0", 1, True),
        (T.boolean, "ja/nein", "NEIN", False),
        # multi-value text
        (T.multi_text, None, "a;b; c", ["a", "b", "c"]),
        (T.multi_text, None, "a;;b;", ["a", "b"]),
        (T.multi_text, None, '["x", "y", 3]', ["x", "y", "3"]),
        (T.multi_text, ",", "a, b", ["a", "b"]),
        (T.multi_text, "json", "[]", None),
        (T.multi_text, None, ["a", None, " b "], ["a", "b"]),
        (T.multi_text, "|", "a|b", ["a", "b"]),
        # text and foreign keys
        (T.text, None, "Acme", "Acme"),
        (T.text, None, 42, "42"),
        (T.text, None, 42.0, "42"),
        (T.text, None, True, "true"),
        (T.foreign_key, None, 123, "123"),
        (T.foreign_key, None, " 001A ", "001A"),
    ],
    ids=lambda v: repr(v)[:28],
)
def test_given_a_raw_value_when_converted_then_it_is_canonical(
    vtype: T, fmt: str | None, raw: Any, expected: Any
) -> None:
    result = compile_converter(vtype, fmt, field="F")(raw)
    assert result == expected and type(result) is type(expected)
    if isinstance(result, datetime):
        assert result.tzinfo is UTC


@pytest.mark.parametrize("vtype", list(T))
@pytest.mark.parametrize("raw", [None, ""])
def test_given_nothing_when_converted_then_it_is_null(vtype: T, raw: Any) -> None:
    assert compile_converter(vtype, None, field="F")(raw) is None


@pytest.mark.parametrize(
    ("vtype", "fmt", "raw", "expected_format"),
    [
        (T.date, "MM/DD/YYYY", "31/01/2024", "MM/DD/YYYY"),
        (T.date, "MM/DD/YYYY", "02/30/2024", "MM/DD/YYYY"),
        (T.date, None, "yesterday", "ISO date"),
        (T.datetime, None, "nope", "ISO 8601"),
        (T.datetime, "DD.MM.YYYY HH:mm", "31.01.2024", "DD.MM.YYYY HH:mm"),
        (T.number, None, "abc", "1,234.56"),
        (T.number, None, "1,5", "1,234.56"),
        (T.number, None, "12,34,567", "1,234.56"),
        (T.number, "1.234,56", "1.5", "1.234,56"),
        (T.number, None, True, "1,234.56"),
        (T.number, None, float("nan"), "1,234.56"),
        (T.currency, None, "TOTAL 5", "1,234.56"),
        (T.currency, None, "5 EUR USD", "1,234.56"),
        (T.boolean, "yes/no", "true", "yes or no"),
        (T.boolean, None, "maybe", "true/false"),
        (T.boolean, None, 2, "true/false"),
        (T.multi_text, "json", "{}", "JSON array"),
        (T.multi_text, None, "[1,", "JSON array"),
        (T.multi_text, None, {"a": 1}, "separated"),
        (T.text, None, {"a": 1}, "text"),
        (T.foreign_key, None, 1.5, "id"),
    ],
    ids=lambda v: repr(v)[:28],
)
def test_given_a_bad_value_when_converted_then_the_error_names_value_format_and_field(
    vtype: T, fmt: str | None, raw: Any, expected_format: str
) -> None:
    convert = compile_converter(vtype, fmt, field="Close Date")
    with pytest.raises(ValueConversionError) as info:
        convert(raw)
    err = info.value
    assert isinstance(err, SkippableError)
    assert "Close Date" in err.message
    assert expected_format in err.message
    assert err.context["field"] == "Close Date"
    shown = raw if isinstance(raw, str) else repr(raw)
    assert str(shown)[:10] in err.message


@pytest.mark.parametrize(
    ("vtype", "fmt"),
    [
        (T.date, "QQ"),
        (T.date, "MM/DD"),
        (T.datetime, "hh:mm"),
        (T.boolean, "yes"),
        (T.multi_text, "tab"),
        (T.date, "[unclosed"),
    ],
)
def test_given_an_unusable_source_format_when_compiled_then_it_is_refused_up_front(
    vtype: T, fmt: str
) -> None:
    with pytest.raises(ValueError):
        compile_converter(vtype, fmt, field="F")


def test_given_a_column_of_dates_when_converted_then_the_pattern_is_compiled_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    original = patterns_module._tokenize

    def counting(pattern: str) -> list[tuple[str, str]]:
        nonlocal calls
        calls += 1
        return original(pattern)

    monkeypatch.setattr(patterns_module, "_tokenize", counting)
    patterns_module.compile_pattern.cache_clear()
    convert = compile_converter(T.date, "DD.MM.YYYY", field="F")
    again = compile_converter(T.datetime, "DD.MM.YYYY", field="G")
    values = [f"{1 + i % 28:02d}.{1 + i % 12:02d}.{2000 + i % 30}" for i in range(100_000)]
    assert all(isinstance(convert(v), date) for v in values)
    assert again("01.02.2024") == datetime(2024, 2, 1, tzinfo=UTC)
    assert calls == 1


@pytest.mark.parametrize("raw", [2**63, -(2**63) - 1, "9223372036854775808", "1,180,591,620,717,411,303,424"])
def test_given_a_whole_number_past_64_bits_when_converted_then_it_is_a_field_error_not_a_crash(raw: Any) -> None:
    convert = compile_converter(ValueType("number"), "1,234.56", field="Employees")
    with pytest.raises(ValueConversionError, match="whole number between"):
        convert(raw)
    assert convert(2**63 - 1) == 2**63 - 1
    assert convert("9,223,372,036,854,775,807") == 2**63 - 1
