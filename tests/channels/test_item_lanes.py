"""Inbox lanes of VK events (issue 11): one lane per comment, so a burst under one post is handled side by
side, while one comment's own events (new, edit, delete, restore) stay in order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from bot.channel_reader import ChannelReader
from channels.vk import VkLongPoll, inbox_key
from tests.fakes import FakeClock

GID = 777


def _event(kind: str, comment: int, post: int = 3, event_id: str = "") -> dict[str, object]:
    obj = {"id": comment, "from_id": 42, "post_id": post, "owner_id": -GID, "date": 1594972082, "text": "Яма"}
    if kind == "wall_reply_delete":
        obj = {"id": comment, "post_id": post, "owner_id": -GID, "deleter_id": 42}
    return {"type": kind, "group_id": GID, "event_id": event_id or f"{kind}-{comment}", "object": obj}


def _reader() -> ChannelReader:
    # Only the parser, the clock and the key are used to turn an event into an inbox row.
    unused = cast(Any, None)
    return ChannelReader(source=VkLongPoll(unused, GID), inbox=unused, pool=unused,
                         clock=FakeClock(datetime(2026, 12, 2, 9, tzinfo=UTC)), pacing=unused, watch=unused,
                         key_of=inbox_key)  # fmt: skip


def test_comments_under_one_post_get_lanes_of_their_own() -> None:
    reader = _reader()
    rows = [reader.incoming(_event("wall_reply_new", comment)) for comment in (4, 5, 6)]
    lanes = [row.lane for row in rows if row is not None]
    assert lanes == [f"vk:-{GID}_4", f"vk:-{GID}_5", f"vk:-{GID}_6"]


def test_every_event_of_one_comment_shares_its_lane() -> None:
    reader = _reader()
    kinds = ("wall_reply_new", "wall_reply_edit", "wall_reply_delete", "wall_reply_restore")
    rows = [reader.incoming(_event(kind, 4)) for kind in kinds]
    assert all(row is not None for row in rows)
    assert {row.lane for row in rows if row is not None} == {f"vk:-{GID}_4"}
    assert len({row.key for row in rows if row is not None}) == len(kinds)  # still four rows, in order
