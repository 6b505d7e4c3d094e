"""hub pages."""

from __future__ import annotations

from fastapi import APIRouter

from crmhub.web._core import WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
