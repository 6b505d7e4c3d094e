"""Issued OAuth tokens of one emulator: access tokens with a lifetime, refresh tokens without."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Literal

from crmhub.emulators._common.clock import EmulatorClock

TokenState = Literal["valid", "expired", "unknown"]


@dataclass
class IssuedToken:
    """One access token: when it expires (epoch ms; ``None`` never) and whom it belongs to."""

    value: str
    expires_ms: int | None
    subject: str


class TokenStore:
    """Issues, checks and expires tokens against the emulator clock.

    Static tokens (a HubSpot private-app token) are always valid unless revoked with ``include_static``.
    """

    def __init__(self, clock: EmulatorClock, *, lifetime_seconds: float, prefix: str = "") -> None:
        self.clock = clock
        self.lifetime_seconds = lifetime_seconds
        self.prefix = prefix
        self._access: dict[str, IssuedToken] = {}
        self._refresh: dict[str, str] = {}
        self._static: set[str] = set()
        self._revoked_static: set[str] = set()
        self._lock = threading.Lock()

    def add_static(self, token: str) -> None:
        """Accept ``token`` forever (e.g. a private-app token)."""
        self._static.add(token)

    def issue_access(self, subject: str = "", *, value: str | None = None) -> IssuedToken:
        """A new access token valid for the configured lifetime from now."""
        token = value or self.prefix + secrets.token_urlsafe(48)
        expires = self.clock.now_ms() + int(self.lifetime_seconds * 1000) if self.lifetime_seconds else None
        issued = IssuedToken(token, expires, subject)
        with self._lock:
            self._access[token] = issued
        return issued

    def issue_refresh(self, subject: str = "", *, value: str | None = None) -> str:
        """A new refresh token (never expires unless revoked)."""
        token = value or secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[token] = subject
        return token

    def refresh_subject(self, token: str) -> str | None:
        """Who a refresh token belongs to, or ``None`` when it is unknown."""
        return self._refresh.get(token)

    def check(self, token: str) -> TokenState:
        """Whether an access token is valid, expired, or was never issued."""
        if token in self._static:
            return "expired" if token in self._revoked_static else "valid"
        issued = self._access.get(token)
        if issued is None:
            return "unknown"
        if issued.expires_ms is not None and self.clock.now_ms() >= issued.expires_ms:
            return "expired"
        return "valid"

    def get(self, token: str) -> IssuedToken | None:
        """The issued access token record, if any."""
        return self._access.get(token)

    def expire_all(self, *, include_static: bool = False) -> int:
        """Make every access token issued so far invalid; returns how many were still valid."""
        now = self.clock.now_ms()
        count = 0
        with self._lock:
            for issued in self._access.values():
                if issued.expires_ms is None or issued.expires_ms > now:
                    issued.expires_ms = now
                    count += 1
            if include_static:
                count += len(self._static - self._revoked_static)
                self._revoked_static |= self._static
        return count

    def restore_static(self) -> None:
        """Accept revoked static tokens again."""
        self._revoked_static.clear()
