"""Where crmhub may send credentials and data: an allow-list per connector kind, and no private networks.

A connection's endpoints (Salesforce ``login_url`` and ``instance_url``, HubSpot ``base_url`` …) must
name a host of the CRM itself (each kind lists its hosts in the registry: ``*.salesforce.com``,
``api.hubapi.com`` …), a host the operator allowed (``CRMHUB_CONNECTION_HOSTS``: host names,
``*.suffix`` patterns, IP addresses or networks), or loopback — this machine, where the bundled
emulators run (``CRMHUB_EGRESS_LOOPBACK=off`` refuses it). Anything else is refused when the
connection is saved and again when it is opened, so a user who may edit connections cannot point one
at a server of theirs and press "test" to receive its secrets.

Webhook URLs may name any public host, but never a private, link-local (cloud metadata,
``169.254.169.254``), unique-local, multicast or reserved address — checked on the addresses the
host resolves to, right before each delivery — unless the operator allowed that host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from crmhub.core.errors import ValidationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EndpointNotAllowedError(ValidationError):
    """A URL names a host crmhub may not send credentials or data to (HTTP 422)."""


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise EndpointNotAllowedError(f"{url!r} is not an http(s) URL with a host")
    return host.lower().rstrip(".")


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _matches(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower().rstrip(".")
    if not pattern:
        return False
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    if "/" in pattern:
        address = _address(host)
        try:
            return address is not None and address in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    return host == pattern


def forbidden_address(address: Address, *, loopback: bool = True) -> str | None:
    """Why crmhub does not send to ``address`` by default (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_private:
        return "a private-network address"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "a reserved address"
    return None


def check_endpoint(
    url: str,
    *,
    what: str,
    kind_hosts: Sequence[str],
    allowed: Sequence[str] = (),
    loopback: bool = True,
) -> None:
    """EndpointNotAllowedError unless ``url``'s host is one of the CRM's, allowed, or loopback."""
    host = _host(url)
    if any(_matches(host, p) for p in (*kind_hosts, *allowed)):
        return
    address = _address(host)
    if loopback and (host == "localhost" or (address is not None and address.is_loopback)):
        return
    shown = ", ".join(kind_hosts) or "none"
    raise EndpointNotAllowedError(
        f"{what} {url!r} names {host}, which is not a host of this CRM ({shown}) nor one the operator allowed",
        hint="use the CRM's own address, or have the operator add the host to CRMHUB_CONNECTION_HOSTS",
    )


def check_destination(
    url: str,
    *,
    what: str,
    allowed: Sequence[str] = (),
    loopback: bool = True,
    resolve: bool = True,
) -> None:
    """EndpointNotAllowedError when ``url``'s host is, or resolves to, an address crmhub does not send
    to (see :func:`forbidden_address`), unless the host is allowed by name or network."""
    host = _host(url)
    if any(_matches(host, p) for p in allowed):
        return
    address = _address(host)
    addresses: Iterable[Address]
    if address is not None:
        addresses = [address]
    elif host == "localhost":
        addresses = [ipaddress.ip_address("127.0.0.1")]
    elif resolve:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return  # unknown here: the request itself will fail, to no server
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    else:
        return
    for candidate in addresses:
        reason = forbidden_address(candidate, loopback=loopback)
        if reason is not None and not any(_matches(str(candidate), p) for p in allowed):
            raise EndpointNotAllowedError(
                f"{what} {url!r} leads to {candidate}, {reason}; crmhub does not send there",
                hint="use a public address, or have the operator add the host to CRMHUB_CONNECTION_HOSTS",
            )
