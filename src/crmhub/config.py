"""Settings: environment variables with the ``CRMHUB_`` prefix (pydantic-settings).

* ``CRMHUB_HOME`` — the data folder (default ``./.crmhub``).
* ``CRMHUB_DATABASE_URL`` — SQLAlchemy URL of the hub store (default: ``hub.db`` in the data folder).
* ``CRMHUB_SECRET_KEY`` — the Fernet key that encrypts connection credentials at rest. When unset,
  the key in ``<home>/secret.key`` is used (``crmhub init`` writes one there with mode 0600).
* ``CRMHUB_FILE_ROOTS`` — the folders whose files connections (CSV) may read and write: a JSON list
  (``["/srv/exports", "/data/in"]``) or paths separated by ``os.pathsep`` (``/srv/exports:/data/in``).
  Default: ``<home>/files``. A connection whose path resolves (symlinks and ``..`` included) outside
  every root is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from crmhub.core.errors import ConfigError

SECRET_KEY_FILE = "secret.key"
#: The default file root, under the data folder.
FILES_DIR = "files"
#: Values people paste from examples; refused everywhere.
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "your-secret-key", "xxx", "todo", "<secret>"}


def _check_fernet_key(raw: str, *, origin: str) -> str:
    value = raw.strip()
    if value.lower() in _PLACEHOLDERS:
        raise ConfigError(
            f"the secret key from {origin} is a placeholder",
            hint="remove it to let `crmhub init` generate one, or set CRMHUB_SECRET_KEY to the output of "
            "`crmhub init --print-key`",
        )
    try:
        decoded = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        decoded = b""
    if len(decoded) != 32:
        raise ConfigError(
            f"the secret key from {origin} is not a Fernet key (32 url-safe base64-encoded bytes)",
            hint="generate one with `crmhub init --print-key`",
        )
    return value


class Settings(BaseSettings):
    """crmhub's settings; read once per process through :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="CRMHUB_", extra="ignore")

    home: Path = Path(".crmhub")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    #: Rows per transaction on the bulk upsert path.
    upsert_batch_size: int = 5000
    #: An inbound read the CRM estimates at this many records or more continues in a reader process
    #: (fetching, parsing, hashing and mapping on another core); 0 keeps every read in the run's process.
    read_process_min_records: int = Field(default=50_000, ge=0)
    #: Folders whose files connections may use (None: ``<home>/files``); see :attr:`resolved_file_roots`.
    file_roots: Annotated[list[Path] | None, NoDecode] = None
    #: Hosts (names, ``*.suffix`` patterns, IP addresses or networks) connections and webhooks may
    #: reach besides each CRM's own hosts (see ``crmhub.connectors.egress``).
    connection_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Whether connections and webhooks may reach this machine (the bundled emulators, a local receiver).
    egress_loopback: bool = True

    @field_validator("connection_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        # From the environment: a JSON list, or names separated by commas or spaces.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ConfigError(
                        f"CRMHUB_CONNECTION_HOSTS is not a JSON list: {text!r}",
                        hint='write ["crm.example.com", "10.0.0.0/8"] or crm.example.com,10.0.0.0/8',
                    ) from None
            return [part for part in text.replace(",", " ").split() if part]
        return value

    @field_validator("file_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        # From the environment: a JSON list, or paths joined like PATH; empty means the default.
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ConfigError(
                        f"CRMHUB_FILE_ROOTS is not a JSON list: {text!r}",
                        hint=f'write ["/a", "/b"] or /a{os.pathsep}/b',
                    ) from None
            return [part.strip() for part in text.split(os.pathsep) if part.strip()]
        return value

    @field_validator("secret_key")
    @classmethod
    def _valid_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        return SecretStr(_check_fernet_key(value.get_secret_value(), origin="CRMHUB_SECRET_KEY"))

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'hub.db'}"

    @property
    def resolved_file_roots(self) -> list[Path]:
        """The allowed file roots, absolute with symlinks resolved (default ``<home>/files``)."""
        if self.file_roots is None:
            return [self.resolved_home / FILES_DIR]
        return [root.expanduser().resolve() for root in self.file_roots]

    @property
    def secret_key_path(self) -> Path:
        return self.resolved_home / SECRET_KEY_FILE

    def fernet_key(self) -> str:
        """The secret key from the environment or the data folder; ConfigError if neither has one."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.secret_key_path
        if not path.exists():
            raise ConfigError(
                f"no secret key: CRMHUB_SECRET_KEY is unset and {path} does not exist",
                hint="run `crmhub init` to generate one",
            )
        return _check_fernet_key(path.read_text(encoding="ascii"), origin=str(path))


def generate_secret_key() -> str:
    """A fresh Fernet key (url-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def write_secret_key(path: Path) -> str:
    """Create ``path`` holding a new key with mode 0600; refuses to overwrite an existing key."""
    key = generate_secret_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key


def get_settings() -> Settings:
    """Settings from the environment (not cached: the CLI and tests change the environment)."""
    try:
        return Settings()
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic wraps validator errors
        cause = exc.__cause__ if isinstance(exc.__cause__, ConfigError) else None
        for err in getattr(exc, "errors", lambda: [])():
            ctx_err = err.get("ctx", {}).get("error")
            if isinstance(ctx_err, ConfigError):
                cause = ctx_err
        if cause is not None:
            raise cause from None
        raise ConfigError(f"invalid settings: {exc}") from None
