from pathlib import Path

import pytest

from crmhub.connectors import registry
from crmhub.connectors.csv import CsvConnector, CsvSettings
from crmhub.connectors.csv.connector import CsvFormatError
from crmhub.connectors.errors import ConnectorFatalError


def _connector(folder: Path, **settings) -> CsvConnector:
    return CsvConnector(CsvSettings(path=str(folder), **settings))


def _read_all(connector: CsvConnector, name: str, fields, **kw):
    records, rejected = [], []
    for page in connector.read(name, fields, **kw):
        records.extend(page.records)
        rejected.extend(page.rejected)
    return records, rejected


def test_given_a_semicolon_file_with_quoted_newlines_when_read_then_rows_and_line_numbers_are_right(
    tmp_path: Path,
) -> None:
    (tmp_path / "accounts.csv").write_text(
        'id;name;notes;employees\n1;Acme;"two\nlines";10\n2;"Beta; Inc";plain;20\n', encoding="utf-8"
    )
    connector = _connector(tmp_path)
    assert [o.name for o in connector.list_objects()] == ["accounts"]
    records, rejected = _read_all(connector, "accounts", ["name", "notes"])
    assert rejected == []
    assert [(r.id, r.values, r.row) for r in records] == [
        ("1", {"name": "Acme", "notes": "two\nlines"}, 2),
        ("2", {"name": "Beta; Inc", "notes": "plain"}, 4),
    ]
    description = connector.describe("accounts")
    assert {f.name: f.value_type for f in description.fields} == {
        "id": "number",
        "name": "text",
        "notes": "text",
        "employees": "number",
    }


def test_given_ragged_rows_when_read_then_they_are_rejected_with_line_numbers_and_the_rest_is_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_text("id,name,city\n1,Acme,Paris\n2,Beta\n3,Gamma,Rome,extra\n4,Delta,Oslo\n")
    records, rejected = _read_all(_connector(tmp_path), "a", ["name"])
    assert [r.id for r in records] == ["1", "4"]
    assert [(r.row, r.remote_id) for r in rejected] == [(3, "2"), (4, "3")]
    assert rejected[0].message == "a.csv: line 3 has 2 fields, the header has 3"


def test_given_rows_with_an_empty_overlong_or_nul_id_when_read_then_they_are_rejected_and_the_rest_is_read(
    tmp_path: Path,
) -> None:
    # Without an id a row cannot be linked (every empty id would name one record); the hub links
    # ids of up to 255 characters.
    long_id = "x" * 256
    (tmp_path / "accounts.csv").write_text(
        f"id,name\n1,Acme\n,NoId\n {long_id},Long\n{'y' * 255},Widest\nA\x00,Nul\n", encoding="utf-8"
    )
    records, rejected = _read_all(_connector(tmp_path), "accounts", ["name"])
    assert [r.values["name"] for r in records] == ["Acme", "Widest"]
    assert [(r.row, r.remote_id) for r in rejected] == [(3, None), (4, None), (6, None)]
    assert "line 6: its id in column 'id' holds a NUL character" in rejected[2].message
    assert rejected[0].message == "accounts.csv: line 3: its id column 'id' is empty; give every row a unique id"
    assert "line 4: its id in column 'id' is 257 characters long (at most 255)" in rejected[1].message


def test_given_an_unterminated_quote_when_read_then_the_error_names_the_line_where_it_starts(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_text('id,name\n1,Acme\n2,"Beta\n3,Gamma\n')
    with pytest.raises(CsvFormatError, match=r"a.csv: malformed CSV from line 3: .*never closed"):
        _read_all(_connector(tmp_path), "a", ["name"])


def test_given_a_latin1_file_when_read_then_the_encoding_is_detected(tmp_path: Path) -> None:
    text = "id,name,city\n" + "".join(f"{i},Société Générale {i},Zürich\n" for i in range(50))
    (tmp_path / "a.csv").write_bytes(text.encode("latin-1"))
    records, _ = _read_all(_connector(tmp_path), "a", ["name", "city"])
    assert records[0].values == {"name": "Société Générale 0", "city": "Zürich"}


def test_given_bytes_that_are_not_in_the_set_encoding_when_read_then_the_line_is_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_bytes(b"id,name\n1,ok\n2,caf\xe9\n")
    with pytest.raises(CsvFormatError, match="line 3 cannot be decoded as utf-8"):
        _read_all(_connector(tmp_path, encoding="utf-8"), "a", ["name"])


def test_given_an_unknown_column_when_read_then_the_columns_are_listed(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,x\n")
    with pytest.raises(ConnectorFatalError, match="no column.*colour.*columns: id, name"):
        _read_all(_connector(tmp_path), "a", ["colour"])


def test_given_pages_when_read_then_page_size_is_respected(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(25)))
    pages = list(_connector(tmp_path).read("a", ["name"], page_size=10))
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert len(_connector(tmp_path).preview("a", ["name"], limit=3)) == 3


def test_given_records_when_written_then_created_updated_and_read_back(tmp_path: Path) -> None:
    connector = _connector(tmp_path)
    created = connector.write(
        "out",
        [{"email": "a@x.com", "name": "A"}, {"email": "b@x.com", "name": "B", "tags": ["x", "y"]}],
        mode="create",
        match="email",
    )
    assert [(r.ok, r.created, r.remote_id) for r in created] == [
        (True, True, "a@x.com"),
        (True, True, "b@x.com"),
    ]
    upserted = connector.write(
        "out",
        [{"email": "b@x.com", "name": "B2"}, {"email": "c@x.com", "name": "C"}],
        mode="upsert",
        match="email",
    )
    assert [(r.ok, r.created) for r in upserted] == [(True, False), (True, True)]
    updated = connector.write("out", [{"email": "zzz@x.com", "name": "nobody"}], mode="update", match="email")
    assert not updated[0].ok and updated[0].error_code == "NOT_FOUND"
    records, _ = _read_all(
        CsvConnector(CsvSettings(path=str(tmp_path), id_column="email")), "out", ["name", "tags"]
    )
    assert [(r.id, r.values) for r in records] == [
        ("a@x.com", {"name": "A", "tags": ""}),
        ("b@x.com", {"name": "B2", "tags": "x;y"}),
        ("c@x.com", {"name": "C", "tags": ""}),
    ]


def test_object_names_cannot_escape_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConnectorFatalError, match="no paths"):
        _connector(tmp_path).write("../evil", [{"a": 1}], mode="create")


def test_the_registry_lists_csv_with_its_settings() -> None:
    spec = registry.get("csv")
    names = [f["name"] for f in spec.fields()["settings"]]
    assert names[0] == "path" and "delimiter" in names
    connector = spec.create({"path": "/tmp"}, {})
    assert connector.kind == "csv"
