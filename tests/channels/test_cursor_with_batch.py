"""A network's batch and its cursor are saved in one transaction (real SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from storage.inbox import Cursor, Inbox, Incoming
from storage.repository import SqlRepository
from tests.storage.conftest import SettableClock, clock, engine, repo

__all__ = ["clock", "engine", "repo"]  # tests/storage's fixtures: real SQLite and PostgreSQL engines


def _vk(key: str, lane: str = "wall-1_3") -> Incoming:
    return Incoming("vk", key, lane, {"type": "wall_reply_new", "object": {"id": key}})


@pytest.fixture
def box(repo: SqlRepository, clock: SettableClock) -> Inbox:
    return Inbox(repo.engine, clock=clock)


async def test_the_cursor_is_saved_with_the_batch_and_moves_on(box: Inbox, clock: SettableClock) -> None:
    assert await box.cursor("vk") is None
    assert await box.save_batch([_vk("-1_4:new")], cursor=Cursor("vk", "10")) == 1
    assert await box.cursor("vk") == "10"
    # The same event again (redelivered) with the next cursor: no new row, the cursor moves.
    assert await box.save_batch([_vk("-1_4:new"), _vk("-1_5:new")], cursor=Cursor("vk", "12")) == 1
    assert await box.cursor("vk") == "12"
    # An empty batch still moves the cursor (a long poll that timed out with no events).
    assert await box.save_batch([], cursor=Cursor("vk", "13")) == 0
    assert await box.cursor("vk") == "13"
    assert await box.cursor("telegram") is None
    row = await box.claim("w")
    assert row is not None and row.received_at == clock.now()  # the moment Otklik first saw it


class _Killed:
    """Stands for the cursor's statement: executing it fails, after the batch's rows were inserted."""

    def _execute_on_connection(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("killed between the rows and the cursor")


async def test_a_failed_write_keeps_neither_rows_nor_cursor(
    box: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    await box.save_batch([_vk("-1_4:new")], cursor=Cursor("vk", "10"))
    with monkeypatch.context() as patch:
        patch.setattr(box, "_upsert_cursor", lambda cursor, now: _Killed())
        with pytest.raises(RuntimeError, match="killed between"):
            await box.save_batch([_vk("-1_5:new")], cursor=Cursor("vk", "12"))
    assert await box.cursor("vk") == "10"
    assert await box.pending() == 1  # the row of the failed batch went with it: the batch is read again
