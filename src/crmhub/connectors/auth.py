"""The one auth helper every HTTP connector picks from: OAuth2 token flows and API-key headers.

* :class:`OAuth2` obtains access tokens from a token endpoint with the ``refresh_token``,
  ``client_credentials`` or ``password`` grant (the form is built by :func:`oauth_form`, which names
  every missing credential), remembers when they expire, keeps a rotated refresh token, and hands the
  whole token response to ``on_token`` (Salesforce's ``instance_url``, Zoho's ``api_domain``).
* :class:`ApiKeyAuth` sends a static key in a header (HubSpot's private-app token, Pipedrive's
  ``x-api-token``); it cannot be refreshed.

The rule for an expired token lives in one place, :meth:`crmhub.connectors.http.ApiClient.request`:
a REFRESH verdict refreshes once and retries; a token refused right after it was obtained means
the credentials are bad (:class:`~crmhub.connectors.errors.AuthenticationError`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import httpx
import orjson
from pydantic import SecretStr

from crmhub.connectors.errors import AuthenticationError, TransientConnectorError
from crmhub.connectors.redact import redact

__all__ = ["ApiKeyAuth", "Flow", "OAuth2", "TokenResponseHook", "oauth_form", "secret"]

Flow = Literal["refresh_token", "client_credentials", "password"]
#: Called with every successful token response (to learn the API host it names, …).
TokenResponseHook = Callable[[dict[str, Any]], None]
#: Refresh a token this long before the CRM says it expires.
EXPIRY_MARGIN_SECONDS = 60.0
#: Which credentials each flow needs, in the order they are named when missing.
FLOW_NEEDS: Mapping[str, tuple[str, ...]] = {
    "refresh_token": ("client_id", "client_secret", "refresh_token"),
    "client_credentials": ("client_id", "client_secret"),
    "password": ("username", "password"),
}


def secret(value: SecretStr | str | None) -> str | None:
    """The plain text of an optional secret (``None`` and ``""`` stay empty)."""
    if value is None:
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text or None


def oauth_form(
    crm: str,
    flow: Flow,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    extra: Mapping[str, str] | None = None,
    optional: tuple[str, ...] = (),
) -> dict[str, str]:
    """The token request form of ``flow``; names every credential the flow needs and lacks.

    ``optional`` lists needed names the CRM does without (Salesforce's password flow may omit the
    client secret of some connected apps).
    """
    given = {
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
        "username": username,
        "password": password,
    }
    needs = FLOW_NEEDS[flow]
    missing = [name for name in needs if not given[name] and name not in optional]
    if missing:
        raise AuthenticationError(
            f"{crm} OAuth connection lacks {', '.join(missing)}",
            hint=f"set {', '.join(needs)} in the connection's credentials ({flow.replace('_', ' ')} flow)",
        )
    form: dict[str, str] = {"grant_type": flow}
    for name in ("client_id", "client_secret", *needs):
        value = given[name]
        if value:
            form[name] = value
    form.update(extra or {})
    return form


def _error_of(body: Any) -> tuple[str | None, str]:
    """(code, message) of a token endpoint's error body (OAuth ``error`` or a CRM ``status``)."""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("error") or (body.get("status") if body.get("status") != "error" else None)
    code = code or body.get("code")
    message = body.get("error_description") or body.get("message") or ""
    return (str(code) if code else None), str(message)


class OAuth2:
    """Access tokens from a token endpoint; ``headers()`` obtains one when there is none or it expired.

    Args:
        crm: the CRM's name for messages.
        token_url: the token endpoint (or a function giving it, for hosts learnt late).
        form: the token request form (or a function building it — it may raise
            :class:`AuthenticationError` naming what is missing).
        http: the client that posts the form.
        scheme: the ``Authorization`` scheme (``Bearer``; Zoho: ``Zoho-oauthtoken``).
        on_token: called with each successful token response.
        hint: what to do when the endpoint refuses the credentials.
    """

    def __init__(
        self,
        *,
        crm: str,
        token_url: str | Callable[[], str],
        form: Mapping[str, str] | Callable[[], Mapping[str, str]],
        http: httpx.Client,
        scheme: str = "Bearer",
        on_token: TokenResponseHook | None = None,
        hint: str = "check the connection's credentials (`crmhub connections test`)",
    ) -> None:
        self.crm = crm
        self._token_url = token_url
        self._form = form
        self._http = http
        self.scheme = scheme
        self._on_token = on_token
        self._hint = hint
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: float | None = None
        self._rotated_refresh: str | None = None
        #: Token responses obtained so far (for tests and usage).
        self.obtained = 0

    @property
    def refreshable(self) -> bool:
        return True

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or (self._expires_at is not None and time.monotonic() >= self._expires_at):
                self._obtain()
            return {"Authorization": f"{self.scheme} {self._token}"}

    def refresh(self) -> bool:
        with self._lock:
            self._obtain()
            return True

    def token_url(self) -> str:
        return self._token_url() if callable(self._token_url) else self._token_url

    def _obtain(self) -> None:
        form = dict(self._form() if callable(self._form) else self._form)
        if self._rotated_refresh and form.get("grant_type") == "refresh_token":
            form["refresh_token"] = self._rotated_refresh
        url = self.token_url()
        try:
            response = self._http.post(url, data=form)
        except httpx.TransportError as exc:
            raise TransientConnectorError(
                redact(f"{self.crm} token request at {url} failed: {exc}")
            ) from None
        body: Any
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not token:
            code, message = _error_of(body)
            status = response.status_code
            if status >= 500 or status == 429:
                raise TransientConnectorError(
                    redact(f"{self.crm} token request answered {status}: {message}"), status=status
                )
            detail = " ".join(p for p in (str(status), code or "") if p)
            raise AuthenticationError(
                redact(f"{self.crm} token request failed ({detail}: {message})"),
                code=code,
                status=status,
                hint=self._hint,
            )
        self._token = str(token)
        self.obtained += 1
        if body.get("refresh_token") and form.get("grant_type") == "refresh_token":
            self._rotated_refresh = str(body["refresh_token"])  # the CRM may rotate it
        lifetime = body.get("expires_in")
        self._expires_at = (
            time.monotonic() + max(0.0, float(lifetime) - EXPIRY_MARGIN_SECONDS)
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else None
        )
        if self._on_token is not None:
            self._on_token(body)


class ApiKeyAuth:
    """A static key in one header; empty keys are refused with what to do."""

    def __init__(
        self, *, crm: str, key: str | None, header: str = "Authorization", prefix: str = "Bearer"
    ) -> None:
        self.crm = crm
        self._key = key
        self._header = header
        self._prefix = prefix

    @property
    def refreshable(self) -> bool:
        return False

    def headers(self) -> dict[str, str]:
        if not self._key:
            raise AuthenticationError(
                f"{self.crm} connection has no API key / access token",
                hint="paste the key (private app access token) into the connection's credentials",
            )
        return {self._header: f"{self._prefix} {self._key}" if self._prefix else self._key}

    def refresh(self) -> bool:
        return False
