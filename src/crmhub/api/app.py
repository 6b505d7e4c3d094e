"""The FastAPI app: ``create_app(hub, executor=...)`` mounts every router under ``/api/v1``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from crmhub import __version__, web
from crmhub.api import docs as api_docs
from crmhub.api import problems
from crmhub.api.deps import ApiContext, Require, TriggerAuth
from crmhub.api.guard import DEFAULT_MAX_BODY, DEFAULT_QUERY_TIMEOUT, BodyLimit, SecurityHeaders
from crmhub.api.routers import auth, connections, jobs, runs, tokens, trigger, users
from crmhub.api.routers import hub as hub_router
from crmhub.core.clock import Clock, utcnow
from crmhub.execute import InProcessExecutor
from crmhub.services.connections import ConnectionService
from crmhub.services.hub import HubService
from crmhub.services.jobs import JobService, RunSubmitter
from crmhub.services.notifications import Notifier, NotifyingExecutor
from crmhub.services.tokens import TokenService
from crmhub.services.users import LoginPolicy, UserService

PREFIX = "/api/v1"

_STANDARD_ERRORS = {
    "400": "The request is not valid (a bad cursor, filter expression …)",
    "401": "Authentication is missing or wrong",
    "403": "The caller may not do this",
    "404": "The object does not exist",
    "409": "A conflict: a run in progress, a duplicate name, an object still in use",
    "422": "The body or parameters are not valid, or the CRM refused them",
    "429": "Too many attempts; see Retry-After",
    "502": "The CRM did not answer (or failed) after retries; try again later",
    "503": "Busy or unavailable for now; see Retry-After",
}


def api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, full path, route) of every API operation (FastAPI keeps included routers nested)."""
    out = []
    for router in app.state.crmhub_routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                for method in sorted(route.methods or ()):
                    out.append((method, PREFIX + route.path, route))
    return out


def _methods(route: APIRoute) -> set[str]:
    methods = set(route.methods or ())
    return methods | {"HEAD"} if "GET" in methods else methods


def route_auth(route: APIRoute) -> str | None:
    """What a route needs: a permission name, "authenticated", "trigger", or None (public)."""
    for dependency in route.dependant.dependencies:
        call = dependency.call
        if isinstance(call, Require):
            return call.permission.value if call.permission else "authenticated"
        if isinstance(call, TriggerAuth):
            return "trigger"
    return None


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title="crmhub API",
        version=__version__,
        summary="Connections, jobs, runs, the hub's records, users and tokens.",
        description="Errors are problem JSON (RFC 9457). Lists take `limit` and `cursor` and give a "
        "`next` link. Authenticate with `Authorization: Bearer <personal token>`, or with the session "
        "cookie of POST /auth/login plus its CSRF token in `X-CSRF-Token` on unsafe requests.",
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = problems.Problem.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for name, sub in components["schemas"]["Problem"].pop("$defs", {}).items():
        components["schemas"].setdefault(name, sub)
    components["schemas"].pop("HTTPValidationError", None)
    components["schemas"].pop("ValidationError", None)
    by_path = {(path, method.lower()): route for method, path, route in api_routes(app)}
    problem_content = {problems.PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            route = by_path.get((path, method))
            needs = route_auth(route) if route is not None else None
            operation["x-crmhub-auth"] = needs or "public"
            responses = operation.setdefault("responses", {})
            for answer in responses.values():  # FastAPI adds "type: string" beside a non-JSON body's $ref
                for media in answer.get("content", {}).values():
                    if "$ref" in media.get("schema", {}):
                        media["schema"] = {"$ref": media["schema"]["$ref"]}
            for code, description in _STANDARD_ERRORS.items():
                responses[code] = {"description": description, "content": problem_content}
            if needs is None:
                operation.pop("security", None)
    app.openapi_schema = schema
    return schema


def _stop(part: Any) -> None:
    if isinstance(part, Notifier):
        part.close()
        return
    try:
        part.stop(wait=True)
    except TypeError:  # a stop() without options
        part.stop()


def create_app(
    hub: HubService,
    *,
    executor: RunSubmitter | None = None,
    notifier: Notifier | None = None,
    login_policy: LoginPolicy | None = None,
    public_url: str | None = None,
    background: Sequence[Any] = (),
    on_shutdown: Callable[[], None] | None = None,
    api_threads: int | None = None,
    clock: Clock = utcnow,
    docs: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    query_timeout: float | None = DEFAULT_QUERY_TIMEOUT,
) -> FastAPI:
    """The API over ``hub``; runs go to ``executor`` (default: an in-process pool that notifies).

    The app's lifespan starts (``start()``) and stops (``stop()``, or ``close()`` for a notifier)
    what it made itself and what ``background`` lists (the executor, the scheduler …); an executor
    passed in without being listed in ``background`` belongs to the caller. ``api_threads`` caps the
    worker threads of quick routes (process-wide): a few threads contend less for the GIL than
    anyio's default 40 and serve more requests per second; routes that wait on a CRM have their own.
    ``clock`` is what sessions and tokens take for now (tests move it instead of sleeping).
    ``docs`` serves the interactive docs and the OpenAPI document (``crmhub serve`` turns them off
    on a non-loopback address unless ``CRMHUB_API_DOCS=on``); ``max_body_bytes`` bounds every
    request body (see ``crmhub.api.guard``).
    """
    owned: list[Any] = list(background)
    if executor is None:
        notifier = notifier or Notifier(hub, public_url=public_url)
        executor = NotifyingExecutor(InProcessExecutor(hub), notifier)
        owned += [notifier, executor]

    ctx = ApiContext(
        hub=hub,
        executor=executor,
        users=UserService(hub, policy=login_policy or LoginPolicy()),
        tokens=TokenService(hub, clock=clock),
        jobs=JobService(hub),
        connections=ConnectionService(hub),
        notifier=notifier,
        public_url=public_url.rstrip("/") if public_url else None,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if api_threads is not None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = api_threads
        for part in owned:
            if hasattr(part, "start"):
                part.start()
        try:
            yield
        finally:
            for part in reversed(owned):  # the scheduler, then the executor, then the notifier
                _stop(part)
            if on_shutdown is not None:
                on_shutdown()

    app = FastAPI(
        title="crmhub API",
        version=__version__,
        openapi_url=f"{PREFIX}/openapi.json" if docs else None,
        docs_url=None,  # crmhub.api.docs serves it, with its assets
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.crmhub = ctx
    problems.install(app)
    if docs:
        api_docs.install(
            app, docs_url=f"{PREFIX}/docs", openapi_url=f"{PREFIX}/openapi.json", title=app.title
        )
    app.state.crmhub_routers = []
    for module in (auth, users, tokens, connections, jobs, trigger, runs, hub_router):
        app.include_router(module.router, prefix=PREFIX)
        app.state.crmhub_routers.append(module.router)
    app.state.crmhub_paths = [
        (compile_path(path)[0], _methods(route)) for _method, path, route in api_routes(app)
    ]
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    web.mount(app)  # the console's pages at / (crmhub.web)
    # Outermost last: the body limit refuses before anything else runs (and adds the headers itself).
    app.add_middleware(SecurityHeaders, docs_paths=(f"{PREFIX}/docs",) if docs else ())
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, query_timeout=query_timeout)
    return app
