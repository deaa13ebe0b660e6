"""parse_vk_event: the real event shapes of CHANNELS.md, our own echoes, and hostile events."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from channels.vk import TEXT_LIMIT, inbox_key, parse_vk_event
from workflow.model import Attachment, ItemKind, Network

GID = 168975658
SEEN = datetime(2026, 12, 2, 9, 12, tzinfo=UTC)


def comment(**extra: Any) -> dict[str, Any]:
    obj = {"id": 4, "from_id": 381980625, "post_id": 3, "owner_id": -GID, "parents_stack": [], "date": 1594972082,
           "text": "test", "thread": {"count": 0}, "post_owner_id": -GID}  # fmt: skip
    obj.update(extra)
    return obj


def event(kind: str, obj: object, event_id: str = "e2c9a1") -> dict[str, Any]:
    return {"type": kind, "object": obj, "group_id": GID, "event_id": event_id}


def dm(**extra: Any) -> dict[str, Any]:
    message = {"date": 1594972100, "from_id": 381980625, "id": 0, "out": 0, "peer_id": 381980625,
               "text": "Когда починят дорогу?", "conversation_message_id": 17, "attachments": [],
               "fwd_messages": []}  # fmt: skip
    message.update(extra)
    return message


def test_a_new_wall_comment_is_an_item_with_its_natural_key_and_link() -> None:
    item = parse_vk_event(event("wall_reply_new", comment()), GID, seen_at=SEEN)
    assert item is not None
    assert (item.network, item.key, item.kind, item.text) == (Network.VK, f"-{GID}_4", ItemKind.NEW, "test")
    assert item.link == f"https://vk.com/wall-{GID}_3?reply=4"
    assert (item.author_id, item.author, item.thread) == (381980625, "id381980625", f"wall-{GID}_3")
    assert item.seen_at == SEEN and item.written_at == datetime.fromtimestamp(1594972082, UTC)
    assert inbox_key(item) == f"-{GID}_4:new"  # no revision: the reconciler's copy is the same row


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("wall_reply_edit", ItemKind.EDIT), ("wall_reply_restore", ItemKind.RESTORE)],
)
def test_edit_and_restore_carry_the_whole_comment_and_a_revision(kind: str, expected: ItemKind) -> None:
    item = parse_vk_event(event(kind, comment(text="исправлено")), GID, seen_at=SEEN)
    assert item is not None and item.kind is expected and item.text == "исправлено"
    assert inbox_key(item) == f"-{GID}_4:{expected.value}:e2c9a1"


def test_a_deletion_names_who_deleted() -> None:
    raw = event("wall_reply_delete", {"owner_id": -GID, "id": 4, "deleter_id": 381980625, "post_id": 3})
    item = parse_vk_event(raw, GID, seen_at=SEEN)
    assert item is not None and item.kind is ItemKind.DELETE and item.author_id == 381980625
    assert item.key == f"-{GID}_4" and item.thread == f"wall-{GID}_3"


def test_a_community_message_and_its_edit() -> None:
    new = parse_vk_event(event("message_new", {"message": dm(), "client_info": {}}), GID, seen_at=SEEN)
    assert new is not None and new.key == "dm:381980625:17" and new.kind is ItemKind.NEW
    assert new.thread == "dm381980625" and new.text == "Когда починят дорогу?"
    edit = parse_vk_event(event("message_edit", dm(text="Когда?")), GID, seen_at=SEEN)
    assert edit is not None and edit.kind is ItemKind.EDIT and edit.key == new.key and edit.text == "Когда?"


def test_attachments_are_described() -> None:
    attachments = [
        {"type": "photo", "photo": {"sizes": [{"url": "https://sun/s.jpg", "width": 75, "height": 50},
                                              {"url": "https://sun/x.jpg", "width": 1280, "height": 960}]}},
        {"type": "doc", "doc": {"url": "https://vk.com/doc1_2", "title": "акт.pdf"}},
        {"type": "video", "video": {"owner_id": 5, "id": 6, "title": "яма"}},
        {"type": "sticker", "sticker": {"sticker_id": 9}},
        "garbage",
    ]  # fmt: skip
    item = parse_vk_event(event("wall_reply_new", comment(attachments=attachments)), GID, seen_at=SEEN)
    assert item is not None
    assert item.attachments == (
        Attachment("photo", "https://sun/x.jpg"),
        Attachment("document", "https://vk.com/doc1_2", "акт.pdf"),
        Attachment("video", "https://vk.com/video5_6", "яма"),
        Attachment("sticker", ""),
    )


@pytest.mark.parametrize(
    "raw",
    [
        event("wall_reply_new", comment(from_id=-GID)),  # our own answer coming back
        event("wall_reply_edit", comment(from_id=-GID)),
        event("message_new", {"message": dm(out=1, from_id=-GID)}),
        event("message_edit", dm(out=1)),
        event("wall_post_new", {"id": 9, "owner_id": -GID}),
    ],
)
def test_echoes_and_our_own_posts_are_no_items(raw: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_vk_event(raw, GID, seen_at=SEEN) is None
    assert caplog.records == []  # an echo is expected, not worth a line


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "text",
        [],
        {},
        {"type": 5},
        {"type": "wall_reply_new"},
        {"type": "wall_reply_new", "object": "x"},
        event("wall_reply_new", {"id": 4}),
        event("wall_reply_new", comment(id="4; drop table")),
        event("wall_reply_new", comment(id=2**70)),
        event("wall_reply_new", comment(id="--5")),
        event("wall_reply_new", comment(id="４")),
        event("wall_reply_new", comment(id="9" * 30)),
        event("wall_reply_new", comment(from_id=None)),
        event("wall_reply_new", comment(post_id=True)),
        event("wall_reply_delete", {"owner_id": -GID}),
        event("message_new", {"message": dm(conversation_message_id=None)}),
        event("message_new", {"message": "x"}),
        event("group_join", {"user_id": 1}),
        {"type": "x" * 100_000, "object": {}},
    ],
)
def test_hostile_events_are_skipped_with_one_line(raw: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_vk_event(raw, GID, seen_at=SEEN) is None
    assert len(caplog.records) == 1
    assert len(caplog.records[0].getMessage()) < 300


def test_a_huge_text_full_of_control_characters_is_cleaned_and_cut(caplog: pytest.LogCaptureFixture) -> None:
    text = ("яма\x00\x07\x1b" * 25_000) + "\r\nконец"
    with caplog.at_level(logging.WARNING):
        item = parse_vk_event(event("wall_reply_new", comment(text=text)), GID, seen_at=SEEN)
    assert item is not None
    assert len(item.text) == TEXT_LIMIT and set(item.text) == set("яма")
    assert len(caplog.records) == 1


def test_a_string_id_is_taken_as_vk_would_mean_it() -> None:
    item = parse_vk_event(event("wall_reply_new", comment(id="4", from_id="381980625")), GID, seen_at=SEEN)
    assert item is not None and item.key == f"-{GID}_4" and item.author_id == 381980625


def test_the_name_noted_at_intake_names_the_author_and_is_cleaned() -> None:
    item = parse_vk_event(
        event("wall_reply_new", comment(otklik_author="Иван\x00 Петров")), GID, seen_at=SEEN
    )
    assert item is not None and item.author == "Иван Петров (id381980625)"
    noted = parse_vk_event(event("wall_reply_new", comment(otklik_author=["x"])), GID, seen_at=SEEN)
    assert noted is not None and noted.author == "id381980625"
