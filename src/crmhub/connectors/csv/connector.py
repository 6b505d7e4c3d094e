"""The CSV connector: encoding detection, delimiter sniffing, quoted newlines, errors with line numbers.

Files are opened only inside the allowed file roots when the connector is given them (connections
opened through ``ConnectionService`` always are: ``CRMHUB_FILE_ROOTS``); every file is checked as it
is opened, after resolving symlinks and ``..``.

Reading streams the file row by row (never the whole file in memory). A ragged row is rejected with
its line number and the rest is read; a file that cannot be decoded or whose quoted field never
closes stops the read with the line where the trouble starts. Writing goes to ``<folder>/<object>.csv``
through a temporary file and an atomic rename, so a reader never sees half a file.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from charset_normalizer import from_bytes

from crmhub.connectors.base import (
    REMOTE_ID,
    REMOTE_ID_MAX_LENGTH,
    Capability,
    ConnectionCheck,
    FieldInfo,
    ObjectDescription,
    ObjectInfo,
    Page,
    RejectedRow,
    RemoteRecord,
    WriteMode,
    WriteResult,
)
from crmhub.connectors.csv.spec import CsvCredentials, CsvSettings
from crmhub.connectors.errors import ConnectorFatalError
from crmhub.connectors.files import PathNotAllowedError, confine
from crmhub.connectors.filtering import Predicate, local_predicate
from crmhub.connectors.kit import resolve_plain
from crmhub.connectors.usage import ApiUsage
from crmhub.core.values import CoercionError, coercer_for, format_datetime

SNIFF_BYTES = 64 * 1024
DETECT_BYTES = 1024 * 1024
DELIMITERS = ",;\t|"
TYPE_SAMPLE_ROWS = 500


class CsvFormatError(ConnectorFatalError):
    """The file cannot be read as CSV from some line on."""


def _guess_encoding(head: bytes, path: Path) -> str:
    """UTF-8 (BOM or not), UTF-16 by BOM, then Windows-1252 (spreadsheet exports), then a detector.

    Statistical detectors misread short Western-European samples (é as Baltic code pages), so the
    deterministic choices come first; the connection's ``encoding`` setting overrides all of this.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if len(head) == DETECT_BYTES and exc.start > len(head) - 4:
            return "utf-8-sig"  # a character cut by the sample's end
        utf8_error = exc
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        pass
    best = from_bytes(head).best()
    if best is None:
        line = head[: utf8_error.start].count(b"\n") + 1
        raise CsvFormatError(
            f"{path.name}: cannot decode line {line} as UTF-8 and cannot tell the encoding",
            hint="set the connection's encoding (e.g. latin-1, cp1252)",
        )
    return str(best.encoding)


def _infer_type(values: list[str]) -> str:
    present = [v for v in values if v.strip()]
    if not present:
        return "text"
    for type_name in ("boolean", "number", "date", "datetime"):
        coerce = coercer_for(type_name)
        try:
            for v in present:
                coerce(v)
        except CoercionError:
            continue
        if type_name == "boolean" and not all(
            v.strip().lower() in {"true", "false", "yes", "no"} for v in present
        ):
            continue
        return type_name
    return "text"


