"""Conditions over a batch of values: ``column`` is one of ``values``, in as few statements as the
database allows. Caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Integer, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

#: SQLite binds at most 32,766 parameters a statement; chunks stay well under it.
SQLITE_CHUNK = 2000


def chunks(values: Sequence[Any], size: int = SQLITE_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def among(session: Session, column: Any, values: Sequence[Any], *, integers: bool = False) -> Iterator[Any]:
    """One condition per statement to run: ``column`` is one of ``values``.

    PostgreSQL takes the whole batch as one array parameter (``= ANY(%s)``): the statement's text is
    the same for every batch, where ``IN`` renders and binds one parameter per value (2,000 a
    statement: most of a link look-up's client time there). SQLite has no arrays: ``IN`` in chunks
    of :data:`SQLITE_CHUNK`. No values: no statement at all.
    """
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        element = Integer if integers else String
        yield column == any_(bindparam("among", list(values), type_=ARRAY(element)))
        return
    for chunk in chunks(list(values)):
        yield column.in_(chunk)
