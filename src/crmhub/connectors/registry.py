"""The connectors crmhub knows, and what each needs to be configured.

Each entry names a pydantic model for its settings (stored in the clear) and one for its
credentials (encrypted at rest; ``SecretStr`` fields), and where its class lives, imported only when
used — so listing connectors costs nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from crmhub.core.errors import ConfigError


@dataclass(frozen=True)
class ConnectorSpec:
    kind: str
    label: str
    description: str
    settings_model: type[BaseModel]
    credentials_model: type[BaseModel]
    #: "package.module:ClassName"; the class takes (settings, credentials, **options).
    factory: str
    #: Settings that name local files or folders: confined to the allowed file roots (the class then
    #: also takes the option ``file_roots``, and checks again whenever it opens a file).
    path_settings: tuple[str, ...] = ()
    #: Settings that name where credentials are sent (URLs): their hosts must be the CRM's own
    #: (``hosts``), allowed by the operator, or loopback (see ``crmhub.connectors.egress``).
    url_settings: tuple[str, ...] = ()
    #: Host names and ``*.suffix`` patterns of the CRM's real endpoints.
    hosts: tuple[str, ...] = ()

    def fields(self) -> dict[str, list[dict[str, Any]]]:
        """What the CLI, API and UI ask for: name, type, required, secret, description."""

        def describe(model: type[BaseModel], secret: bool) -> list[dict[str, Any]]:
            return [
                {
                    "name": name,
                    "required": info.is_required(),
                    "secret": secret,
                    "description": info.description or "",
                    "default": None if info.is_required() else info.default,
                }
                for name, info in model.model_fields.items()
            ]

        return {
            "settings": describe(self.settings_model, False),
            "credentials": describe(self.credentials_model, True),
        }

    def validate(self, settings: dict[str, Any], credentials: dict[str, Any]) -> tuple[BaseModel, BaseModel]:
        try:
            return self.settings_model.model_validate(settings), self.credentials_model.model_validate(
                credentials
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{self.label} connection: {problems}") from None

    def create(self, settings: dict[str, Any], credentials: dict[str, Any], **options: Any) -> Any:
        module_name, _, class_name = self.factory.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        parsed_settings, parsed_credentials = self.validate(settings, credentials)
        return cls(parsed_settings, parsed_credentials, **options)


@dataclass(frozen=True)
class ConnectorRecipe:
    """Everything needed to open one stored connection's connector again, in another process too.

    It is handed only to processes crmhub starts itself (a run's reader process, over a pipe); the
    credentials never show in its ``repr``.
    """

    kind: str
    settings: dict[str, Any]
    credentials: dict[str, Any] = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Any:
        return get(self.kind).create(self.settings, self.credentials, **self.options)


_REGISTRY: dict[str, ConnectorSpec] = {}


def register(spec: ConnectorSpec) -> ConnectorSpec:
    _REGISTRY[spec.kind] = spec
    return spec


def get(kind: str) -> ConnectorSpec:
    _load_builtin()
    try:
        return _REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown connector kind {kind!r}", hint=f"available: {known}") from None


def available() -> list[ConnectorSpec]:
    _load_builtin()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


_BUILTIN_SPECS = (
    "crmhub.connectors.csv.spec",
    "crmhub.connectors.salesforce.spec",
    "crmhub.connectors.hubspot.spec",
    "crmhub.connectors.zoho.spec",
)
_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_SPECS:
        importlib.import_module(module)
