"""docs/expressions.md is executable: every example block there is run here."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from crmhub.expr import (
    FUNCTIONS,
    ValueType,
    compile_converter,
    compile_python,
    parse,
    to_hubspot,
    to_odata,
    to_soql,
    to_zoho_coql,
    unparse,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "expressions.md"
TEXT = DOC.read_text(encoding="utf-8")
BLOCK = re.compile(r"```(example|convert|pushdown)\n(.*?)```", re.DOTALL)
DEFAULT_NOW = datetime.fromisoformat("2024-03-15T12:30:00+00:00")


def _blocks(kind: str) -> list[str]:
    return [body for k, body in BLOCK.findall(TEXT) if k == kind]


def _examples() -> list[tuple[str, dict[str, Any], datetime, str, str]]:
    out = []
    for body in _blocks("example"):
        record: dict[str, Any] = {}
        now = DEFAULT_NOW
        for line in body.splitlines():
            if line.startswith("# record:"):
                record = json.loads(line.split(":", 1)[1])
            elif line.startswith("# now:"):
                now = datetime.fromisoformat(line.split(":", 1)[1].strip().replace("Z", "+00:00"))
            elif line.strip():
                expr, expected = line.rsplit(" => ", 1)
                out.append((line, record, now, expr, expected))
    return out


EXAMPLES = _examples()


def _value(text: str, record: dict[str, Any], now: datetime) -> Any:
    return compile_python(parse(text), now=lambda: now)(record)


def test_given_the_doc_then_it_has_examples_of_every_kind() -> None:
    assert len(EXAMPLES) >= 60
    assert _blocks("convert") and _blocks("pushdown")


@pytest.mark.parametrize(
    ("line", "record", "now", "expr", "expected"), EXAMPLES, ids=[e[0][:50] for e in EXAMPLES]
)
def test_given_a_documented_example_when_run_then_it_gives_the_documented_result(
    line: str, record: dict[str, Any], now: datetime, expr: str, expected: str
) -> None:
    got = _value(expr, record, now)
    want = _value(expected, {}, now)
    assert got == want and type(got) is type(want), line


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_given_a_function_then_the_doc_shows_an_example_of_it(name: str) -> None:
    assert any(re.search(rf"\b{name}\(", expr, re.IGNORECASE) for _, _, _, expr, _ in EXAMPLES), name


def _conversions() -> list[str]:
    return [line for body in _blocks("convert") for line in body.splitlines() if line.strip()]


@pytest.mark.parametrize("line", _conversions())
def test_given_a_documented_conversion_when_run_then_it_gives_the_documented_value(line: str) -> None:
    spec, expected = line.rsplit(" => ", 1)
    vtype, fmt, raw = (part.strip() for part in spec.split("|", 2))
    convert = compile_converter(ValueType(vtype), fmt or None, field="doc")
    got = convert(json.loads(raw))
    want = _value(expected, {}, DEFAULT_NOW)
    assert got == want and type(got) is type(want), line


def _pushdowns() -> list[tuple[str, str, str, str]]:
    out = []
    for body in _blocks("pushdown"):
        for chunk in body.strip().split("\n\n"):
            head, pushed, residual = chunk.strip().splitlines()
            kind, expr = head.split(" | ", 1)
            out.append(
                (
                    kind,
                    expr,
                    pushed.removeprefix("pushed:").strip(),
                    residual.removeprefix("residual:").strip(),
                )
            )
    return out


@pytest.mark.parametrize(("kind", "expr", "pushed", "residual"), _pushdowns())
def test_given_a_documented_push_down_when_compiled_then_it_matches(
    kind: str, expr: str, pushed: str, residual: str
) -> None:
    compilers = {"soql": to_soql, "odata": to_odata, "zoho_coql": to_zoho_coql, "hubspot": to_hubspot}
    result = compilers[kind](parse(expr))  # type: ignore[operator]
    shown = json.dumps(result.pushed) if kind == "hubspot" else result.pushed
    assert shown == pushed
    assert (unparse(result.residual) if result.residual is not None else "") == residual
