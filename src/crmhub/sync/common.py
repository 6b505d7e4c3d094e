"""Pieces both directions use: record hashing, source snapshots, run outcomes."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

import orjson

from crmhub.core.values import json_has_nul, strip_nul
from crmhub.store import runs as run_repo

if TYPE_CHECKING:
    from crmhub.sync.context import RunContext


def fingerprint(*parts: Any) -> bytes:
    """A short digest of JSON-able parts (mapping version, settings …) mixed into record hashes."""
    return hashlib.blake2b(
        orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str), digest_size=8
    ).digest()


def values_json(values: dict[str, Any]) -> bytes:
    """One record's values as JSON with sorted keys: what its hash is taken of and its snapshot line holds."""
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS, default=str)


def record_docs(records: list[Any]) -> list[bytes]:
    """Each record's :func:`values_json`. A record whose values hold NUL characters loses them first.

    PostgreSQL can store none (see ``crmhub.core.values.strip_nul``); dropping them here, before
    the hash and the mapping, keeps a record that holds one from looking changed on every run.
    """
    docs = [values_json(r.values) for r in records]
    for i, doc in enumerate(docs):
        if json_has_nul(doc):  # rare: checked per document, not per value
            record = records[i]
            record.values = strip_nul(record.values)
            docs[i] = values_json(record.values)
    return docs


def json_hash(salt: bytes, doc: bytes) -> str:
    """Hash of a record's :func:`values_json`, salted with the job's mapping fingerprint."""
    return hashlib.blake2b(doc, digest_size=16, salt=salt[:16]).hexdigest()


def record_hash(salt: bytes, values: dict[str, Any]) -> str:
    """Hash of one record's values, salted with the job's mapping fingerprint."""
    return json_hash(salt, values_json(values))


def snapshot_lines(records: list[Any], docs: list[bytes]) -> bytes:
    """The snapshot lines of source records (``RemoteRecord``) and their :func:`values_json`."""
    dumps = orjson.dumps
    return b"".join(
        [
            b'{"id":'
            + dumps(r.id)
            + b',"modstamp":'
            + dumps(r.modstamp)
            + (b',"deleted":true,"values":' if r.deleted else b',"deleted":false,"values":')
            + doc
            + b"}\n"
            for r, doc in zip(records, docs, strict=True)
        ]
    )


class SnapshotMark(NamedTuple):
    """How much of a run's snapshot belongs to its committed pages (committed with each page)."""

    size: int  #: bytes of complete gzip members
    records: int
    pages: int  #: pages the run has committed
    first_page: int = 1  #: the page the file starts with (later when an earlier part was lost)

    def to_json(self) -> dict[str, int]:
        return self._asdict()

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SnapshotMark | None:
        if not data:
            return None
        return cls(
            int(data["size"]), int(data["records"]), int(data["pages"]), int(data.get("first_page", 1))
        )


class SnapshotLoss(NamedTuple):
    """A resumed run found less snapshot than its committed pages wrote: that part is gone."""

    mark: SnapshotMark  #: what was committed
    found: int | None  #: bytes found (None: no file)

    @property
    def message(self) -> str:
        first, last = self.mark.first_page, self.mark.pages
        pages = f"page {first}" if first == last else f"pages {first}–{last}"
        found = (
            "is missing" if self.found is None else f"has {self.found} of the {self.mark.size} bytes written"
        )
        return (
            f"the source snapshot of {pages} ({self.mark.records} records) was lost: the file {found}; "
            f"the snapshot holds the records from page {last + 1} on"
        )

    @property
    def data(self) -> dict[str, Any]:
        return {"lost_pages": [self.mark.first_page, self.mark.pages], "lost_records": self.mark.records}


