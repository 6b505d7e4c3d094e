"""Dependencies: the services behind the app, and who is calling with which permissions.

Callers authenticate with ``Authorization: Bearer crmhub_…`` (a personal token), or with the
session cookie a login sets — then every unsafe request (POST, PUT, PATCH, DELETE) must echo the
session's CSRF token in ``X-CSRF-Token``. Trigger tokens are accepted on the trigger routes only.
Every route names the permission it needs with :func:`allow`; a missing or bad credential is 401,
a missing permission 403.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from crmhub.api.schemas import check_ref
from crmhub.services.connections import ConnectionService
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService, RunSubmitter
from crmhub.services.notifications import Notifier
from crmhub.services.tokens import TokenService, csrf_token_for
from crmhub.services.users import (
    AuthenticationError,
    Permission,
    PermissionDeniedError,
    Principal,
    UserService,
)
from crmhub.store.models import ApiToken

SESSION_COOKIE = "crmhub_session"
CSRF_COOKIE = "crmhub_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ApiContext:
    """What routes need, built once per app."""

    hub: HubService
    executor: RunSubmitter
    users: UserService
    tokens: TokenService
    jobs: JobService
    connections: ConnectionService
    notifier: Notifier | None = None
    #: Base URL shown in trigger calls and notifications (else taken from the request).
    public_url: str | None = None


async def get_ctx(request: Request) -> ApiContext:
    """The app's context (async: FastAPI would hand a plain function to a worker thread)."""
    return _ctx(request)


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.crmhub
    return ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]
#: A path segment naming an object by name or id (job, connection, permission set).
Ref = Annotated[str, AfterValidator(check_ref)]
#: Integer ids in paths stay within what every database's INTEGER holds.
UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The user's id.")]
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The token's id.")]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A personal API token: `Authorization: Bearer crmhub_…` (create one with POST /tokens).",
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The session cookie POST /auth/login sets; unsafe requests echo the CSRF token.",
)
_trigger_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="triggerToken",
    description="A job's trigger token: `Authorization: Bearer crmhub_…` (POST /jobs/{job}/trigger-tokens).",
)


def authenticate(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None,
    cookie: str | None,
    *,
    cached_only: bool = False,
) -> Principal | None:
    """The caller's principal; with ``cached_only``, None unless it is known without a query."""
    ctx = _ctx(request)
    if bearer is not None:
        if cached_only:
            return ctx.tokens.cached_principal(bearer.credentials, kind="personal")
        return ctx.tokens.authenticate(bearer.credentials, kind="personal")
    if request.headers.get("authorization"):
        raise AuthenticationError(
            "the Authorization header is not a bearer token", hint="send `Authorization: Bearer crmhub_…`"
        )
    if cookie:
        principal = (
            ctx.tokens.cached_principal(cookie, kind="session")
            if cached_only
            else ctx.tokens.authenticate(cookie, kind="session")
        )
        if principal is not None and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf_token_for(cookie).encode()):
                raise PermissionDeniedError(
                    f"the {CSRF_HEADER} header is missing or wrong",
                    hint="send the csrf_token from the login response (or the crmhub_csrf cookie) in "
                    f"{CSRF_HEADER}",
                )
        return principal
    raise AuthenticationError(
        "this route needs authentication",
        hint="send `Authorization: Bearer <personal API token>`, or log in at POST /api/v1/auth/login",
    )


class Require:
    """A dependency that authenticates the caller and checks one permission (None: any user)."""

    def __init__(self, permission: Permission | None) -> None:
        self.permission = permission

    async def __call__(
        self,
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        cookie: Annotated[str | None, Depends(_cookie)],
    ) -> Principal:
        # A token checked a moment ago is answered here, on the event loop; any other goes to a
        # worker thread for its query (see crmhub.services.principals).
        principal = authenticate(request, bearer, cookie, cached_only=True)
        if principal is None:
            checked = await run_in_threadpool(authenticate, request, bearer, cookie)
            assert checked is not None
            principal = checked
        if self.permission is not None:
            principal.require(self.permission.value)
        request.state.principal = principal
        return principal

    def __repr__(self) -> str:
        return f"Require({self.permission.value if self.permission else 'authenticated'})"


def allow(permission: Permission | None) -> Any:
    """``principal: Principal = allow(Permission.JOBS_WRITE)`` in a route's signature."""
    return Depends(Require(permission))


class TriggerAuth:
    """A dependency that accepts only a trigger token of the job in the path."""

    def __call__(
        self,
        request: Request,
        job: Annotated[Ref, Path(max_length=127, description="The job's id or name.")],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_trigger_bearer)],
    ) -> ApiToken:
        if bearer is None:
            raise AuthenticationError(
                "the trigger call needs the job's trigger token",
                hint="send `Authorization: Bearer <trigger token>` as shown on the job's page",
            )
        return _ctx(request).tokens.authenticate_trigger(bearer.credentials, job)


trigger_auth = TriggerAuth()


#: Threads for calls that wait on a CRM (test, describe, preview, validate …): their own pool, so
#: slow CRMs never take the threads the quick hub reads run on.
CRM_THREADS = 16


def _pool_bound(size: int, doc: str) -> Callable[[F], F]:
    """A decorator that runs a sync route on a thread pool of its own (``size`` threads per event
    loop) instead of the shared worker threads."""
    limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
        weakref.WeakKeyDictionary()
    )

    def bound(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            limiter = limiters.get(loop)
            if limiter is None:
                limiter = limiters.setdefault(loop, anyio.CapacityLimiter(size))
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter)

        return wrapper  # type: ignore[return-value]

    bound.__doc__ = doc
    return bound


#: Run a route that waits on a CRM in the CRM pool instead of the shared worker threads.
crm_bound = _pool_bound(CRM_THREADS, "Run a route that waits on a CRM in the CRM pool.")
#: Run a route whose cost the caller's input decides (a records filter: up to the statement timeout)
#: in a pool of its own, so that slow filters never hold the threads every other route uses.
filter_bound = _pool_bound(
    int(os.environ.get("CRMHUB_API_FILTER_THREADS", "2")),
    "Run a route whose cost the caller's input decides.",
)


def base_url(request: Request) -> str:
    """The public base URL (``CRMHUB_PUBLIC_URL``), else the address of the socket the request came
    in on — never the request's ``Host`` header, which the client chooses (a link or a curl command
    built from it could point a reader at the client's server)."""
    ctx = _ctx(request)
    if ctx.public_url:
        return ctx.public_url
    server = request.scope.get("server")
    scheme = request.url.scheme
    if not server:
        return f"{scheme}://localhost"
    host, port = server[0], server[1]
    if ":" in str(host):
        host = f"[{host}]"
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    return f"{scheme}://{host}" + ("" if default or port is None else f":{port}")
