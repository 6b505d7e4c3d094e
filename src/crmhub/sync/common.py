"""Pieces both directions use: record hashing, source snapshots, run outcomes."""

from __future__ import annotations

import gzip
import hashlib
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


def fingerprint(*parts: Any) -> bytes:
    """A short digest of JSON-able parts (mapping version, settings …) mixed into record hashes."""
    return hashlib.blake2b(
        orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str), digest_size=8
    ).digest()


def record_hash(salt: bytes, values: dict[str, Any]) -> str:
    """Hash of one record's values, salted with the job's mapping fingerprint."""
    return hashlib.blake2b(
        orjson.dumps(values, option=orjson.OPT_SORT_KEYS, default=str), digest_size=16, salt=salt[:16]
    ).hexdigest()


class SnapshotWriter:
    """Streams what a run read to ``<dir>/<run_id>.jsonl.gz``: one JSON line per source record.

    Compression runs in a helper thread (zlib releases the GIL), so it overlaps with the sync.
    """

    def __init__(self, directory: Path, run_id: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{run_id}.jsonl.gz"
        self._fh = gzip.open(self.path, "wb", compresslevel=1)
        self.records = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="crmhub-snapshot", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._fh.write(chunk)
                except BaseException as exc:
                    self._error = exc

    def write(self, lines: list[dict[str, Any]]) -> None:
        if lines:
            dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
            self._queue.put(b"".join([dumps(line, default=str, option=option) for line in lines]))
            self.records += len(lines)

    def close(self) -> int:
        self._queue.put(None)
        self._thread.join()
        self._fh.close()
        if self._error is not None:
            raise self._error
        return self.path.stat().st_size


COUNT_NAMES = ("read", "created", "updated", "unchanged", "ignored", "deleted", "failed", "sent")


@dataclass
class Counts:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    deleted: int = 0
    failed: int = 0
    sent: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_NAMES}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Counts:
        return cls(**{k: int(v) for k, v in (data or {}).items() if k in COUNT_NAMES})


@dataclass
class Progress:
    """What a progress display needs after every batch."""

    run_id: str
    done: int
    total: int | None
    counts: Counts
    message: str = ""


@dataclass
class RunOutcome:
    status: str
    counts: Counts
    message: str
    snapshot: Path | None = None
    errors: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
