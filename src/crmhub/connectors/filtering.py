"""The part of a filter a CRM cannot evaluate, run locally on the records it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


def local_predicate(expr: Any, types: Mapping[str, str]) -> Predicate:
    """A predicate over a record's raw values: each field the expression names is first converted to
    its hub value type (``types``: field path → type), then the expression is evaluated; only a TRUE
    result keeps the record (NULL and FALSE drop it, as in SQL)."""
    from crmhub.expr import ValueType, compile_converter, compile_python

    converters = {
        path: compile_converter(ValueType(value_type), None, field=path) for path, value_type in types.items()
    }
    evaluate = compile_python(expr)

    def predicate(values: dict[str, Any]) -> bool:
        typed = {k: (converters[k](v) if k in converters else v) for k, v in values.items()}
        return evaluate(typed) is True

    return predicate
