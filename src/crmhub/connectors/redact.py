"""Scrub secrets from anything that may reach a log, an error message or a run event."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"
#: Names whose values are secret wherever they appear (query strings, forms, JSON, headers).
SECRET_NAMES = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "api_token",
        "api_key",
        "apikey",
        "token",
        "code",
        "session_id",
        "sessionid",
        "authorization",
        "x-api-token",
        "security_token",
        "assertion",
        "private_key",
    }
)

_NAMES = "|".join(sorted((re.escape(n) for n in SECRET_NAMES), key=len, reverse=True))
_PATTERNS = [
    # Authorization: Bearer <token> / Basic <b64>
    (re.compile(r"(?i)\b(bearer|basic|oauth)\s+[A-Za-z0-9._~+/=!\-]+"), r"\1 " + REDACTED),
    # name=value in query strings and forms
    (re.compile(rf"(?i)\b({_NAMES})=([^&\s\"']+)"), r"\1=" + REDACTED),
    # "name": "value" in JSON
    (re.compile(rf'(?i)"({_NAMES})"\s*:\s*"[^"]*"'), r'"\1": "' + REDACTED + '"'),
    # Salesforce session ids (orgId!token)
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]+"), REDACTED),
]


def redact(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str) -> str:
    """A URL with secret query parameters and user info replaced."""
    parts = urlsplit(url)
    query = urlencode(
        [
            (k, REDACTED if k.lower() in SECRET_NAMES else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
