"""How the Salesforce connector finds the next page before it parses the current one."""

from __future__ import annotations

import pytest

from crmhub.connectors.salesforce.connector import _UNKNOWN, _peek_next_url


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            b'{"totalSize":5000,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01gX-2000",'
            b'"records":[{"Id":"a"}]}',
            "/services/data/v62.0/query/01gX-2000",
            id="Salesforce's own order: the URL before the records",
        ),
        pytest.param(b'{"totalSize": 1, "done": true, "records": [{"Id": "a"}]}', None, id="the last page"),
        pytest.param(
            b'{"totalSize":5000,"records":[{"Id":"a"}],"done":false,"nextRecordsUrl":"/q/01gX-2000"}',
            _UNKNOWN,
            id="URL after the records: parse first",
        ),
        pytest.param(
            b'{"totalSize":5000,"done":false,"nextRecordsUrl":"\\/q\\/01gX-2000","records":[]}',
            _UNKNOWN,
            id="an escaped URL is not guessed at",
        ),
        pytest.param(b'{"totalSize":5000,"done":fal', _UNKNOWN, id="a body cut short"),
        pytest.param(b"", _UNKNOWN, id="an empty body"),
    ],
)
def test_given_a_query_page_when_peeked_then_the_next_url_is_found_only_where_it_is_certain(
    body: bytes, expected: str | None
) -> None:
    assert _peek_next_url(body) == expected
