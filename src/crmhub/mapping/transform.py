"""A compiled mapping: turns one source record into target values, collecting per-field errors.

Each row is compiled once: a field getter or an expression closure, then the converter from the
row's source format to the target type. A value that does not convert becomes an error naming the
target, the source and the raw value — the rest of the record still maps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crmhub.core.errors import CrmHubError, ExpressionError, MappingRowError, ValueConversionError
from crmhub.core.values import format_datetime
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


#: A UTC datetime with milliseconds whose day exists in every month (checked apart: day ≤ 28).
_UTC_MILLIS = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-[0-2]\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}(?:\+0000|Z)\Z"
)


def _canonical(convert: Callable[[Any], Any], type_name: str, *, iso: bool = False) -> Callable[[Any], Any]:
    """``convert`` followed by the store's canonical form; only dates and datetimes need work.

    ``iso`` says the source format is ISO 8601 (the default), which allows a fast path for the
    exact UTC shape CRMs send.

    The converters return the documented Python types (text → str, number → int/float, boolean →
    bool, multi_text → list[str], date → date, datetime → aware datetime), so the other types are
    stored as they come.
    """
    if type_name == "date":

        def to_date(value: Any) -> Any:
            result = convert(value)
            return None if result is None else result.isoformat()

        return to_date
    if type_name == "datetime":
        if not iso:

            def to_datetime(value: Any) -> Any:
                result = convert(value)
                return None if result is None else format_datetime(result)

            return to_datetime

        def iso_to_datetime(value: Any) -> Any:
            # CRMs send UTC with milliseconds (Salesforce ``…T10:00:00.000+0000``, HubSpot
            # ``…T10:00:00.000Z``): when the shape is exactly that, the canonical text is a slice.
            if (
                value.__class__ is str
                and (len(value) == 28 and value[23:] == "+0000" or len(value) == 24 and value[23] == "Z")
                and value[8:10] <= "28"
                and _UTC_MILLIS.match(value)
            ):
                return value[:23] + "000Z"
            result = convert(value)
            return None if result is None else format_datetime(result)

        return iso_to_datetime
    return convert


def _field_getter(path: str) -> Getter:
    def get(values: Mapping[str, Any]) -> Any:
        return values.get(path)

    return get


class Transformer:
    """Source record (flat dict of field paths) → target values."""

    def __init__(
        self, rows: Sequence[_Compiled], fields: Sequence[tuple[str, str, Callable[[Any], Any]]] = ()
    ) -> None:
        self._rows = list(rows)
        self.targets = [r.target for r in self._rows]
        #: Plain "source field → target" rows, run in one comprehension on the fast path.
        self._fields = list(fields)
        self._others = [r for r in self._rows if r.target not in {t for t, _, _ in self._fields}]

    @classmethod
    def compile(
        cls,
        rows: Sequence[MappingRow],
        *,
        target_types: Mapping[str, str],
        source_types: Mapping[str, str] | None = None,
        canonical: bool = False,
    ) -> Transformer:
        """Compile rows; ``target_types`` maps each target to its value type (existing or new).

        With ``canonical`` the values come out in the hub's stored form (dates as ``YYYY-MM-DD``,
        datetimes as UTC text; see ``crmhub.core.values``), ready for an upsert that skips coercion.

        Raises MappingRowError (a FatalError naming the row and its target) for an expression that
        does not parse or type-check, a source format the converter does not understand, and a
        constant that does not fit the target type.
        """
        from crmhub.expr import ValueType, check, compile_converter, compile_python, parse

        compiled: list[_Compiled] = []
        for index, row in enumerate(rows):
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
                # str() keeps every problem of a type error and the caret excerpt; the row is named.
                raise MappingRowError(
                    f"mapping row → {row.target}: {exc}", hint=exc.hint, row=index, target=row.target
                ) from None
            except ValueConversionError as exc:
                raise MappingRowError(
                    f"mapping row → {row.target}: constant {exc.message}", row=index, target=row.target
                ) from None
            except ValueError as exc:
                # compile_converter refuses a source format it cannot use (``QQ-XX``).
                raise MappingRowError(
                    f"mapping row → {row.target}: source format {row.source_format!r} is not usable: {exc}",
                    hint="fix the row's source format (see 'Source formats' in docs/expressions.md)",
                    row=index,
                    target=row.target,
                ) from None
            if canonical:
                convert = _canonical(convert, target_type.value, iso=row.source_format in (None, "", "iso"))
            compiled.append(_Compiled(row.target, row.describe_source(), getter, convert))
        fields = [
            (c.target, row.source, c.convert)
            for c, row in zip(compiled, rows, strict=True)
            if row.source is not None
        ]
        return cls(compiled, fields)

    def __call__(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        get = values.get
        try:
            out = {t: convert(get(s)) for t, s, convert in self._fields}
        except Exception:
            return self._slow(values)
        if not self._others:
            return out, []
        errors: list[FieldError] = []
        self._apply(self._others, values, out, errors)
        return out, errors

    def _slow(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        out: dict[str, Any] = {}
        errors: list[FieldError] = []
        self._apply(self._rows, values, out, errors)
        return out, errors

    @staticmethod
    def _apply(
        rows: Sequence[_Compiled], values: Mapping[str, Any], out: dict[str, Any], errors: list[FieldError]
    ) -> None:
        for row in rows:
            raw = None
            try:
                raw = row.get(values)
                out[row.target] = row.convert(raw)
            except CrmHubError as exc:
                errors.append(FieldError(row.target, row.source, raw, exc.message, type(exc).__name__))
            except (ValueError, TypeError, ArithmeticError) as exc:
                errors.append(FieldError(row.target, row.source, raw, str(exc), type(exc).__name__))
