"""The web console: server-rendered pages (Jinja2) over the API's services, at ``/``.

``mount(app)`` adds the pages and their static files (``/static``: our own CSS and script, served
from the installed package; nothing from a CDN) to the API's app. Each page module is one area of
the left navigation; see :mod:`crmhub.web._core` for sign-in, CSRF and escaping. A new area
(the partner-program and account-feed pages) is a module with its own ``router`` added to
:data:`AREAS` and an entry in :data:`crmhub.web._core.NAV`; its templates extend ``base.html``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from crmhub.web import admin, builder, connections, hub, jobs, pages, runs

__all__ = ["mount"]

STATIC = Path(__file__).parent / "static"
#: The console's areas, each a module with a ``router``; the builder's fixed paths (/build/…) and
#: the other areas never overlap the job pages.
AREAS = (pages, builder, jobs, runs, connections, hub, admin)


def mount(app: FastAPI) -> None:
    """Serve the console on ``app``: its pages at ``/`` and its assets under ``/static``."""
    for module in AREAS:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
