"""Fixtures for the emulator tests: emulators served over real loopback HTTP(S), clients, a TLS cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crmhub.emulators import EmulatorClock, HubSpotEmulator, SalesforceEmulator, serve_in_thread

#: A fixed "now" for emulators whose tests depend on dates (a Wednesday).
NOW = dt.datetime(2024, 5, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 / localhost and its key (PEM files)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def frozen_clock() -> EmulatorClock:
    """A clock standing at :data:`NOW`."""
    return EmulatorClock(NOW, frozen=True)


# -- Salesforce -----------------------------------------------------------------------------------------


@pytest.fixture
def sf() -> SalesforceEmulator:
    """A small Salesforce emulator with a frozen clock (fresh per test)."""
    return SalesforceEmulator(accounts=300, contacts=600, users=5, seed=7, clock=frozen_clock())


@pytest.fixture
def sf_url(sf: SalesforceEmulator) -> Iterator[str]:
    """The base URL of ``sf`` served over loopback HTTP."""
    with serve_in_thread(sf.app) as url:
        yield url


@pytest.fixture
def sf_client(sf: SalesforceEmulator, sf_url: str) -> Iterator[httpx.Client]:
    """An httpx client authenticated against ``sf`` (base URL ``/services/data/v62.0``)."""
    with httpx.Client(
        base_url=f"{sf_url}/services/data/v62.0", headers={"Authorization": f"Bearer {sf.issue_token()}"}
    ) as client:
        yield client


@pytest.fixture(scope="module")
def sf_ro() -> SalesforceEmulator:
    """A Salesforce emulator shared by a module's read-only tests."""
    return SalesforceEmulator(accounts=300, contacts=600, users=5, seed=7, clock=frozen_clock())


@pytest.fixture(scope="module")
def sf_ro_client(sf_ro: SalesforceEmulator) -> Iterator[httpx.Client]:
    """An authenticated client of :func:`sf_ro`."""
    with (
        serve_in_thread(sf_ro.app) as url,
        httpx.Client(
            base_url=f"{url}/services/data/v62.0", headers={"Authorization": f"Bearer {sf_ro.issue_token()}"}
        ) as client,
    ):
        yield client


# -- HubSpot ---------------------------------------------------------------------------------------------


@pytest.fixture
def hs() -> HubSpotEmulator:
    """A small HubSpot emulator with a frozen clock (fresh per test)."""
    return HubSpotEmulator(companies=300, contacts=600, owners=5, seed=7, clock=frozen_clock())


@pytest.fixture
def hs_url(hs: HubSpotEmulator) -> Iterator[str]:
    """The base URL of ``hs`` served over loopback HTTP."""
    with serve_in_thread(hs.app) as url:
        yield url


@pytest.fixture
def hs_client(hs: HubSpotEmulator, hs_url: str) -> Iterator[httpx.Client]:
    """An httpx client using ``hs``'s private-app token."""
    with httpx.Client(base_url=hs_url, headers={"Authorization": f"Bearer {hs.private_app_token}"}) as client:
        yield client


@pytest.fixture(scope="module")
def hs_ro() -> HubSpotEmulator:
    """A HubSpot emulator shared by a module's read-only tests."""
    return HubSpotEmulator(companies=300, contacts=600, owners=5, seed=7, clock=frozen_clock())


@pytest.fixture(scope="module")
def hs_ro_client(hs_ro: HubSpotEmulator) -> Iterator[httpx.Client]:
    """A private-app client of :func:`hs_ro`."""
    with (
        serve_in_thread(hs_ro.app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {hs_ro.private_app_token}"}) as client,
    ):
        yield client
