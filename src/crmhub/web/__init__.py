"""The web console: server-rendered pages (Jinja2) over the API's services, at ``/``.

``mount(app)`` adds the pages and their static files (``/static``: our own CSS and script, served
from the installed package; nothing from a CDN) to the API's app. Each page module is one area of
the left navigation; see :mod:`crmhub.web._core` for sign-in, CSRF and escaping.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from crmhub.web import admin, builder, connections, hub, jobs, pages, runs

__all__ = ["mount"]

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Serve the console on ``app``: its pages at ``/`` and its assets under ``/static``."""
    # The builder's fixed paths (/build/…) and the other areas never overlap the job pages.
    for module in (pages, builder, jobs, runs, connections, hub, admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
