import os
import stat

import pytest

from crmhub.config import Settings, generate_secret_key, get_settings
from crmhub.core.errors import ConfigError


@pytest.mark.parametrize("value", ["changeme", "secret", ""], ids=["changeme", "secret", "empty"])
def test_a_placeholder_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CRMHUB_SECRET_KEY", value)
    with pytest.raises(ConfigError, match="placeholder"):
        get_settings()


def test_a_malformed_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMHUB_SECRET_KEY", "not-a-fernet-key")
    with pytest.raises(ConfigError, match="not a Fernet key"):
        get_settings()


def test_defaults_put_the_sqlite_hub_in_the_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("CRMHUB_DATABASE_URL", raising=False)
    monkeypatch.setenv("CRMHUB_HOME", str(tmp_path / "data"))
    settings = get_settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'hub.db'}"
    with pytest.raises(ConfigError, match="run `crmhub init`"):
        settings.fernet_key()


def test_init_writes_a_private_key_file_and_keeps_it(hub) -> None:
    path = hub.settings.secret_key_path
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600
    key = path.read_text().strip()
    hub.init()
    assert path.read_text().strip() == key


def test_the_key_from_the_environment_wins(tmp_path) -> None:
    key = generate_secret_key()
    settings = Settings(home=tmp_path, secret_key=key)
    assert settings.fernet_key() == key
    assert key not in repr(settings)


def test_file_roots_default_to_the_data_folders_files(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMHUB_FILE_ROOTS", raising=False)
    assert Settings(home=tmp_path).resolved_file_roots == [tmp_path.resolve() / "files"]


@pytest.mark.parametrize(
    "value",
    ['["{a}", "{b}"]', "{a}" + os.pathsep + "{b}"],
    ids=["a JSON list", "paths joined like PATH"],
)
def test_file_roots_come_from_the_environment_resolved(
    tmp_path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    a, b = tmp_path / "a", tmp_path / "x" / ".." / "b"
    monkeypatch.setenv("CRMHUB_FILE_ROOTS", value.format(a=a, b=b))
    assert get_settings().resolved_file_roots == [a.resolve(), (tmp_path / "b").resolve()]


def test_a_malformed_file_roots_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMHUB_FILE_ROOTS", '["/srv/files"')
    with pytest.raises(ConfigError, match="CRMHUB_FILE_ROOTS"):
        get_settings()
