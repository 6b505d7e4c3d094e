"""Sign-in, sign-out, who am I, and the home page (the health of every connection and job)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError as PydanticValidationError

from crmhub.api import queries
from crmhub.api.deps import CSRF_COOKIE, SESSION_COOKIE
from crmhub.api.routers import auth
from crmhub.api.schemas import LoginCreate
from crmhub.core.errors import CrmHubError
from crmhub.services.users import Permission
from crmhub.web import charts
from crmhub.web._core import Viewer, WebRoute, ctx_of, form_of, local_path, redirect, render, viewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(viewer)]
Form = Annotated[dict[str, str], Depends(form_of)]
#: The sign-in form's own CSRF token (no session exists yet): a cookie and a hidden field that must match.
SIGNIN_COOKIE = "crmhub_signin"


@router.get("/signin")
def signin_page(request: Request, next: str = "/") -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "signin.html", None, next=local_path(next), signin_token=token, error=None)
    response.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="strict", path="/signin")
    return response


@router.post("/signin")
async def signin(request: Request, form: Form) -> Response:
    next_path = local_path(form.get("next"))
    token = request.cookies.get(SIGNIN_COOKIE, "")
    if not token or not secrets.compare_digest(token, form.get("signin_token", "")):
        return render(
            request,
            "signin.html",
            None,
            status=403,
            next=next_path,
            signin_token=token or secrets.token_urlsafe(24),
            error="The sign-in form expired or was not sent from this page: sign in again.",
        )
    answer = Response()
    try:
        body = LoginCreate(email=form.get("email", ""), password=form.get("password", ""))
        # The API's own login: the same throttling, session and cookies (HttpOnly, SameSite=Lax).
        await auth.login(body, request, answer, ctx_of(request))
    except (CrmHubError, PydanticValidationError) as exc:
        message = exc.message if isinstance(exc, CrmHubError) else "enter an e-mail address and a password"
        hint = getattr(exc, "hint", None)
        return render(
            request,
            "signin.html",
            None,
            status=429 if "too many" in message.lower() else 401,
            next=next_path,
            signin_token=token,
            error=f"{message}" + (f" — {hint}" if hint else ""),
            email=form.get("email", ""),
        )
    response = redirect(next_path)
    for name, value in answer.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
def signout(request: Request, me: Signed) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        ctx_of(request).tokens.end_session(cookie)
    response = redirect("/signin", notice="You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me")
def who_am_i(request: Request, me: Signed) -> Response:
    user = ctx_of(request).users.get(me.principal.user_id)
    return render(request, "me.html", me, user=user, permissions=sorted(me.principal.permissions))


@router.get("/")
def home(request: Request, me: Signed) -> Response:
    ctx = ctx_of(request)
    values: dict[str, Any] = {"connections": None, "jobs": None, "recent": None}
    if me.can(Permission.CONNECTIONS_READ.value):
        listed = ctx.connections.list()[:200]
        values["connections"] = listed
        values["connection_chart"] = charts.health_strip(
            [(c.name, _connection_health(c.status)) for c in listed], title="Health of every connection"
        )
    if me.can(Permission.JOBS_READ.value):
        rows = queries.jobs_page(ctx.hub.db, after=None, limit=200)
        values["jobs"] = rows
        values["job_chart"] = charts.health_strip(
            [(j.name, r.status if r is not None else "never run") for j, r in rows],
            title="Last run of every job",
        )
    if me.can(Permission.RUNS_READ.value):
        recent = queries.runs_page(ctx.hub.db, limit=50)
        values["recent"] = recent
        values["recent_rate"] = charts.success_rate([r.status for r in recent])
        values["recent_names"] = queries.job_names(ctx.hub.db, {r.job_id for r in recent})
    return render(request, "home.html", me, **values)


def _connection_health(status: str) -> str:
    return {"ok": "succeeded", "failing": "failed"}.get(status, status)
