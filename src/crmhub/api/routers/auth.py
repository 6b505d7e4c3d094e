"""Health, logging in and out (session cookie + CSRF token), and who am I."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request, Response

from crmhub import __version__
from crmhub.api.deps import CSRF_COOKIE, SESSION_COOKIE, Ctx, allow
from crmhub.api.schemas import HealthPublic, LoginCreate, SessionPublic, UserPublic
from crmhub.core.errors import RetriableError
from crmhub.services.tokens import SESSION_LIFETIME, SESSION_MAX_AGE, csrf_token_for
from crmhub.services.users import Principal, UserView

router = APIRouter(tags=["auth"])


def user_public(view: UserView) -> UserPublic:
    return UserPublic(
        id=view.id,
        email=view.email,
        name=view.name,
        role=view.role,
        active=view.active,
        permissions=view.permissions,
        permission_sets=view.permission_sets,
        last_login_at=view.last_login_at,
        created_at=view.created_at,
    )


@router.get("/health", summary="Is the API up")
def health() -> HealthPublic:
    return HealthPublic(version=__version__)


@router.post(
    "/auth/login",
    summary="Log in with e-mail and password",
    description="Sets an HttpOnly, SameSite=Lax session cookie and returns the CSRF token that unsafe "
    "cookie-authenticated requests send in X-CSRF-Token. The session ends after "
    f"{SESSION_LIFETIME.total_seconds() / 3600:g} hours unused; using it extends it, up to "
    f"{SESSION_MAX_AGE.days} days after the login. Repeated failures per account and per address "
    "answer 429 with Retry-After.",
)
async def login(body: LoginCreate, request: Request, response: Response, ctx: Ctx) -> SessionPublic:
    # Password hashing is slow on purpose: it runs on a pool of its own with a bounded queue, so a
    # flood of logins waits there (or is told to come back) instead of taking every API thread.
    pool = _login_pool(request)
    if pool.waiting >= pool.queue:
        raise RetriableError("too many logins at once", hint="try again in a second", retry_after=1.0)
    pool.waiting += 1
    try:
        return await anyio.to_thread.run_sync(
            functools.partial(_login, body, request, response, ctx), limiter=pool.limiter
        )
    finally:
        pool.waiting -= 1


@dataclass
class _LoginPool:
    limiter: anyio.CapacityLimiter
    queue: int
    waiting: int = 0


def _login_pool(request: Request) -> _LoginPool:
    pool: _LoginPool | None = getattr(request.app.state, "crmhub_login_pool", None)
    if pool is None:
        threads = int(os.environ.get("CRMHUB_LOGIN_THREADS", "1"))
        queue = int(os.environ.get("CRMHUB_LOGIN_QUEUE", "8"))
        pool = request.app.state.crmhub_login_pool = _LoginPool(anyio.CapacityLimiter(threads), queue)
    return pool


def _login(body: LoginCreate, request: Request, response: Response, ctx: Any) -> SessionPublic:
    client = request.client.host if request.client else None
    principal = ctx.users.authenticate(body.email, body.password, client=client)
    issued = ctx.tokens.create_session(principal.user_id)
    csrf = csrf_token_for(issued.text)
    secure = request.url.scheme == "https"
    # The cookies last as long as the session can (its maximum age): the server decides when the
    # session ends, and a sliding session must not lose its cookie when the first expiry passes.
    max_age = int(ctx.tokens.session_max_age.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, issued.text, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/"
    )
    assert issued.token.expires_at is not None
    return SessionPublic(
        user=user_public(ctx.users.get(principal.user_id)),
        csrf_token=csrf,
        expires_at=issued.token.expires_at,
    )


@router.post("/auth/logout", status_code=204, summary="End the session")
def logout(request: Request, ctx: Ctx, principal: Principal = allow(None)) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and principal.via == "session":
        ctx.tokens.end_session(cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/auth/me", summary="The calling user and their permissions")
def me(ctx: Ctx, principal: Principal = allow(None)) -> UserPublic:
    return user_public(ctx.users.get(principal.user_id))
