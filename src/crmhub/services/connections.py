"""Connections: add, update, list, test, and open a connector for a stored connection.

Settings that name local files (a CSV connection's ``path``) must resolve inside the allowed file
roots (``CRMHUB_FILE_ROOTS``): checked when a connection is added or updated, and again by the
connector whenever it opens a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from crmhub.connectors import registry
from crmhub.connectors.base import ConnectionCheck, Connector
from crmhub.connectors.egress import check_endpoint
from crmhub.connectors.files import confine
from crmhub.core.errors import ValidationError
from crmhub.services.hub import SYSTEM_ACTOR, HubService
from crmhub.store import audit
from crmhub.store import connections as repo
from crmhub.store.connections import Vault
from crmhub.store.models import Connection
from crmhub.sync.readahead import ReadProcess

#: Said of a CSV connection without ``id_column`` (when it is added or tested, and by each run of a
#: file that has no ``id`` column either).
CSV_ROW_NUMBER_IDS = (
    "no id_column is set: a file without an 'id' column uses its row numbers as record ids, so "
    "reordering, sorting or inserting rows relinks records to other hub records; set one with "
    "`crmhub connections update NAME --set id_column=COLUMN`"
)


def connection_warnings(kind: str, settings: Mapping[str, Any]) -> list[str]:
    """What a connection's settings risk, though they are valid (shown at add, update and test)."""
    if kind == "csv" and not settings.get("id_column"):
        return [CSV_ROW_NUMBER_IDS]
    return []


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

    @property
    def warnings(self) -> list[str]:
        return connection_warnings(self.kind, self.settings)


class ConnectionService:
    def __init__(self, hub: HubService) -> None:
        self.hub = hub
        self.db = hub.db

    def vault(self) -> Vault:
        return Vault(self.hub.settings.fernet_key())

    def _check_paths(self, spec: registry.ConnectorSpec, settings: BaseModel) -> BaseModel:
        """PathNotAllowedError when a file setting resolves outside ``CRMHUB_FILE_ROOTS``."""
        roots = self.hub.settings.resolved_file_roots
        for name in spec.path_settings:
            value = getattr(settings, name, None)
            if value is not None:  # an empty path is refused too (it would name the working folder)
                # Stored absolute: a relative path means "inside the first file root", for the
                # connector too (which would otherwise read it relative to its working folder).
                absolute = confine(value, roots, what=f"the {spec.label} connection's {name}")
                settings = settings.model_copy(update={name: str(absolute)})
        # A CA bundle named by path is a server file like any other: inside the file roots.
        bundle = getattr(settings, "verify_tls", None)
        if isinstance(bundle, str):
            absolute = confine(bundle, roots, what=f"the {spec.label} connection's verify_tls CA bundle")
            settings = settings.model_copy(update={"verify_tls": str(absolute)})
        return settings

    def _check_endpoints(self, spec: registry.ConnectorSpec, settings: BaseModel | Mapping[str, Any]) -> None:
        """EndpointNotAllowedError when a URL setting names a host credentials may not go to."""
        options = self.hub.settings
        for name in spec.url_settings:
            value = settings.get(name) if isinstance(settings, Mapping) else getattr(settings, name, None)
            if value:
                check_endpoint(
                    str(value),
                    what=f"the {spec.label} connection's {name}",
                    kind_hosts=spec.hosts,
                    allowed=options.connection_hosts,
                    loopback=options.egress_loopback,
                )

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
        parsed_settings = self._check_paths(spec, parsed_settings)
        self._check_endpoints(spec, parsed_settings)
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

    def update(
        self,
        name: str,
        *,
        settings: Mapping[str, Any] | None,
        credentials: Mapping[str, Any] | None,
        actor: str = SYSTEM_ACTOR,
        trusted: bool = False,
    ) -> ConnectionView:
        """Change settings and/or credentials (merged; a null value removes one). Credentials stay sealed.

        Changing where the credentials are sent (a URL setting) needs every stored credential given
        again in the same update, unless the caller is ``trusted`` (an admin, the local CLI): else
        whoever may edit connections could send the stored secrets to a server of theirs.
        """
        vault = self.vault()
        with self.db.begin() as session:
            connection = repo.get_connection(session, name)
            new_settings = dict(connection.settings)
            for key, value in (settings or {}).items():
                if value is None:
                    new_settings.pop(key, None)
                else:
                    new_settings[key] = value
            new_credentials = repo.read_credentials(vault, connection)
            for key, value in (credentials or {}).items():
                if value in (None, ""):
                    new_credentials.pop(key, None)
                else:
                    new_credentials[key] = value
            spec = registry.get(connection.kind)
            parsed, _ = spec.validate(new_settings, new_credentials)
            parsed = self._check_paths(spec, parsed)
            self._check_endpoints(spec, parsed)
            old_settings = dict(connection.settings)
            connection.settings = parsed.model_dump(mode="json", exclude_none=True)
            moved = [n for n in spec.url_settings if old_settings.get(n) != connection.settings.get(n)]
            stored = set(repo.read_credentials(vault, connection))
            given = {k for k, v in (credentials or {}).items() if v not in (None, "")}
            if moved and not trusted and not stored <= given:
                raise ValidationError(
                    f"changing {', '.join(moved)} of connection {connection.name!r} sends its stored "
                    "credentials to another address: give them again in the same change "
                    f"({', '.join(sorted(stored - given))})",
                    hint="or ask an admin to make the change",
                )
            if credentials:
                repo.update_credentials(session, vault, connection, new_credentials)
            connection.status, connection.status_message = "untested", ""
            audit.record_event(
                session,
                actor=actor,
                action="update",
                object_kind="connection",
                object_name=connection.name,
                details={
                    # Old and new value of every setting that changed (settings hold no secrets).
                    "settings": {
                        key: [old_settings.get(key), connection.settings.get(key)]
                        for key in sorted(set(old_settings) | set(connection.settings))
                        if old_settings.get(key) != connection.settings.get(key)
                    },
                    "credential_fields": sorted((credentials or {}).keys()),
                },
            )
        return self.get(name)

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
        connector: Connector = self.recipe(name_or_id, **options).open()
        return connector

    def recipe(self, name_or_id: str | int, **options: Any) -> registry.ConnectorRecipe:
        """How to open the stored connection's connector, for a process of the run's own (a reader)."""
        vault = self.vault()
        with self.db.read() as session:
            connection = repo.get_connection(session, name_or_id)
            kind, settings = connection.kind, dict(connection.settings)
            credentials = repo.read_credentials(vault, connection)
        # Again at every open: a connection saved before the policy (or under another) is held to it.
        self._check_endpoints(registry.get(kind), settings)
        if registry.get(kind).path_settings:
            options.setdefault("file_roots", self.hub.settings.resolved_file_roots)
        return registry.ConnectorRecipe(kind, settings, credentials, options)

    def read_process(self) -> ReadProcess | None:
        """How a run may hand a big read to a reader process (``CRMHUB_READ_PROCESS_MIN_RECORDS``; 0: never)."""
        minimum = self.hub.settings.read_process_min_records
        return ReadProcess(self.recipe, minimum) if minimum else None

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
