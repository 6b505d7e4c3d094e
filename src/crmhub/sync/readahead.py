"""A big inbound read continues in a reader process: fetching, parsing, hashing and mapping on another core.

A run's own process holds Python's lock for everything it does, so a large sync is bound to one
core however many threads it has. When the CRM says a read is large (:attr:`ReadProcess.min_records`),
the inbound engine commits its first page itself and hands the rest of the read to a child process
started for the run: the child opens its own connector from the connection's
:class:`~crmhub.connectors.registry.ConnectorRecipe`, reads from the committed cursor on, and sends
each page back over a pipe already prepared — every record's values serialized (snapshot line and
hash input), hashed and mapped. The run's process keeps everything that touches the hub: identity,
upserts, links, the cursor, the snapshot file, the error ledger.

Nothing about the run's guarantees changes: pages arrive in read order, each is committed with its
cursor as before, and at most three prepared pages wait in the run (the child waits when they do). If the child fails, its error is raised in the run as if the read had failed in-process
(same class, same message); if it dies, the run fails naming its exit code, and the next run
continues from the last committed page. The child ends with the run: on its end, a cancel, an
error, or the run's process dying (its next send finds the pipe closed).
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, cast

import orjson

from crmhub.connectors.base import Page, RejectedRow, RemoteRecord
from crmhub.connectors.registry import ConnectorRecipe
from crmhub.core.concurrency import prefetch
from crmhub.core.cursor import Cursor
from crmhub.core.errors import CrmHubError, SyncError
from crmhub.core.perf import gc_paused
from crmhub.mapping.transform import FieldError, Transformer
from crmhub.sync.common import json_hash, record_docs, snapshot_lines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadProcess:
    """When and how a run may continue its read in a reader process."""

    #: The connection id → how to open its connector in the child.
    recipe: Callable[[int], ConnectorRecipe]
    #: Records the CRM must estimate left to read, after the first page, for the hand-off (0: never).
    min_records: int


@dataclass(frozen=True)
class ReadOrder:
    """What the child reads and how it prepares each page (picklable: it crosses to the child)."""

    recipe: ConnectorRecipe
    remote_object: str
    fields: list[str]
    filter: str | None
    since: datetime | None
    until: datetime
    page_size: int | None
    include_deleted: bool
    #: Mapping rows as JSON-able dicts, and the target attributes' types (the run's Transformer).
    mapping: list[dict[str, Any]]
    target_types: dict[str, str]
    salt: bytes
    #: The run's committed cursor: the child drops what it covers, as the run would.
    cursor: Cursor


class PreparedPage(NamedTuple):
    """One page as the child sends it: only the records the run's cursor has not seen, ready to load.

    Plain lists rather than record objects, and the mapped rows as one JSON document: what crosses
    the pipe is pickled once and unpickled once, and objects cost several times what lists do.
    """

    ids: list[str]
    modstamps: list[str | None]
    rows: list[int | None]  #: each record's ordinal in the read, for the error ledger
    deleted: list[int]  #: positions of records the source reports deleted
    digests: list[str]  #: each record's salted values hash (see :func:`~crmhub.sync.common.json_hash`)
    #: JSON list: each live record's mapped row (canonical values: JSON holds them all), null for a
    #: deleted one.
    mapped: bytes
    #: Field errors of the records that did not map whole, by position.
    field_errors: dict[int, list[FieldError]]
    snapshot: bytes  #: the records' snapshot lines (:func:`~crmhub.sync.common.snapshot_lines`)
    total: int | None
    rejected: list[RejectedRow]
    #: The child connector's usage so far (calls, retries, the CRM's counters).
    usage: dict[str, Any]

    def records(self) -> list[RemoteRecord]:
        """The page's records, their values left out (mapped already)."""
        gone = set(self.deleted)
        return [
            RemoteRecord(remote_id, modstamp, {}, i in gone, row)
            for i, (remote_id, modstamp, row) in enumerate(
                zip(self.ids, self.modstamps, self.rows, strict=True)
            )
        ]

    def mapped_rows(self) -> list[tuple[dict[str, Any], Sequence[FieldError]] | None]:
        """Each record's (mapped row, field errors), as the run's Transformer would have returned them."""
        errors = self.field_errors
        rows = orjson.loads(self.mapped)
        return [None if row is None else (row, errors.get(i, ())) for i, row in enumerate(rows)]


def prepare(
    page: Page, cursor: Cursor, transformer: Transformer, salt: bytes, usage: dict[str, Any]
) -> PreparedPage:
    """Drop what ``cursor`` covers; serialize, hash and map the rest: the work the run's process is spared."""
    records = [r for r in page.records if not (r.modstamp is not None and cursor.seen(r.modstamp, r.id))]
    docs = record_docs(records)
    mapped: list[dict[str, Any] | None] = []
    field_errors: dict[int, list[FieldError]] = {}
    for i, r in enumerate(records):
        if r.deleted:
            mapped.append(None)
            continue
        row, errors = transformer(r.values)
        mapped.append(row)
        if errors:
            field_errors[i] = errors
    return PreparedPage(
        [r.id for r in records],
        [r.modstamp for r in records],
        [r.row for r in records],
        [i for i, r in enumerate(records) if r.deleted],
        [json_hash(salt, doc) for doc in docs],
        orjson.dumps(mapped),
        field_errors,
        snapshot_lines(records, docs),
        page.total,
        page.rejected,
        usage,
    )


