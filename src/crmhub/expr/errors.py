"""Errors of the expression language.

Parse, type and limit errors are :class:`~crmhub.core.errors.FatalError`: the expression itself is
wrong and no record will fix it. A failure while evaluating one record (a value that will not
convert, a string that grows past the size cap) is a :class:`~crmhub.core.errors.SkippableError`:
ledger the record and carry on. Every error that points into the expression text carries
``line``, ``column`` (1-based) and a caret-marked ``excerpt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crmhub.core.errors import ExpressionError, FatalError, SkippableError

__all__ = [
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "ExpressionTypeError",
    "Problem",
    "UnsupportedExpressionError",
    "excerpt",
]


def excerpt(source: str, line: int, column: int, width: int = 1) -> str:
    """The source line ``line`` with a caret marker under ``column`` (both 1-based)."""
    lines = source.splitlines() or [""]
    line = max(1, min(line, len(lines)))
    text = lines[line - 1]
    # Keep long lines readable: show at most 60 characters either side of the column.
    start = max(0, column - 61)
    shown = text[start : column + 60]
    prefix = "…" if start > 0 else ""
    suffix = "…" if column + 60 < len(text) else ""
    pad = " " * (len(prefix) + column - 1 - start)
    marks = "^" * max(1, min(width, len(shown) - (column - 1 - start)))
    return f"  {prefix}{shown}{suffix}\n  {pad}{marks}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in an expression, with where it is."""

    message: str
    line: int
    column: int
    excerpt: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}\n{self.excerpt}"


class _Located(ExpressionError):
    """An expression error that points at a place in the expression text."""

    def __init__(
        self,
        message: str,
        *,
        line: int = 1,
        column: int = 1,
        excerpt: str = "",
        hint: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, hint=hint, **context)
        self.line = line
        self.column = column
        self.excerpt = excerpt

    def __str__(self) -> str:
        text = f"{self.message} (line {self.line}, column {self.column})"
        if self.hint:
            text = f"{text} — {self.hint}"
        if self.excerpt:
            text = f"{text}\n{self.excerpt}"
        return text


class ExpressionSyntaxError(_Located, FatalError):
    """The expression text does not parse."""


class ExpressionLimitError(_Located, FatalError):
    """The expression is too long or too deeply nested to be accepted."""


class ExpressionTypeError(_Located, FatalError):
    """The expression does not fit the schema: unknown fields, type mismatches, wrong arguments."""

    def __init__(self, problems: Sequence[Problem], **context: Any) -> None:
        first = problems[0]
        count = len(problems)
        head = first.message if count == 1 else f"{count} problems in the expression; first: {first.message}"
        super().__init__(head, line=first.line, column=first.column, excerpt=first.excerpt, **context)
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class UnsupportedExpressionError(_Located, FatalError):
    """A compiler cannot translate part of the expression (e.g. a function the SQL compiler lacks)."""


class ExpressionEvaluationError(ExpressionError, SkippableError):
    """Evaluating the expression on one record failed (e.g. a string grew past the size cap)."""
