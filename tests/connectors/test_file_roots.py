"""CSV connections may use files only inside CRMHUB_FILE_ROOTS, after resolving symlinks and '..'."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from crmhub.connectors.csv import CsvConnector, CsvSettings
from crmhub.connectors.files import PathNotAllowedError
from crmhub.services.connections import ConnectionService
from crmhub.services.hub import HubService


@dataclass
class Folders:
    allowed: Path
    outside: Path


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    for folder in (allowed, outside):
        folder.mkdir()
    (allowed / "accounts.csv").write_text("id,name\nA1,Acme\n", encoding="utf-8")
    (outside / "secret.csv").write_text("id,name\nS1,Secret\n", encoding="utf-8")
    return Folders(allowed, outside)


@pytest.fixture
def connections(hub: HubService, folders: Folders) -> ConnectionService:
    """Connections of a hub that allows only ``folders.allowed``."""
    settings = hub.settings.model_copy(update={"file_roots": [folders.allowed]})
    return ConnectionService(HubService(hub.db, settings=settings))


def _read_ids(connector: CsvConnector, name: str) -> list[str]:
    return [r.id for page in connector.read(name, ["name"]) for r in page.records]


def test_given_a_folder_or_a_file_inside_a_root_when_added_then_it_is_accepted_and_read(
    connections: ConnectionService, folders: Folders
) -> None:
    connections.add("folder", "csv", {"path": str(folders.allowed)}, {})
    connections.add("file", "csv", {"path": str(folders.allowed / "accounts.csv")}, {})
    for name in ("folder", "file"):
        connector = connections.open(name)
        try:
            assert _read_ids(connector, "accounts") == ["A1"]
        finally:
            connector.close()


ESCAPES: dict[str, Callable[[Folders], str]] = {
    "an absolute path outside every root": lambda f: str(f.outside),
    "a system file": lambda f: "/etc/passwd",
    "a '..' escape from inside a root": lambda f: f"{f.allowed}/../outside/secret.csv",
    "a symlink inside a root that points outside": lambda f: _symlink(f.allowed / "link", f.outside),
}


def _symlink(link: Path, target: Path) -> str:
    link.symlink_to(target, target_is_directory=target.is_dir())
    return str(link)


@pytest.mark.parametrize("escape", list(ESCAPES), ids=list(ESCAPES))
def test_given_a_path_that_resolves_outside_the_roots_when_added_then_it_is_refused_saying_what_to_do(
    connections: ConnectionService, folders: Folders, escape: str
) -> None:
    path = ESCAPES[escape](folders)
    with pytest.raises(PathNotAllowedError) as refused:
        connections.add("files", "csv", {"path": path}, {})
    message = str(refused.value)
    assert repr(path) in message and str(folders.allowed.resolve()) in message
    assert "CRMHUB_FILE_ROOTS" in message
    assert connections.list() == []


def test_given_an_allowed_connection_when_updated_to_a_path_outside_then_it_is_refused_and_unchanged(
    connections: ConnectionService, folders: Folders
) -> None:
    connections.add("files", "csv", {"path": str(folders.allowed)}, {})
    with pytest.raises(PathNotAllowedError):
        connections.update("files", settings={"path": f"{folders.allowed}/.."}, credentials=None)
    assert connections.get("files").settings["path"] == str(folders.allowed)


def test_given_a_file_swapped_for_a_symlink_later_when_the_connector_opens_it_then_it_is_refused(
    connections: ConnectionService, folders: Folders
) -> None:
    connections.add("files", "csv", {"path": str(folders.allowed)}, {})
    (folders.allowed / "accounts.csv").unlink()
    (folders.allowed / "accounts.csv").symlink_to(folders.outside / "secret.csv")
    connector = connections.open("files")
    try:
        with pytest.raises(PathNotAllowedError, match="CRMHUB_FILE_ROOTS"):
            _read_ids(connector, "accounts")
        with pytest.raises(PathNotAllowedError):
            connector.write("accounts", [{"id": "X", "name": "x"}], mode="create")
    finally:
        connector.close()
    assert (folders.outside / "secret.csv").read_text(encoding="utf-8") == "id,name\nS1,Secret\n"


def test_given_a_root_removed_from_the_setting_when_a_stored_connection_opens_then_it_is_refused(
    hub: HubService, folders: Folders
) -> None:
    ConnectionService(hub).add("files", "csv", {"path": str(folders.outside)}, {})  # allowed: tmp_path
    narrowed = hub.settings.model_copy(update={"file_roots": [folders.allowed]})
    connector = ConnectionService(HubService(hub.db, settings=narrowed)).open("files")
    try:
        check = connector.test()
        assert not check.ok and "CRMHUB_FILE_ROOTS" in check.message
        with pytest.raises(PathNotAllowedError):
            _read_ids(connector, "secret")
    finally:
        connector.close()


def test_a_connector_made_without_roots_is_not_confined(folders: Folders) -> None:
    """Code that chose the path itself (tests, scripts) may construct the connector directly."""
    assert _read_ids(CsvConnector(CsvSettings(path=str(folders.outside))), "secret") == ["S1"]


def test_given_an_empty_or_relative_path_then_empty_is_refused_and_relative_is_inside_the_first_root(
    connections: ConnectionService, folders: Folders
) -> None:
    import os

    with pytest.raises(PathNotAllowedError, match="path is empty") as refused:
        connections.add("files", "csv", {"path": ""}, {})
    assert os.getcwd() not in str(refused.value)
    connections.add("relative", "csv", {"path": "accounts.csv"}, {})
    connector = connections.open("relative")
    try:
        assert _read_ids(connector, "accounts") == ["A1"]  # the file in the allowed folder
    finally:
        connector.close()
    with pytest.raises(PathNotAllowedError) as escaped:
        connections.add("up", "csv", {"path": "../outside/secret.csv"}, {})
    assert os.getcwd() not in str(escaped.value)


def test_given_a_ca_bundle_path_outside_the_roots_then_the_connection_is_refused(
    connections: ConnectionService, folders: Folders
) -> None:
    settings = {"login_url": "https://login.salesforce.com", "username": "u@example.com"}
    credentials = {"client_id": "c", "client_secret": "s", "password": "p" * 10}
    with pytest.raises(PathNotAllowedError, match="verify_tls CA bundle"):
        connections.add(
            "sf", "salesforce", {**settings, "verify_tls": "/etc/ssl/certs/ca-certificates.crt"}, credentials
        )
    (folders.allowed / "ca.pem").write_text("not a real bundle", encoding="utf-8")
    connections.add(
        "sf", "salesforce", {**settings, "verify_tls": str(folders.allowed / "ca.pem")}, credentials
    )
    connections.add("sf2", "salesforce", {**settings, "verify_tls": True}, credentials)
    assert [c.name for c in connections.list()] == ["sf", "sf2"]
