"""Emulator record ids: the table-driven fast path agrees with the checksum algorithm."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crmhub.emulators.salesforce.ids import POD, _b62_9, make_id, parse_id, to_18


@given(prefix=st.sampled_from(["001", "003", "005", "00Q", "a0B", "0Zz"]), row=st.integers(0, 62**9 - 2))
def test_given_any_row_when_an_id_is_made_then_it_carries_salesforces_checksum_and_parses_back(
    prefix: str, row: int
) -> None:
    made = make_id(prefix, row)
    assert made == to_18(prefix + POD + _b62_9(row + 1))
    assert parse_id(made) == (prefix, row)


def test_given_rows_around_the_fast_paths_edge_when_ids_are_made_then_they_stay_ordered_and_distinct() -> None:
    rows = [0, 1, 61, 62, 3843, 3844, 62**5 - 2, 62**5 - 1, 62**5]
    ids = [make_id("001", r) for r in rows]
    assert [i[:15] for i in ids] == sorted(i[:15] for i in ids)
    assert len(set(ids)) == len(ids)
