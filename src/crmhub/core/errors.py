"""The error tree. Every error carries its recovery strategy in its type.

An executor decides from the base class alone:

* :class:`FatalError` — stop the run (or the command) and report; retrying will not help.
* :class:`RetriableError` — try again later (with backoff); nothing is wrong with the data.
* :class:`SkippableError` — this one record (or value) is bad; record it in the error ledger
  and carry on with the rest.

Families per phase (config, store, expression, mapping, connector, sync) sit beside the strategy
bases, so a concrete error is e.g. ``class ValueConversionError(MappingError, SkippableError)``.
Messages name the objects involved and say what to do next.
"""

from __future__ import annotations

from typing import Any


class CrmHubError(Exception):
    """Root of every error crmhub raises on purpose."""

    #: A short hint telling the user what to do next; subclasses or callers may set it.
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


# Strategy bases ---------------------------------------------------------------------------------


class FatalError(CrmHubError):
    """Stop: the run or command cannot go on and retrying will not help."""


class RetriableError(CrmHubError):
    """Transient: the same call may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class SkippableError(CrmHubError):
    """One record or value is bad: ledger it and continue with the rest."""


# Families ---------------------------------------------------------------------------------------


class ConfigError(FatalError):
    """Settings or the data folder are wrong."""


class StoreError(CrmHubError):
    """The hub store refused something."""


class NotFoundError(StoreError, FatalError):
    """A named object (object type, attribute, record, connection, job, run) does not exist."""


class ValidationError(StoreError, FatalError):
    """A definition (name, type, category …) is not acceptable."""


class JobInvalidError(ValidationError):
    """A job does not validate, so it is not saved enabled and not run.

    ``problems`` holds ``(where, message)`` pairs: ``where`` is ``mapping[3]``, ``filter``, a field
    name or ``job``; every message says what to fix.
    """

    def __init__(
        self,
        message: str,
        *,
        problems: list[tuple[str, str]],
        hint: str | None = None,
        headline: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems
        #: The message without its listing of problems (a CLI prints the problems one per line).
        self.headline = headline or message


class ExpressionError(CrmHubError):
    """An expression does not parse, type-check or evaluate."""


class MappingError(CrmHubError):
    """A mapping row or a value cannot be applied."""


class MappingRowError(MappingError, FatalError):
    """A mapping row itself is wrong (its expression, source format or constant): no record will fix it.

    ``row`` is the 0-based mapping row and ``target`` its target, so validation reports it on its row.
    """


class ValueConversionError(MappingError, SkippableError):
    """A value does not fit the type or source format it is converted to."""


class ConnectorError(CrmHubError):
    """A CRM (or file) answered with an error."""


class SyncError(CrmHubError):
    """A run cannot proceed."""
