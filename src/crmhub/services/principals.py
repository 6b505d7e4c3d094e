"""Principals of recently checked tokens, kept for a few seconds so that each API request does not
ask the database who its token belongs to.

A token's principal is reused for at most :data:`PRINCIPAL_TTL` (and never past the token's own
expiry). Whatever can change the answer — revoking a token, ending a session, changing or deleting
a user, granting or revoking a permission set, deleting one — calls :func:`forget_principals`,
which empties the cache of this process at once. Another server process (``crmhub serve
--processes N``, or a change made with the CLI) sees such a change after at most
:data:`PRINCIPAL_TTL`. Entries are keyed by the token's SHA-256, never by the token itself.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmhub.services.users import Principal

__all__ = ["PRINCIPAL_TTL", "forget_principals"]

#: How long a checked token's principal is reused without asking the database again.
PRINCIPAL_TTL = timedelta(seconds=2)
#: More distinct live tokens than this within :data:`PRINCIPAL_TTL` empties the cache.
MAX_ENTRIES = 10_000

_lock = threading.Lock()
_entries: dict[tuple[str, str, str], tuple[Principal, datetime]] = {}
#: Bumped by every :func:`forget_principals`: a check that began before a change stores nothing.
_generation = 0


def generation() -> int:
    """Take it before reading a token from the database; pass it to :func:`remember`."""
    return _generation


def cached(key: tuple[str, str, str], now: datetime) -> Principal | None:
    """The principal stored under ``key`` if it is still valid at ``now``."""
    entry = _entries.get(key)
    if entry is None:
        return None
    principal, until = entry
    if now >= until:
        with _lock:
            if _entries.get(key) is entry:
                del _entries[key]
        return None
    return principal


def remember(key: tuple[str, str, str], principal: Principal, until: datetime, since: int) -> None:
    """Keep ``principal`` until ``until`` unless something changed since generation ``since``."""
    with _lock:
        if since != _generation:
            return
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (principal, until)


def forget_principals() -> None:
    """Forget every cached principal (call it after any change to tokens, users or their rights)."""
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()
