"""OAuth2 against Salesforce's token endpoint: password, refresh-token and client-credentials flows."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import orjson

from crmhub.connectors.errors import AuthenticationError, TransientConnectorError
from crmhub.connectors.redact import redact
from crmhub.connectors.salesforce.spec import SalesforceCredentials, SalesforceSettings


class SalesforceAuth:
    """Obtains and refreshes the access token; remembers the ``instance_url`` Salesforce names."""

    def __init__(
        self, settings: SalesforceSettings, credentials: SalesforceCredentials, http: httpx.Client
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self._http = http
        self._token: str | None = None
        self.instance_url: str | None = settings.instance_url
        self._lock = threading.Lock()

    def _secret(self, name: str) -> str | None:
        value = getattr(self.credentials, name)
        return value.get_secret_value() if value is not None else None

    def _form(self) -> dict[str, str]:
        flow = self.settings.flow
        form: dict[str, str] = {"grant_type": flow}
        for name in ("client_id", "client_secret"):
            if (value := self._secret(name)) is not None:
                form[name] = value
        if flow == "password":
            if not self.settings.username or not self._secret("password"):
                raise AuthenticationError("Salesforce password flow needs a username and a password")
            form["username"] = self.settings.username
            form["password"] = (self._secret("password") or "") + (self._secret("security_token") or "")
        elif flow == "refresh_token":
            token = self._secret("refresh_token")
            if not token:
                raise AuthenticationError("Salesforce refresh_token flow needs a refresh token")
            form["refresh_token"] = token
        return form

    def login(self) -> None:
        url = self.settings.login_url.rstrip("/") + "/services/oauth2/token"
        try:
            response = self._http.post(url, data=self._form())
        except httpx.TransportError as exc:
            raise TransientConnectorError(
                f"Salesforce login at {self.settings.login_url} failed: {exc}"
            ) from None
        body: Any
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = body.get("error", "") if isinstance(body, dict) else ""
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            raise AuthenticationError(
                redact(f"Salesforce login failed ({response.status_code} {error}: {description})".strip()),
                code=error or None,
                status=response.status_code,
            )
        self._token = body["access_token"]
        if body.get("instance_url") and not self.settings.instance_url:
            self.instance_url = body["instance_url"]

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None:
                self.login()
            return {"Authorization": f"Bearer {self._token}"}

    def refresh(self) -> bool:
        with self._lock:
            self._token = None
            self.login()
            return True