class CsvConnector:
    kind: ClassVar[str] = "csv"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.READ, Capability.WRITE, Capability.UPSERT}
    )

    def __init__(
        self,
        settings: CsvSettings,
        credentials: CsvCredentials | None = None,
        *,
        file_roots: Sequence[Path] | None = None,
        **_: Any,
    ) -> None:
        self.settings = settings
        self.root = Path(settings.path).expanduser()
        #: Where files may be opened; None: anywhere (for code that chose the path itself).
        self.file_roots = list(file_roots) if file_roots is not None else None
        self.usage = ApiUsage()

    def _confined(self, path: Path) -> Path:
        """``path`` when it lies inside the allowed roots (after symlinks and ``..``), else PathNotAllowedError."""
        if self.file_roots is not None:
            confine(path, self.file_roots, what="the CSV connection's path")
        return path

    # Discovery ------------------------------------------------------------------------------

    def _file(self, object_name: str, *, must_exist: bool = True) -> Path:
        if self.root.is_file() or self.root.suffix.lower() == ".csv":
            if object_name not in (self.root.stem, self.root.name):
                raise ConnectorFatalError(
                    f"CSV connection holds only {self.root.stem!r}, not {object_name!r}"
                )
            path = self.root
        else:
            if "/" in object_name or "\\" in object_name or object_name.startswith("."):
                raise ConnectorFatalError(f"{object_name!r} is not a CSV object name (no paths)")
            path = self.root / (object_name if object_name.lower().endswith(".csv") else f"{object_name}.csv")
        self._confined(path)
        if must_exist and not path.is_file():
            raise ConnectorFatalError(
                f"CSV file {path} does not exist", hint="check the connection's path and the object name"
            )
        return path

    def test(self) -> ConnectionCheck:
        try:
            self._confined(self.root)
        except PathNotAllowedError as exc:
            return ConnectionCheck(False, str(exc))
        if self.root.is_dir():
            count = len(list(self.root.glob("*.csv")))
            return ConnectionCheck(True, f"folder {self.root} holds {count} CSV file(s)")
        if self.root.is_file():
            return ConnectionCheck(True, f"file {self.root} is readable")
        return ConnectionCheck(False, f"{self.root} does not exist")

    def list_objects(self) -> list[ObjectInfo]:
        self._confined(self.root)
        files = [self.root] if self.root.is_file() else sorted(self.root.glob("*.csv"))
        return [ObjectInfo(name=p.stem, label=p.name) for p in files]

    def describe(self, object_name: str) -> ObjectDescription:
        path = self._file(object_name)
        with self._open(path) as (reader, _encoding):
            header = self._header(reader, path)
            samples: list[list[str]] = [[] for _ in header]
            for n, row in enumerate(reader):
                if n >= TYPE_SAMPLE_ROWS:
                    break
                if len(row) == len(header):
                    for i, value in enumerate(row):
                        samples[i].append(value)
        fields = tuple(
            FieldInfo(
                name=name,
                label=name,
                type="csv",
                value_type=_infer_type(samples[i]),
                creatable=True,
                updatable=True,
                external_id=name == self._id_column(header),
            )
            for i, name in enumerate(header)
        )
        return ObjectDescription(
            ObjectInfo(object_name, path.name),
            fields,
            modstamp_field=self.settings.modstamp_column,
            id_field=self._id_column(header) or "",
        )

    # Reading --------------------------------------------------------------------------------

    def _detect(self, path: Path) -> tuple[str, str]:
        """(encoding, delimiter) of a file."""
        with path.open("rb") as fh:
            head = fh.read(DETECT_BYTES)
        encoding = self.settings.encoding or _guess_encoding(head, path)
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise CsvFormatError(
                f"unknown encoding {encoding!r}", hint="use e.g. utf-8, latin-1, cp1252"
            ) from None
        delimiter = self.settings.delimiter
        if not delimiter:
            sample = head[:SNIFF_BYTES].decode(encoding, errors="replace")
            try:
                delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
            except csv.Error:
                first = sample.splitlines()[0] if sample else ""
                delimiter = max(DELIMITERS, key=first.count) if first else ","
        return encoding, delimiter

    class _Opened:
        def __init__(self, connector: CsvConnector, path: Path) -> None:
            self.path = path
            self.encoding, self.delimiter = connector._detect(path)
            self.fh: Any = None

        def __enter__(self) -> tuple[Any, str]:
            self.fh = open(self.path, "rb")
            reader = csv.reader(self._lines(), delimiter=self.delimiter, strict=True)
            return reader, self.encoding

        def _lines(self) -> Iterator[str]:
            """Decoded lines; a byte that does not decode is reported with its line number."""
            assert self.fh is not None
            if self.encoding.lower().replace("_", "-").startswith("utf-16"):
                yield from io.TextIOWrapper(self.fh, encoding=self.encoding, newline="")
                return
            decode = codecs.getincrementaldecoder(self.encoding)(errors="strict").decode
            for number, raw in enumerate(self.fh, 1):
                try:
                    yield decode(raw)
                except UnicodeDecodeError as exc:
                    raise CsvFormatError(
                        f"{self.path.name}: line {number} cannot be decoded as {self.encoding}: {exc.reason} "
                        f"(byte {raw[exc.start : exc.start + 1]!r})",
                        hint="set the connection's encoding (e.g. latin-1, cp1252)",
                    ) from None

        def __exit__(self, *exc: Any) -> None:
            if self.fh is not None:
                self.fh.close()

    def _open(self, path: Path) -> CsvConnector._Opened:
        return CsvConnector._Opened(self, path)

    def _header(self, reader: Any, path: Path) -> list[str]:
        try:
            header = next(reader)
        except StopIteration:
            raise CsvFormatError(f"{path.name} is empty: a header row is needed") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CsvFormatError(f"{path.name}: line 1 (header): {exc}") from None
        header = [h.strip() for h in header]
        if not any(header):
            raise CsvFormatError(f"{path.name}: the header row is empty")
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            raise CsvFormatError(f"{path.name}: the header names {', '.join(duplicates)} more than once")
        return header

    def _id_column(self, header: list[str]) -> str | None:
        if self.settings.id_column:
            return self.settings.id_column
        return next((h for h in header if h.lower() == "id"), None)

    def read(
        self,
        object_name: str,
        fields: Sequence[str],
        *,
        filter: Any = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int | None = None,
        include_deleted: bool = False,
    ) -> Iterator[Page]:
        path = self._file(object_name)
        size = page_size or 5000
        predicate = self._predicate(object_name, filter) if filter is not None else None
        with self._open(path) as (reader, encoding):
            header = self._header(reader, path)
            missing = [f for f in fields if f not in header]
            if missing:
                raise ConnectorFatalError(
                    f"{path.name} has no column(s) {', '.join(missing)}", hint=f"columns: {', '.join(header)}"
                )
            wanted = [(f, header.index(f)) for f in fields]
            id_column = self._id_column(header)
            if id_column and id_column not in header:
                raise ConnectorFatalError(f"{path.name} has no id column {id_column!r}")
            id_index = header.index(id_column) if id_column else None
            stamp_column = self.settings.modstamp_column
            stamp_index = header.index(stamp_column) if stamp_column and stamp_column in header else None
            to_datetime = coercer_for("datetime")
            page = Page([])
            ordinal = 0
            while True:
                start_line = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise CsvFormatError(
                        f"{path.name}: malformed CSV from line {start_line}: {exc}"
                        + (" (a quoted field is never closed)" if "end of data" in str(exc) else ""),
                        hint="fix the quoting in the file, then run again",
                    ) from None
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                ordinal += 1
                remote_id = row[id_index] if id_index is not None and id_index < len(row) else str(ordinal)
                if id_index is not None and id_index < len(row):
                    problem = _id_problem(remote_id, id_column)
                    if problem is not None:
                        page.rejected.append(
                            RejectedRow(
                                start_line,
                                None,
                                f"{path.name}: line {start_line}: {problem}; give every row a unique id",
                                raw=remote_id[:200],
                            )
                        )
                        continue
                if len(row) != len(header):
                    page.rejected.append(
                        RejectedRow(
                            start_line,
                            remote_id,
                            f"{path.name}: line {start_line} has {len(row)} fields, the header has {len(header)}",
                            raw=self.settings.delimiter
                            and self.settings.delimiter.join(row)
                            or ",".join(row),
                        )
                    )
                    continue
                modstamp: str | None = None  # rows carry no time of their own unless a column says so
                if stamp_index is not None and row[stamp_index].strip():
                    try:
                        modstamp = to_datetime(row[stamp_index])
                    except CoercionError as exc:
                        page.rejected.append(
                            RejectedRow(
                                start_line,
                                remote_id,
                                f"{path.name}: line {start_line}: {stamp_column} {exc}",
                                raw=row[stamp_index],
                            )
                        )
                        continue
                if modstamp is not None and since is not None and modstamp < format_datetime(since):
                    continue
                if modstamp is not None and until is not None and modstamp >= format_datetime(until):
                    continue
                record = RemoteRecord(remote_id, modstamp, {f: row[i] for f, i in wanted}, row=start_line)
                if predicate is not None:
                    full = dict(zip(header, row, strict=True))
                    try:
                        if not predicate(full):
                            continue
                    except Exception as exc:
                        page.rejected.append(RejectedRow(start_line, remote_id, f"filter: {exc}"))
                        continue
                page.records.append(record)
                if len(page.records) >= size:
                    yield page
                    page = Page([])
            if page.records or page.rejected:
                yield page

    def _predicate(self, object_name: str, filter: Any) -> Predicate:
        from crmhub.expr import fields

        description = self.describe(object_name)
        types = {}
        for name in fields(filter):
            info = description.field(name)
            if info is None:
                raise ConnectorFatalError(
                    f"the filter names {name!r}, which is not a column of {object_name}"
                )
            types[info.name] = info.value_type
        return local_predicate(filter, types)

    def resolve_path(self, object_name: str, path: str) -> FieldInfo:
        """The column ``path`` names (a file has no related records, so no dot paths)."""
        return resolve_plain(self.describe(object_name), path, crm="CSV")

    def preview(
        self, object_name: str, fields: Sequence[str], *, filter: Any = None, limit: int = 10
    ) -> list[RemoteRecord]:
        out: list[RemoteRecord] = []
        for page in self.read(object_name, fields, filter=filter, page_size=limit):
            out.extend(page.records)
            if len(out) >= limit:
                break
        return out[:limit]

    # Writing --------------------------------------------------------------------------------

    def write(
        self,
        object_name: str,
        records: Sequence[dict[str, Any]],
        *,
        mode: WriteMode,
        match: str | None = None,
    ) -> list[WriteResult]:
        if mode == "update":
            # Records name their row by REMOTE_ID: the value of the match column (default: the id column).
            match = match or self.settings.id_column or "id"
            records = [
                {**{k: v for k, v in r.items() if k != REMOTE_ID}, match: r.get(REMOTE_ID, r.get(match))}
                for r in records
            ]
        if mode == "upsert" and not match:
            raise ConnectorFatalError("upsert into a CSV file needs a match column")
        path = self._file(object_name, must_exist=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        header: list[str] = []
        rows: list[dict[str, str]] = []
        delimiter = self.settings.delimiter or ","
        if path.exists() and path.stat().st_size > 0:
            with self._open(path) as (reader, _enc):
                header = self._header(reader, path)
                delimiter = self.settings.delimiter or self._detect(path)[1]
                for row in reader:
                    if row:
                        rows.append(dict(zip(header, row, strict=False)))
        index = {r.get(match, ""): i for i, r in enumerate(rows)} if match else {}
        results: list[WriteResult] = []
        for n, record in enumerate(records):
            values = {k: _csv_text(v) for k, v in record.items()}
            for key in values:
                if key not in header:
                    header.append(key)
            key_value = values.get(match, "") if match else ""
            existing = index.get(key_value) if match and key_value else None
            if mode == "update" and existing is None:
                results.append(
                    WriteResult(
                        n,
                        False,
                        error_code="NOT_FOUND",
                        message=f"no row with {match}={key_value!r} in {path.name}",
                    )
                )
                continue
            if mode == "create" and match and existing is not None:
                results.append(
                    WriteResult(
                        n,
                        False,
                        error_code="DUPLICATE",
                        message=f"a row with {match}={key_value!r} exists in {path.name}",
                    )
                )
                continue
            if existing is not None:
                rows[existing].update(values)
                results.append(WriteResult(n, True, remote_id=key_value, created=False))
            else:
                rows.append(values)
                if match and key_value:
                    index[key_value] = len(rows) - 1
                results.append(WriteResult(n, True, remote_id=key_value or str(len(rows)), created=True))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".csv", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, delimiter=delimiter)
                writer.writerow(header)
                for row in rows:
                    writer.writerow([row.get(h, "") for h in header])
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return results

    def close(self) -> None:
        return None


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, datetime):
        return format_datetime(value)
    return str(value)


def _id_problem(remote_id: str, column: str | None) -> str | None:
    """Why a row's id cannot link it to a hub record, or None when it can."""
    if not remote_id.strip():
        return f"its id column {column!r} is empty"
    if len(remote_id) > REMOTE_ID_MAX_LENGTH:
        return f"its id in column {column!r} is {len(remote_id)} characters long (at most {REMOTE_ID_MAX_LENGTH})"
    if "\x00" in remote_id:
        return f"its id in column {column!r} holds a NUL character"
    return None
