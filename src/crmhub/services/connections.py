"""Connections: add, list, test, and open a connector for a stored connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmhub.connectors import registry
from crmhub.connectors.base import ConnectionCheck, Connector
from crmhub.services.hub import SYSTEM_ACTOR, HubService
from crmhub.store import audit
from crmhub.store import connections as repo
from crmhub.store.connections import Vault
from crmhub.store.models import Connection


@dataclass(frozen=True)
class ConnectionView:
    """What listings show: never a credential value."""

    id: int
    name: str
    kind: str
    settings: dict[str, Any]
    credential_fields: list[str]
    status: str
    status_message: str


class ConnectionService:
    def __init__(self, hub: HubService) -> None:
        self.hub = hub
        self.db = hub.db

    def vault(self) -> Vault:
        return Vault(self.hub.settings.fernet_key())

    def _view(self, connection: Connection, vault: Vault) -> ConnectionView:
        return ConnectionView(
            connection.id,
            connection.name,
            connection.kind,
            dict(connection.settings),
            repo.credential_fields(vault, connection),
            connection.status,
            connection.status_message,
        )

    def add(
        self,
        name: str,
        kind: str,
        settings: dict[str, Any],
        credentials: dict[str, Any],
        *,
        actor: str = SYSTEM_ACTOR,
    ) -> ConnectionView:
        spec = registry.get(kind)
        parsed_settings, _ = spec.validate(settings, credentials)
        clean_credentials = {k: v for k, v in credentials.items() if v not in (None, "")}
        vault = self.vault()
        with self.db.begin() as session:
            connection = repo.create_connection(
                session,
                vault,
                name=name,
                kind=kind,
                settings=parsed_settings.model_dump(mode="json", exclude_none=True),
                credentials=clean_credentials,
            )
            audit.record_event(
                session,
                actor=actor,
                action="create",
                object_kind="connection",
                object_name=name,
                details={"kind": kind, "credential_fields": sorted(clean_credentials)},
            )
            return self._view(connection, vault)

    def list(self) -> list[ConnectionView]:
        vault = self.vault()
        with self.db.read() as session:
            return [self._view(c, vault) for c in repo.list_connections(session)]

    def get(self, name: str) -> ConnectionView:
        vault = self.vault()
        with self.db.read() as session:
            return self._view(repo.get_connection(session, name), vault)

    def open(self, name_or_id: str | int, **options: Any) -> Connector:
        """A connector for the stored connection (credentials decrypted in memory only)."""
        vault = self.vault()
        with self.db.read() as session:
            connection = repo.get_connection(session, name_or_id)
            kind, settings = connection.kind, dict(connection.settings)
            credentials = repo.read_credentials(vault, connection)
        connector: Connector = registry.get(kind).create(settings, credentials, **options)
        return connector

    def test(self, name: str) -> ConnectionCheck:
        connector = self.open(name)
        try:
            check = connector.test()
        finally:
            connector.close()
        with self.db.begin() as session:
            connection = repo.get_connection(session, name)
            connection.status = "ok" if check.ok else "failing"
            connection.status_message = check.message
        return check

    def delete(self, name: str, *, actor: str = SYSTEM_ACTOR) -> None:
        with self.db.begin() as session:
            connection = repo.get_connection(session, name)
            repo.delete_connection(session, connection)
            audit.record_event(
                session, actor=actor, action="delete", object_kind="connection", object_name=name
            )
