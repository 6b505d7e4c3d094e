"""What every console page shares: templates, who is signed in, the CSRF check, errors as pages.

Pages authenticate with the API's login session (the ``crmhub_session`` cookie, HttpOnly and
SameSite=Lax) and check the same permissions through the same services; every form post carries
the session's CSRF token (``csrf_token`` field, or the ``X-CSRF-Token`` header for the page's own
script) — the token the API's session CSRF uses, so a post without it is refused (403) before any
service runs. Templates autoescape everything; the pages send their own Content-Security-Policy
(scripts and styles from ``/static`` only, no inline script).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData

from crmhub import __version__
from crmhub.api import problems
from crmhub.api.deps import CSRF_HEADER, SESSION_COOKIE, ApiContext
from crmhub.core.errors import CrmHubError
from crmhub.services.tokens import csrf_token_for
from crmhub.services.users import AuthenticationError, PermissionDeniedError, Principal

#: The console's pages: their own scripts and styles only, no inline script, posts to itself only.
WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
CSRF_FIELD = "csrf_token"

env = Environment(
    loader=PackageLoader("crmhub.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt_time(value: Any) -> str:
    if value is None:
        return "—"
    try:
        return str(value.strftime("%Y-%m-%d %H:%M:%S UTC"))
    except AttributeError:
        return str(value)


def _qs(params: dict[str, Any], **changes: Any) -> str:
    """A query string: ``params`` with ``changes`` applied (None drops a key)."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


env.filters["time"] = _fmt_time
env.globals["qs"] = _qs
env.globals["version"] = __version__
env.filters["urlpart"] = lambda v: quote(str(v), safe="")


@dataclass(frozen=True)
class NavItem:
    """One entry of the left navigation: shown to those with ``permission`` (None: everyone signed
    in), marked current on paths under any of ``prefixes`` (the home page: its own path only)."""

    label: str
    path: str
    permission: str | None = None
    prefixes: tuple[str, ...] = ()

    def current(self, path: str) -> bool:
        if not self.prefixes:
            return path == self.path
        return any(path.startswith(p) for p in self.prefixes)


#: The left navigation, in order. An area added later (a module with its own ``router``, mounted
#: by :func:`crmhub.web.mount`) appends its entry here.
NAV: list[NavItem] = [
    NavItem("Home", "/"),
    NavItem("Jobs", "/jobs", "jobs:read", ("/jobs", "/build")),
    NavItem("History", "/runs", "runs:read", ("/runs",)),
    NavItem("Connections", "/connections", "connections:read", ("/connections",)),
    NavItem("Hub", "/hub", "hub:read", ("/hub",)),
    NavItem("Users", "/admin/users", "users:manage", ("/admin/users", "/admin/permission-sets")),
    NavItem("My tokens", "/admin/tokens", None, ("/admin/tokens",)),
    NavItem("Audit log", "/admin/audit", "audit:read", ("/admin/audit",)),
]
env.globals["nav"] = NAV


class SignInNeeded(Exception):
    """No (valid) session: the page answers with a redirect to the sign-in page."""


@dataclass
class Viewer:
    """The signed-in user of one request, with the CSRF token their forms carry."""

    principal: Principal
    csrf: str
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def can(self, permission: str) -> bool:
        return self.principal.has(permission)

    def require(self, permission: str) -> None:
        self.principal.require(permission)


def ctx_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.crmhub
    return ctx


def _session(request: Request) -> tuple[Principal, str]:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise SignInNeeded
    try:
        principal = ctx_of(request).tokens.authenticate(cookie, kind="session")
    except AuthenticationError:
        raise SignInNeeded from None
    return principal, csrf_token_for(cookie)


def check_csrf(request: Request, expected: str, form: FormData | None) -> None:
    """PermissionDeniedError (403) unless the post carries the session's CSRF token."""
    sent = request.headers.get(CSRF_HEADER) or (str(form.get(CSRF_FIELD) or "") if form is not None else "")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PermissionDeniedError(
            "this form was sent without its security token (CSRF), so it was refused",
            hint="reload the page and send the form again",
        )


async def viewer(request: Request) -> Viewer:
    """Dependency: the signed-in user; on a POST, their form must carry the CSRF token."""
    principal, csrf = await _in_thread(_session, request)
    request.state.principal = principal
    if request.method not in ("GET", "HEAD"):
        form = await request.form()
        check_csrf(request, csrf, form)
    return Viewer(principal, csrf)


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, *args)


def render(
    request: Request, template: str, viewer: Viewer | None, status: int = 200, **values: Any
) -> HTMLResponse:
    html = env.get_template(template).render(
        request=request,
        viewer=viewer,
        path=request.url.path,
        params=dict(request.query_params),
        **values,
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": WEB_CSP})


def redirect(url: str, *, notice: str | None = None) -> RedirectResponse:
    """303 to ``url`` (a local path), with an optional one-line notice shown there."""
    if notice:
        url += ("&" if "?" in url else "?") + urlencode({"notice": notice})
    return RedirectResponse(url, status_code=303)


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site (never another host: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInNeeded):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect("/signin?" + urlencode({"next": target}))
    hint: str | None
    if isinstance(exc, RequestValidationError):
        status, detail, hint = (
            422,
            "; ".join(_loc(e) for e in exc.errors()),
            "correct the form and send it again",
        )
    elif isinstance(exc, CrmHubError):
        status = problems.status_of(exc)[0]
        detail, hint = exc.message, exc.hint
    else:
        raise exc
    principal = getattr(request.state, "principal", None)
    shown = Viewer(principal, csrf_token_for(request.cookies.get(SESSION_COOKIE, ""))) if principal else None
    return render(request, "error.html", shown, status=status, status_code=status, detail=detail, hint=hint)


def _loc(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
    return f"{where}: {error.get('msg', 'not valid')}"


class WebRoute(APIRoute):
    """A console route: crmhub errors become HTML error pages with the API's statuses; a request
    without a session becomes a redirect to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except (SignInNeeded, CrmHubError, RequestValidationError) as exc:
                return error_page(request, exc)

        return run


async def form_of(request: Request) -> dict[str, str]:
    """The posted form as text fields (the last value of each name)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def form_lists(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    out: dict[str, list[str]] = {}
    for k, v in form.multi_items():
        if isinstance(v, str):
            out.setdefault(k, []).append(v)
    return out
