"""The interactive API docs (Swagger UI) with every asset served by crmhub: nothing from a CDN.

Swagger UI's script and styles come from the ``fastapi-offline`` package on PyPI (installed with
crmhub, never copied into this repository); the page's own start-up script is
``crmhub/api/static/docs.js``. The page is sent with :data:`crmhub.api.guard.DOCS_CSP`, which lets
scripts and styles load from this server only.
"""

from __future__ import annotations

import html
from importlib import resources

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

#: name under ``{prefix}/docs/assets/`` → (package, file in it, media type)
ASSETS: dict[str, tuple[str, str, str]] = {
    "swagger-ui-bundle.js": ("fastapi_offline", "static/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("fastapi_offline", "static/swagger-ui.css", "text/css"),
    "favicon.png": ("fastapi_offline", "static/favicon.png", "image/png"),
    "docs.js": ("crmhub.api", "static/docs.js", "text/javascript"),
}


def _page(title: str, openapi_url: str, assets: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi="{html.escape(openapi_url)}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/docs.js"></script>
</body>
</html>
"""


def install(app: FastAPI, *, docs_url: str, openapi_url: str, title: str) -> None:
    """Serve the docs page at ``docs_url`` and its assets under ``{docs_url}/assets/``."""
    loaded = {
        name: (resources.files(package).joinpath(path).read_bytes(), media)
        for name, (package, path, media) in ASSETS.items()
    }
    page = _page(title, openapi_url, f"{docs_url}/assets")

    @app.get(docs_url, include_in_schema=False)
    def docs_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{docs_url}/assets/{{name}}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name not in loaded:
            raise HTTPException(status_code=404, detail=f"no docs asset {name!r}")
        body, media = loaded[name]
        return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=86400"})
