"""A compiled mapping: turns one source record into target values, collecting per-field errors.

Each row is compiled once: a field getter or an expression closure, then the converter from the
row's source format to the target type. A value that does not convert becomes an error naming the
target, the source and the raw value — the rest of the record still maps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crmhub.core.errors import CrmHubError, ExpressionError, ValueConversionError
from crmhub.mapping.spec import MappingRow

Getter = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One value that did not map."""

    target: str
    source: str
    raw: Any
    message: str
    error_class: str


@dataclass(frozen=True, slots=True)
class _Compiled:
    target: str
    source: str
    get: Getter
    convert: Callable[[Any], Any]


def _field_getter(path: str) -> Getter:
    def get(values: Mapping[str, Any]) -> Any:
        return values.get(path)

    return get


class Transformer:
    """Source record (flat dict of field paths) → target values."""

    def __init__(self, rows: Sequence[_Compiled]) -> None:
        self._rows = list(rows)
        self.targets = [r.target for r in self._rows]

    @classmethod
    def compile(
        cls,
        rows: Sequence[MappingRow],
        *,
        target_types: Mapping[str, str],
        source_types: Mapping[str, str] | None = None,
    ) -> Transformer:
        """Compile rows; ``target_types`` maps each target to its value type (existing or new).

        Raises ExpressionError (with the row's target named) for an expression that does not parse
        or type-check, and for a source format the converter does not understand.
        """
        from crmhub.expr import ValueType, check, compile_converter, compile_python, parse

        compiled: list[_Compiled] = []
        for row in rows:
            target_type = ValueType(target_types[row.target])
            try:
                if row.source is not None:
                    getter = _field_getter(row.source)
                    convert = compile_converter(target_type, row.source_format, field=row.source)
                elif row.expression is not None:
                    expr = parse(row.expression)
                    if source_types is not None:
                        check(expr, {k: ValueType(v) for k, v in source_types.items()})
                    getter = compile_python(expr)
                    convert = compile_converter(target_type, row.source_format, field=row.target)
                else:
                    constant = compile_converter(target_type, row.source_format, field=row.target)(
                        row.constant
                    )

                    def getter(_values: Mapping[str, Any], _c: Any = constant) -> Any:
                        return _c

                    def convert(value: Any) -> Any:
                        return value
            except ExpressionError as exc:
                raise type(exc)(f"mapping row → {row.target}: {exc.message}", hint=exc.hint) from None
            except ValueConversionError as exc:
                raise ExpressionError(f"mapping row → {row.target}: constant {exc.message}") from None
            compiled.append(_Compiled(row.target, row.describe_source(), getter, convert))
        return cls(compiled)

    def __call__(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        out: dict[str, Any] = {}
        errors: list[FieldError] = []
        for row in self._rows:
            raw = None
            try:
                raw = row.get(values)
                out[row.target] = row.convert(raw)
            except CrmHubError as exc:
                errors.append(FieldError(row.target, row.source, raw, exc.message, type(exc).__name__))
            except (ValueError, TypeError, ArithmeticError) as exc:
                errors.append(FieldError(row.target, row.source, raw, str(exc), type(exc).__name__))
        return out, errors
