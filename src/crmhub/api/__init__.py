"""The REST API (FastAPI) under ``/api/v1``: one router per resource, problem JSON errors, paged lists.

>>> from crmhub.api import create_app
>>> app = create_app(hub)  # doctest: +SKIP
"""

from crmhub.api.app import create_app

__all__ = ["create_app"]
