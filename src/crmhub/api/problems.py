"""Errors as problem JSON (RFC 9457): the crmhub error tree mapped to HTTP statuses, never a traceback.

Every error body is ``application/problem+json`` with ``type`` (``about:blank``: the status says it
all), ``title`` (the HTTP phrase), ``status``, ``detail`` (what happened, in words a user
understands), ``instance`` (the request path) and crmhub's extensions: ``code`` (a stable slug to
branch on), ``hint`` (what to do next), ``errors`` (per-field problems of a request) and
``retry_after`` (seconds).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from crmhub.connectors.files import PathNotAllowedError
from crmhub.core.errors import (
    ConfigError,
    ConnectorError,
    CrmHubError,
    ExpressionError,
    JobInvalidError,
    MappingError,
    NotFoundError,
    RetriableError,
    SyncError,
    ValidationError,
)
from crmhub.expr.errors import ExpressionTypeError
from crmhub.services.users import AuthenticationError, PermissionDeniedError, TooManyAttemptsError
from crmhub.store.database import QueryTooSlowError
from crmhub.sync.runner import RunInProgressError

log = logging.getLogger("crmhub.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    hint: str | None = None
    errors: list[FieldProblem] | None = Field(None, description="Per-field problems of the request.")
    retry_after: float | None = None


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    status: int,
    detail: str,
    *,
    code: str,
    request: Request | None = None,
    hint: str | None = None,
    errors: list[FieldProblem] | None = None,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        code=code,
        hint=hint,
        errors=errors,
        retry_after=round(retry_after, 1) if retry_after is not None else None,
    )
    out_headers = dict(headers or {})
    if retry_after is not None:
        out_headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return ProblemResponse(body.model_dump(exclude_none=True), status_code=status, headers=out_headers)


#: (error class, status, code) — the first matching class wins, so subclasses come first.
ERROR_TABLE: list[tuple[type[CrmHubError], int, str]] = [
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (TooManyAttemptsError, 429, "too_many_attempts"),
    (RunInProgressError, 409, "run_in_progress"),
    (NotFoundError, 404, "not_found"),
    (JobInvalidError, 422, "job_invalid"),
    (QueryTooSlowError, 422, "query_too_slow"),
    (ExpressionError, 400, "bad_expression"),
    (ConnectorError, 422, "crm_refused"),
    (ValidationError, 422, "invalid"),
    (PathNotAllowedError, 422, "path_not_allowed"),
    (ConfigError, 422, "invalid"),
    (MappingError, 422, "invalid_mapping"),
    (SyncError, 409, "sync_error"),
    (RetriableError, 503, "unavailable"),
]


def status_of(exc: CrmHubError) -> tuple[int, str]:
    for cls, status, code in ERROR_TABLE:
        if isinstance(exc, cls):
            if cls is ConnectorError:
                # The CRM (or folder) refused what was asked: a 404 there is a 404 here; something to
                # fix in the connection or job is 422; a transient failure is the CRM's, a 502.
                if getattr(exc, "status", None) == 404:
                    return 404, "remote_not_found"
                if isinstance(exc, RetriableError):
                    return 502, "crm_unavailable"
            return status, code
    return 400, "bad_request"


async def _crmhub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrmHubError)
    status, code = status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="crmhub"'} if status == 401 else None
    retry_after = getattr(exc, "retry_after", None) if status in (429, 503) else None
    detail = exc.message
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    if isinstance(exc, ExpressionError) and line is not None:
        detail = f"{detail} (line {line}, column {column})"
        if getattr(exc, "excerpt", ""):
            detail = f"{detail}\n{exc.excerpt}"  # type: ignore[attr-defined]
    errors = None
    if isinstance(exc, JobInvalidError):
        # Every problem of the job, not only the first one the message names.
        errors = [FieldProblem(field=where, message=message) for where, message in exc.problems]
    elif isinstance(exc, ExpressionTypeError) and len(exc.problems) > 1:
        # Every unknown field or mismatch of an expression is named, not only the first.
        errors = [
            FieldProblem(field=f"line {p.line}, column {p.column}", message=p.message) for p in exc.problems
        ]
        detail = "; ".join(p.message for p in exc.problems)
    return problem(
        status,
        detail,
        code=code,
        request=request,
        hint=exc.hint,
        errors=errors,
        retry_after=retry_after,
        headers=headers,
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


async def _request_invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [FieldProblem(field=_loc(e.get("loc", ())), message=str(e.get("msg", ""))) for e in exc.errors()]
    first = errors[0] if errors else None
    detail = f"{first.field}: {first.message}" if first else "the request is not valid"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return problem(422, detail, code="invalid_request", request=request, errors=errors)


async def _model_invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PydanticValidationError)
    errors = [FieldProblem(field=_loc(e.get("loc", ())), message=str(e.get("msg", ""))) for e in exc.errors()]
    detail = f"{errors[0].field}: {errors[0].message}" if errors else "the data is not valid"
    return problem(422, detail, code="invalid", request=request, errors=errors)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path (OPTIONS included); the app
    keeps ``state.crmhub_paths``, (path pattern, methods) of each route (see ``create_app``)."""
    methods = {"OPTIONS"}
    path = request.url.path
    for pattern, route_methods in getattr(request.app.state, "crmhub_paths", ()):
        if pattern.match(path):
            methods.update(route_methods)
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allow = ", ".join(allowed_methods(request))
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        exc = StarletteHTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": allow})
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is no API route {request.url.path}"
    return problem(
        exc.status_code,
        detail,
        code=code,
        request=request,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _integrity(request: Request, exc: Exception) -> Response:
    log.info("integrity error on %s: %s", request.url.path, exc)
    return problem(
        409,
        "the change conflicts with existing data (a duplicate name, or the object is still in use)",
        code="conflict",
        request=request,
        hint="reload the object and try again",
    )


async def _operational(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable on %s: %s", request.url.path, exc)
    return problem(
        503, "the hub database is busy or unavailable", code="unavailable", request=request, retry_after=2
    )


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        500,
        "crmhub hit an internal error; it is logged on the server",
        code="internal",
        request=request,
        hint="try again; if it persists, report it with the time of the request",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(CrmHubError, _crmhub_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(PydanticValidationError, _model_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(OperationalError, _operational)
    app.add_exception_handler(Exception, _internal)
