"""Malformed CSV files: every error names the line. Extends ``tests/connectors/test_csv.py``, which has
ragged rows, an unterminated quote, a latin-1 file and a byte outside a set encoding; these are the
shapes it does not cover."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmhub.connectors.csv import CsvConnector, CsvSettings
from crmhub.connectors.csv.connector import CsvFormatError
from crmhub.testing import read_all

_VALID = "id,name,city\n" + "".join(f"{i},Company {i},Lyon\n" for i in range(1, 50_001))


@pytest.mark.parametrize(
    ("content", "settings", "message"),
    [
        pytest.param(
            (_VALID + "50001,Caf\xe9 Noir,Paris\n").encode("latin-1"),
            {},
            r"a.csv: line 50002 cannot be decoded as utf-8",
            id="a byte that is not utf-8 beyond the detection sample names its line",
        ),
        pytest.param(
            b'id,name,city\n1,Acme,Paris\n2,"Beta"x,Rome\n3,Gamma,Oslo\n',
            {},
            r"a.csv: malformed CSV from line 3: .*expected after",
            id="text after a closing quote names its line",
        ),
        pytest.param(
            b"id,name,c\xe9\n1,Acme,Paris\n",
            {"encoding": "utf-8"},
            r"a.csv: line 1 cannot be decoded as utf-8",
            id="an undecodable header names line 1",
        ),
        pytest.param(
            b"", {}, r"a.csv is empty: a header row is needed", id="an empty file asks for a header"
        ),
        pytest.param(
            b"id,name,name\n1,a,b\n",
            {},
            r"a.csv: the header names name more than once",
            id="a repeated header name is named",
        ),
    ],
)
def test_given_a_malformed_file_when_read_then_the_error_names_the_line(
    tmp_path: Path, content: bytes, settings: dict[str, str], message: str
) -> None:
    (tmp_path / "a.csv").write_bytes(content)
    connector = CsvConnector(CsvSettings(path=str(tmp_path), **settings))
    with pytest.raises(CsvFormatError, match=message):
        read_all(connector.read("a", ["name"], page_size=10_000))


def test_given_a_ragged_row_after_a_quoted_newline_when_read_then_its_physical_line_is_reported(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_text(
        'id,name,notes\n1,Acme,"two\nlines"\n2,Beta\n3,Gamma,ok\n', encoding="utf-8"
    )
    records, pages = read_all(CsvConnector(CsvSettings(path=str(tmp_path))).read("a", ["name"]))
    rejected = [r for p in pages for r in p.rejected]
    assert [r.id for r in records] == ["1", "3"]
    assert [(r.row, r.remote_id) for r in rejected] == [(4, "2")]
    assert rejected[0].message == "a.csv: line 4 has 2 fields, the header has 3"
    assert rejected[0].raw == "2,Beta"
