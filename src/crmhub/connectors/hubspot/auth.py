"""HubSpot authentication: a private app's static token, or OAuth v1 access tokens from a refresh token."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson

from crmhub.connectors.errors import AuthenticationError, TransientConnectorError
from crmhub.connectors.hubspot.spec import HubSpotCredentials, HubSpotSettings
from crmhub.connectors.redact import redact

#: Refresh an OAuth token this long before HubSpot says it expires.
EXPIRY_MARGIN_SECONDS = 60.0


class HubSpotAuth:
    """Bearer headers for HubSpot calls; refreshes OAuth tokens (a private-app token cannot be refreshed)."""

    def __init__(
        self, settings: HubSpotSettings, credentials: HubSpotCredentials, http: httpx.Client
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self._http = http
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: float | None = None
        self._refresh_token = self._secret("refresh_token")
        if settings.auth_method == "private_app":
            self._token = self._secret("access_token")

    def _secret(self, name: str) -> str | None:
        value = getattr(self.credentials, name)
        return value.get_secret_value() if value is not None else None

    @property
    def refreshable(self) -> bool:
        return self.settings.auth_method == "oauth"

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self.settings.auth_method == "private_app":
                if not self._token:
                    raise AuthenticationError(
                        "HubSpot private app connection has no access token",
                        hint="paste the private app's access token into the connection's credentials",
                    )
            elif self._token is None or (
                self._expires_at is not None and time.monotonic() >= self._expires_at
            ):
                self._obtain()
            return {"Authorization": f"Bearer {self._token}"}

    def refresh(self) -> bool:
        if not self.refreshable:
            return False
        with self._lock:
            self._obtain()
            return True

    def _obtain(self) -> None:
        """A new access token from ``POST /oauth/v1/token`` (grant_type=refresh_token)."""
        form = {
            "grant_type": "refresh_token",
            "client_id": self._secret("client_id") or "",
            "client_secret": self._secret("client_secret") or "",
            "refresh_token": self._refresh_token or "",
        }
        missing = [name for name, value in form.items() if not value]
        if missing:
            raise AuthenticationError(
                f"HubSpot OAuth connection lacks {', '.join(missing)}",
                hint="set client_id, client_secret and refresh_token in the connection's credentials",
            )
        url = self.settings.base_url.rstrip("/") + "/oauth/v1/token"
        try:
            response = self._http.post(url, data=form)
        except httpx.TransportError as exc:
            raise TransientConnectorError(
                redact(f"HubSpot token refresh at {self.settings.base_url} failed: {exc}")
            ) from None
        body: Any
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            code = body.get("status") if isinstance(body, dict) else None
            message = body.get("message", "") if isinstance(body, dict) else ""
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientConnectorError(
                    redact(f"HubSpot token refresh answered {response.status_code}: {message}"),
                    status=response.status_code,
                )
            raise AuthenticationError(
                redact(f"HubSpot token refresh failed ({response.status_code} {code or ''}: {message})"),
                code=code,
                status=response.status_code,
                hint="reconnect the HubSpot app: the refresh token or client credentials are not accepted",
            )
        self._token = str(body["access_token"])
        if body.get("refresh_token"):
            self._refresh_token = str(body["refresh_token"])  # HubSpot may rotate it
        lifetime = body.get("expires_in")
        self._expires_at = (
            time.monotonic() + max(0.0, float(lifetime) - EXPIRY_MARGIN_SECONDS)
            if isinstance(lifetime, int | float)
            else None
        )