def _create_private(path: Path) -> BinaryIO:
    """A new (or emptied) file only its owner may read: a snapshot holds CRM records."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
    return os.fdopen(fd, "wb")


class SnapshotWriter:
    """Streams what a run read to ``<dir>/<run_id>.jsonl.gz``: one JSON line per source record.

    Each :meth:`write` (one page) becomes one complete gzip member appended to the file, so the file
    is a multi-member gzip that any gzip reader reads as one stream, and a page boundary is a byte
    offset. :meth:`checkpoint` returns the offset to commit with the page; a resumed run passes it
    back as ``resume`` and continues right after it, dropping whatever was written past it (a page
    never committed, possibly torn by the kill). Compression runs in a helper thread (zlib releases
    the GIL), so it overlaps with the sync.
    """

    def __init__(self, directory: Path, run_id: str, *, resume: SnapshotMark | None = None) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / f"{run_id}.jsonl.gz"
        #: Set when ``resume`` named more snapshot than the file holds; the file starts anew.
        self.lost: SnapshotLoss | None = None
        self._fh = self._open(resume)
        if resume is not None and self.lost is None:
            self._size, self.records, self._pages, self._first_page = resume
        else:
            self._size, self.records = 0, 0
            self._pages = resume.pages if resume is not None else 0
            self._first_page = self._pages + 1
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="crmhub-snapshot", daemon=True)
        self._thread.start()

    def _open(self, resume: SnapshotMark | None) -> BinaryIO:
        if resume is None:
            return _create_private(self.path)  # closed in close()
        try:
            fh = open(self.path, "r+b")  # closed in close()
        except FileNotFoundError:
            found = None
        else:
            found = os.fstat(fh.fileno()).st_size
            if found >= resume.size:
                fh.truncate(resume.size)
                fh.seek(resume.size)
                return fh
            fh.close()
        if resume.size:
            self.lost = SnapshotLoss(resume, found)
        return _create_private(self.path)  # closed in close()

    def _drain(self) -> None:
        while True:
            chunk = self._queue.get()
            try:
                if chunk is None:
                    return
                if self._error is None:
                    member = zlib.compress(chunk, 1, wbits=31)  # wbits 31: one complete gzip member
                    self._fh.write(member)
                    self._fh.flush()
                    self._size += len(member)
            except BaseException as exc:
                self._error = exc
            finally:
                self._queue.task_done()

    def write(self, lines: list[dict[str, Any]]) -> None:
        """Queue one page's records as one gzip member."""
        if lines:
            dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
            self._queue.put(b"".join([dumps(line, default=str, option=option) for line in lines]))
            self.records += len(lines)

    def write_read(self, records: list[Any], docs: list[bytes]) -> None:
        """Queue one page of source records (``RemoteRecord``) whose values are serialized already."""
        if records:
            self.write_lines(snapshot_lines(records, docs), len(records))

    def write_lines(self, lines: bytes, records: int) -> None:
        """Queue one page's snapshot lines made elsewhere (:func:`snapshot_lines`, in a reader process)."""
        if records:
            self._queue.put(lines)
            self.records += records

    def checkpoint(self) -> SnapshotMark:
        """Once everything written so far is in the file: the mark to commit with the page just written."""
        self._queue.join()
        if self._error is not None:
            raise self._error
        self._pages += 1
        return SnapshotMark(self._size, self.records, self._pages, self._first_page)

    def close(self) -> int:
        """Finish writing; the file's size in bytes."""
        self._queue.put(None)
        self._thread.join()
        self._fh.close()
        if self._error is not None:
            raise self._error
        return self.path.stat().st_size


class DiscardingSnapshot(SnapshotWriter):
    """A dry run's snapshot: counts the records it is given and writes no file."""

    def __init__(self, directory: Path, run_id: str) -> None:  # no file, no thread
        self.path = directory / f"{run_id}.jsonl.gz"
        self.lost = None
        self.records, self._pages = 0, 0

    def write(self, lines: list[dict[str, Any]]) -> None:
        self.records += len(lines)

    def write_read(self, records: list[Any], docs: list[bytes]) -> None:
        self.records += len(records)

    def write_lines(self, lines: bytes, records: int) -> None:
        self.records += records

    def checkpoint(self) -> SnapshotMark:
        self._pages += 1
        return SnapshotMark(0, self.records, self._pages)

    def close(self) -> int:
        return 0


def open_snapshot(ctx: RunContext) -> SnapshotWriter:
    """The run's snapshot writer; a resumed run continues after the snapshot of its committed pages.

    A dry run writes no snapshot (it changes nothing, on disk neither).
    """
    if ctx.dry_run:
        return DiscardingSnapshot(ctx.snapshot_dir, ctx.run_id)
    resume = SnapshotMark.from_json(ctx.checkpoint.get("snapshot"))
    writer = SnapshotWriter(ctx.snapshot_dir, ctx.run_id, resume=resume)
    if writer.lost is not None:
        with ctx.db.begin() as session:
            run_repo.add_event(session, ctx.run_id, "snapshot_lost", writer.lost.message, writer.lost.data)
    return writer


def save_snapshot(ctx: RunContext, writer: SnapshotWriter) -> None:
    """Close the writer and record the file as the run's artifact (one per run, also when it resumed)."""
    size = writer.close()
    if ctx.dry_run:
        return
    with ctx.db.begin() as session:
        artifact = run_repo.latest_artifact(session, ctx.run_id, "source_snapshot")
        if artifact is None:
            run_repo.add_artifact(
                session,
                ctx.run_id,
                kind="source_snapshot",
                path=str(writer.path),
                records=writer.records,
                size_bytes=size,
            )
        else:  # an earlier attempt of this run got as far as recording it
            artifact.path, artifact.records, artifact.size_bytes = str(writer.path), writer.records, size


COUNT_NAMES = ("read", "created", "updated", "unchanged", "ignored", "deleted", "failed", "sent")
#: How inbound records were identified (beside "created"): through their link, by the key, by a
#: match rule (see crmhub.sync.identity).
IDENTITY_NAMES = ("by_link", "by_key", "by_match")


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
    by_link: int = 0
    by_key: int = 0
    by_match: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts; how records were identified only when an inbound run identified any."""
        out = {name: getattr(self, name) for name in COUNT_NAMES}
        if self.by_link or self.by_key or self.by_match:
            out.update((name, getattr(self, name)) for name in IDENTITY_NAMES)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Counts:
        names = COUNT_NAMES + IDENTITY_NAMES
        return cls(**{k: int(v) for k, v in (data or {}).items() if k in names})

    def identified(self) -> str:
        """``identified: 2970 by link, 30 by match rule`` (empty when nothing was)."""
        parts = [
            f"{n} {label}"
            for n, label in (
                (self.by_link, "by link"),
                (self.by_key, "by key"),
                (self.by_match, "by match rule"),
                (self.created, "created"),
            )
            if n
        ]
        return f"identified: {', '.join(parts)}" if parts else ""


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
