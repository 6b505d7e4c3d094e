"""Connector errors: each says which CRM, object and call failed, and carries its recovery strategy."""

from __future__ import annotations

from typing import Any

from crmhub.core.errors import ConnectorError, FatalError, RetriableError, SkippableError


class ConnectorFatalError(ConnectorError, FatalError):
    """The CRM refused in a way retrying will not fix (bad query, missing permission, unknown object)."""

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.code = code
        self.status = status


class AuthenticationError(ConnectorFatalError):
    """Credentials are wrong or expired and could not be refreshed."""

    hint = "check the connection's credentials (`crmhub connections test`)"


class ApiLimitError(ConnectorFatalError):
    """The CRM's daily (or other long-window) API limit is reached; the run stops, its cursor stays."""

    hint = "the run stopped and keeps its cursor; it continues from there when the limit resets"


class TransientConnectorError(ConnectorError, RetriableError):
    """Rate limit, timeout or server error that outlasted the retries of one call."""

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.code = code
        self.status = status


class RecordRejectedError(ConnectorError, SkippableError):
    """The CRM rejected one record; the others go on."""

    def __init__(
        self, message: str, *, code: str | None = None, fields: tuple[str, ...] = (), **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.code = code
        self.fields = fields


class MalformedResponseError(TransientConnectorError):
    """The CRM answered with a body that does not parse (truncated page, HTML error page)."""
