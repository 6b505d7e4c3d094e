"""Hub ids: ULIDs (26 characters, Crockford base32, sortable by creation time, URL-safe).

Generated here rather than through a ULID library because the hub mints them in batches of
thousands on the hot upsert path: one clock read and one random draw per batch, and ids within a
batch are strictly increasing (the ULID spec's monotonic mode). Across calls in one process too: a
call in the same millisecond as the last one (or after the clock stepped back) continues from the
last id, so "the greatest id is the newest" holds for runs made in quick succession.
"""

from __future__ import annotations

import base64
import os
import threading
import time

_CROCKFORD = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RFC4648 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = bytes.maketrans(_RFC4648, _CROCKFORD)
_FROM_CROCKFORD = bytes.maketrans(_CROCKFORD, _RFC4648)
# Every 10-bit value as two Crockford characters: 80 random bits are 8 look-ups.
_PAIRS = [chr(_CROCKFORD[i >> 5]) + chr(_CROCKFORD[i & 31]) for i in range(1024)]


_lock = threading.Lock()
_last_ms = -1
_next_rand = 0


def new_hub_ids(count: int, *, timestamp_ms: int | None = None) -> list[str]:
    """Return ``count`` new, strictly increasing ULIDs (increasing across calls of this process too,
    unless ``timestamp_ms`` is given)."""
    global _last_ms, _next_rand
    if timestamp_ms is not None:
        ms = timestamp_ms
        rand = int.from_bytes(os.urandom(10), "big") >> 16  # leave head room for the increments
    else:
        with _lock:
            ms = int(time.time() * 1000)
            if ms <= _last_ms:  # the same millisecond (or the clock stepped back): continue the run
                ms, rand = _last_ms, _next_rand
            else:
                rand = int.from_bytes(os.urandom(10), "big") >> 16
            _last_ms, _next_rand = ms, rand + count
    # 48 time bits after two zero bits, padded to 80 bits: the first 10 base32 characters.
    prefix = base64.b32encode((ms << 30).to_bytes(10, "big"))[:10].translate(_TO_CROCKFORD).decode("ascii")
    t = _PAIRS
    return [
        prefix
        + t[(r := rand + i) >> 70]
        + t[(r >> 60) & 1023]
        + t[(r >> 50) & 1023]
        + t[(r >> 40) & 1023]
        + t[(r >> 30) & 1023]
        + t[(r >> 20) & 1023]
        + t[(r >> 10) & 1023]
        + t[r & 1023]
        for i in range(count)
    ]


def new_hub_id() -> str:
    """Return one new ULID."""
    return new_hub_ids(1)[0]


def hub_id_timestamp_ms(hub_id: str) -> int:
    """The creation time (Unix ms) encoded in a hub id; raises ValueError for a malformed id."""
    if len(hub_id) != 26:
        raise ValueError(f"hub id {hub_id!r} must have 26 characters")
    try:
        decoded = base64.b32decode(hub_id.upper().encode("ascii").translate(_FROM_CROCKFORD) + b"AAAAAA")
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"hub id {hub_id!r} is not Crockford base32") from exc
    value = int.from_bytes(decoded[:20], "big") >> 30
    return value >> 80
