"""storage/direct.py: SQLite's hot statements convert instants exactly as SQLAlchemy's column type does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from storage import direct
from storage.tables import terms
from storage.types import NaiveDatetimeError

_DIALECT = sqlite.dialect()
_SA_BIND = terms.c.due.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
_SA_RESULT = terms.c.due.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)

instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
).filter(lambda d: d.utcoffset() is not None)


@given(instants)
def test_instant_text_is_what_sqlalchemy_stores(value: datetime) -> None:
    assert _SA_BIND is not None and _SA_RESULT is not None
    text = direct.instant_text(value)
    assert text == _SA_BIND(value)
    back = direct.instant_from_text(text)
    # Compared in UTC: Python calls an ambiguous local time (fold) unequal to any other zone's (PEP 495).
    assert back == _SA_RESULT(text) == value.astimezone(UTC)
    assert back is not None and back.tzinfo is UTC


def test_instant_text_keeps_time_order_and_refuses_naive() -> None:
    a = datetime(2026, 12, 2, 9, 0, tzinfo=timezone(timedelta(hours=7)))
    b = datetime(2026, 12, 2, 2, 0, 0, 1, tzinfo=UTC)
    assert str(direct.instant_text(a)) < str(direct.instant_text(b))
    assert direct.instant_text(None) is None and direct.instant_from_text(None) is None
    with pytest.raises(NaiveDatetimeError):
        direct.instant_text(datetime(2026, 12, 2, 9, 0))


def test_insert_statement_for_any_number_of_rows() -> None:
    insert = direct.Insert(
        terms, ("case_id", "due"), _DIALECT, returning="id", suffix=" ON CONFLICT DO NOTHING"
    )
    assert (
        insert.sql(2)
        == "INSERT INTO terms (case_id, due) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING RETURNING id"
    )
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert insert.params([{"case_id": 1, "due": at}, {"case_id": 2, "due": None}]) == [
        1,
        "2026-12-02 09:00:00.000000",
        2,
        None,
    ]