def read_in_child(order: ReadOrder) -> Generator[PreparedPage, None, None]:
    """Pages of ``order`` read and prepared in a child process, in read order.

    The child is ``python -m crmhub.sync.readahead``: the order goes to it on its standard input,
    the pages come back on its standard output, each a length-prefixed pickle. (Not
    ``multiprocessing``: its "spawn" re-imports the parent's main module, which breaks any host
    program without a ``__main__`` guard.) Closing the iterator (the run ends, is cancelled or
    fails) stops the child.
    """
    package_root = str(Path(__file__).resolve().parents[2])  # the folder crmhub is imported from
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    child = subprocess.Popen(  # our own interpreter and module, no shell
        [sys.executable, "-m", "crmhub.sync.readahead"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    # A thread takes the child's messages off the pipe as they come (waiting there without Python's
    # lock), so the child goes on with the next pages while the run loads this one.
    messages = prefetch(_messages(cast(BinaryIO, child.stdout)), depth=3)
    try:
        try:
            child.stdin.write(pickle.dumps(order, protocol=pickle.HIGHEST_PROTOCOL))
            child.stdin.close()
        except BrokenPipeError:
            raise SyncError(
                f"the reader process of this run ended at its start (exit code {child.wait(10)})",
                hint="run the job again; set CRMHUB_READ_PROCESS_MIN_RECORDS=0 to read in the run's own process",
            ) from None
        for message in messages:
            kind, payload = pickle.loads(message)
            if kind == "page":
                yield payload
            elif kind == "done":
                return
            else:
                raise _rebuild(payload, order.remote_object)
        raise SyncError(
            f"the reader process of this run stopped without a word (exit code {child.wait(10)}) "
            f"while reading {order.remote_object}",
            hint="run the job again: it continues from the last committed page",
        )
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
        messages.close()  # the child is gone: its pipe ends, and so does the reading thread
        child.stdout.close()


def _messages(stream: BinaryIO) -> Iterator[bytes]:
    while (message := _receive(stream)) is not None:
        yield message


_HEADER = struct.Struct("<Q")


def _receive(stream: BinaryIO) -> bytes | None:
    """One length-prefixed message, or None at the end of the stream (the child is gone)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    return body if len(body) == size else None


class _Sender:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def send(self, message: Any) -> None:
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._stream.write(_HEADER.pack(len(body)))
        self._stream.write(body)
        self._stream.flush()


def _child(order: ReadOrder, out: _Sender) -> None:
    """The reader process: read, prepare, send; an error goes back to the run in the same stream."""
    from crmhub.expr import parse
    from crmhub.mapping.spec import MappingRow

    connector = None
    try:
        connector = order.recipe.open()
        transformer = Transformer.compile(
            [MappingRow.model_validate(row) for row in order.mapping],
            target_types=order.target_types,
            canonical=True,
        )
        pages = connector.read(
            order.remote_object,
            order.fields,
            filter=parse(order.filter) if order.filter else None,
            since=order.since,
            until=order.until,
            page_size=order.page_size,
            include_deleted=order.include_deleted,
        )
        cursor = order.cursor
        with gc_paused() as collect:
            for page in pages:
                prepared = prepare(page, cursor, transformer, order.salt, connector.usage.as_dict())
                # The run advances its cursor over the same records, and drops what this one covers.
                cursor = cursor.advance(
                    (m, i) for m, i in zip(prepared.modstamps, prepared.ids, strict=True) if m is not None
                ).capped(order.until)
                out.send(("page", prepared))
                del prepared
                collect()
        out.send(("done", None))
    except (BrokenPipeError, ConnectionResetError):
        return  # the run is gone (it ended, was cancelled, or its process died): nothing to tell
    except BaseException as exc:  # every failure goes back to the run, which judges it
        try:
            out.send(("error", _portable(exc)))
        except (BrokenPipeError, ConnectionResetError):
            return
    finally:
        if connector is not None:
            connector.close()


def main() -> None:
    """Entry point of the reader process (``python -m crmhub.sync.readahead``)."""
    # The messages own file descriptor 1; anything a library prints goes to standard error instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the run, which then ends this process
    order = pickle.loads(sys.stdin.buffer.read())
    try:
        _child(order, _Sender(out))
    finally:
        try:
            out.close()
        except BrokenPipeError:
            pass


class _PortableError(NamedTuple):
    module: str
    qualname: str
    args: tuple[Any, ...]
    state: dict[str, Any]
    text: str  #: str(exc), for errors that cannot be rebuilt
    trace: str


def _portable(exc: BaseException) -> _PortableError:
    cls = type(exc)
    state: dict[str, Any] = {}
    for key, value in getattr(exc, "__dict__", {}).items():
        try:
            pickle.dumps(value)
        except Exception:  # a value that does not cross is left out
            continue
        state[key] = value
    args: tuple[Any, ...] = ()
    try:
        pickle.dumps(exc.args)
        args = exc.args
    except Exception:  # arguments that do not cross: the message stands in
        args = (str(exc),)
    trace = "".join(traceback.format_exception(exc))
    return _PortableError(cls.__module__, cls.__qualname__, args, state, str(exc), trace)


def _rebuild(error: _PortableError, remote_object: str) -> BaseException:
    """The child's error as the run would have raised it reading in-process (crmhub's own classes)."""
    cls: Any = None
    if error.module.startswith("crmhub.") and "." not in error.qualname:
        cls = getattr(importlib.import_module(error.module), error.qualname, None)
    if isinstance(cls, type) and issubclass(cls, CrmHubError):
        exc = cls.__new__(cls)
        exc.args = error.args
        exc.__dict__.update(error.state)
        return exc
    log.error("the reader process of a %s read failed:\n%s", remote_object, error.trace)
    return RuntimeError(f"reader process: {error.qualname}: {error.text}")


if __name__ == "__main__":
    # Run as a script, this file is "__main__": pages must pickle under the module's real name.
    from crmhub.sync import readahead

    readahead.main()
