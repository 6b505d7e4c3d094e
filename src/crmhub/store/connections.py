"""Connections: settings in the clear, credentials encrypted with the secret key (Fernet).

Nothing here returns credentials in plain text except :func:`read_credentials`, which connectors
call to authenticate; listings expose only which credential fields are set.
"""

from __future__ import annotations

from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.core.errors import ConfigError, NotFoundError, ValidationError
from crmhub.store.models import Connection
from crmhub.store.schema import validate_name

#: How a secret sealed by :meth:`Vault.seal_text` starts (inside a job spec's JSON).
SEALED_PREFIX = "fernet:"


def seal_webhook_secrets(spec: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """A job spec (as JSON) with every webhook secret sealed: specs are stored as JSON, and a
    webhook's signing key is a secret like a connection's credentials."""
    rules = spec.get("notifications") or []
    if not any(isinstance(r, dict) and (r.get("channel") or {}).get("secret") for r in rules):
        return spec
    out = dict(spec)
    out["notifications"] = [
        {**rule, "channel": {**rule["channel"], "secret": vault.seal_text(rule["channel"]["secret"])}}
        if isinstance(rule, dict) and (rule.get("channel") or {}).get("secret")
        else rule
        for rule in rules
    ]
    return out


class Vault:
    """Encrypts and decrypts credential documents with the hub's secret key."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode("ascii"))

    def seal(self, credentials: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(orjson.dumps(credentials))

    def seal_text(self, text: str) -> str:
        """One secret (a webhook's signing key) as :data:`SEALED_PREFIX` + a Fernet token."""
        if text.startswith(SEALED_PREFIX):
            return text  # sealed already (a spec saved again as it was read)
        return SEALED_PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open_text(self, text: str) -> str:
        """The secret :meth:`seal_text` sealed; text that is not sealed is returned as it is."""
        if not text.startswith(SEALED_PREFIX):
            return text
        try:
            return self._fernet.decrypt(text[len(SEALED_PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            raise ConfigError(
                "a stored webhook secret cannot be decrypted with the current secret key",
                hint="restore the secret key it was saved with, or set the webhook's secret again",
            ) from None

    def open(self, token: bytes) -> dict[str, Any]:
        try:
            value = orjson.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise ConfigError(
                "stored credentials cannot be decrypted with the current secret key",
                hint="restore the secret key they were saved with, or enter the credentials again",
            ) from None
        if not isinstance(value, dict):
            raise ConfigError("stored credentials are not a JSON object")
        return value


def create_connection(
    session: Session,
    vault: Vault,
    *,
    name: str,
    kind: str,
    settings: dict[str, Any],
    credentials: dict[str, Any],
) -> Connection:
    validate_name(name.replace("-", "_"), what="connection")
    if session.scalar(select(Connection.id).where(Connection.name == name)) is not None:
        raise ValidationError(f"connection {name!r} already exists")
    connection = Connection(name=name, kind=kind, settings=settings, credentials=vault.seal(credentials))
    session.add(connection)
    session.flush()
    return connection


def get_connection(session: Session, name_or_id: str | int) -> Connection:
    if isinstance(name_or_id, int) or (
        isinstance(name_or_id, str)
        and name_or_id.isascii()
        and name_or_id.isdigit()
        and int(name_or_id) < 2**31
    ):
        connection = session.get(Connection, int(name_or_id))
    else:
        connection = session.scalar(select(Connection).where(Connection.name == name_or_id))
    if connection is None:
        raise NotFoundError(
            f"connection {name_or_id!r} does not exist", hint="list them with `crmhub connections list`"
        )
    return connection


def list_connections(session: Session) -> list[Connection]:
    return list(session.scalars(select(Connection).order_by(Connection.name)))


def update_credentials(
    session: Session, vault: Vault, connection: Connection, credentials: dict[str, Any]
) -> None:
    connection.credentials = vault.seal(credentials)
    session.flush()


def read_credentials(vault: Vault, connection: Connection) -> dict[str, Any]:
    return vault.open(connection.credentials) if connection.credentials else {}


def credential_fields(vault: Vault, connection: Connection) -> list[str]:
    """Which credential fields are set (names only, never values)."""
    return sorted(read_credentials(vault, connection))


def delete_connection(session: Session, connection: Connection) -> None:
    session.delete(connection)
    session.flush()
