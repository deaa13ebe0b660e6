"""storage/repository.py: the sweep's JSON texts, written by hand, are exactly what json.dumps writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import create_async_engine

from storage.repository import _json, _passed_keys, _pg_outbox_rows, _plain_object_text, _SqliteDirect
from tests.storage.strategies import texts
from workflow.model import Role
from workflow.ports import Notification

# Any text, with the characters json.dumps escapes (quotes, backslashes, controls) and some it does not.
any_texts = texts | st.text(st.sampled_from('"\\/\n\r\t\b\f\x01\x1f\x7f\u2028\u2029яё€𝄞 a'), max_size=12)
plain_values = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | any_texts
plain_objects = st.dictionaries(any_texts, plain_values, max_size=6)
# What the fast path refuses and hands back to the codec and the serializer.
other_values = (
    st.floats(allow_nan=True)
    | st.lists(plain_values, max_size=2)
    | st.dictionaries(any_texts, plain_values, max_size=2)
)


@given(st.lists(plain_objects, max_size=4))
def test_plain_object_text_is_json_dumps(objects: list[dict[str, Any]]) -> None:
    quoted: dict[str, str] = {}  # shared across objects, as across a sweep's payloads
    for value in objects:
        assert _plain_object_text(value, quoted) == _json(value)
        assert json.loads(_json(value)) == value


@given(plain_objects, any_texts, other_values)
def test_anything_else_is_refused(value: dict[str, Any], key: str, other: Any) -> None:
    assert _plain_object_text({**value, key: other}, {}) is None
    assert _plain_object_text({**value, 1: "x"}, {}) is None
    assert _plain_object_text({**value, key: Role.OPERATOR}, {}) is None  # an Enum goes through the codec


def test_sqlite_serializer_matches_so_the_fast_path_is_on() -> None:
    from storage.engine import _json_dumps

    dialect = sqlite.dialect(json_serializer=_json_dumps)
    assert _SqliteDirect(dialect).plain_text
    # Another serializer (here json.dumps with its default spaces): every payload goes through it instead.
    other = _SqliteDirect(sqlite.dialect(json_serializer=json.dumps))
    assert not other.plain_text
    n = Notification("k", 1, "reminder", Role.OPERATOR, datetime(2026, 12, 2, tzinfo=UTC), payload={"a": 1})
    assert other.outbox_rows([n])[0][7] == '{"a": 1}'


def _old_pg_rows(dialect: Any, notifications: list[Notification]) -> str:
    """The rows as enqueue built them before: dicts through `_json`."""
    from storage.repository import _instant_text, _payload

    instant_text = _instant_text(dialect)
    return _json(
        [
            {"k": n.dedup_key, "c": n.case_id, "kind": n.kind, "r": Role(n.to_role).value, "u": n.unit,
             "t": n.term_id, "at": instant_text(n.at), "p": _payload(n)}
            for n in notifications
        ]
    )  # fmt: skip


notifications = st.builds(
    Notification,
    dedup_key=any_texts,
    case_id=st.none() | st.integers(1, 2**40),
    kind=st.sampled_from(["reminder", "missed", "card"]),
    to_role=st.sampled_from(list(Role)) | st.sampled_from([r.value for r in Role]),
    at=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)).map(
        lambda d: d.replace(tzinfo=timezone(timedelta(hours=7)))
    ),
    term_id=st.none() | any_texts,
    unit=st.none() | any_texts,
    payload=plain_objects | st.dictionaries(any_texts, plain_values | other_values, max_size=3),
)

_PG = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1/none")  # never connected


@given(st.lists(notifications, max_size=5))
def test_pg_outbox_rows_are_the_rows_json(items: list[Notification]) -> None:
    dialect = _PG.dialect  # the engine's: instants as asyncpg is handed them, in ISO 8601
    assert _pg_outbox_rows(dialect, items) == _old_pg_rows(dialect, items)


def test_passed_points_come_in_their_order_whatever_order_sqlite_aggregates_them_in() -> None:
    assert _passed_keys('[[0,"r50"]]') == ("r50",)
    assert _passed_keys('[[10,"missed"],[2,"r80"],[0,"r50"]]') == ("r50", "r80", "missed")  # n, not text
    assert _passed_keys('[[1,"a,b"],[0,"к:\\""]]') == ('к:"', "a,b")  # keys as stored, whatever they hold
