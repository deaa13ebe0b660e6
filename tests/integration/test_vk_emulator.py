"""The VK emulator, driven by the real vk-api client (VkApi, its get_api() and VkBotLongPoll) over loopback.

vk-api is synchronous (requests), so each call runs in a worker thread (asyncio.to_thread) while the aiohttp
emulator runs in the test's own event loop: the test can then change the emulator's state directly between
calls (push a comment while a long poll waits in its thread) without locks, because only the loop touches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import vk_api
from vk_api.bot_longpoll import VkBotEventType, VkBotLongPoll

from channels.vk_session import DEFAULT_API_BASE, VkApiSession, vk_session
from emulators.vk import API_VERSION, VkEmulator

GID = 201
CITIZEN = 42
MODERATOR = 7
T0 = 1_790_000_000  # the emulator's clock in these tests (Unix seconds)


@pytest.fixture
async def emu() -> AsyncIterator[VkEmulator]:
    async with VkEmulator(max_wait=5, now=T0) as emulator:
        emulator.add_user(CITIZEN, "Иван", "Петров", screen_name="ivan_petrov")
        emulator.add_user(MODERATOR, "Мария", "Иванова")
        emulator.add_group(GID, "Администрация Северного района", "severny_adm")
        yield emulator


def client(emu: VkEmulator, token: str) -> vk_api.VkApi:
    vk = vk_api.VkApi(token=token, session=vk_session(emu.base_url), api_version=API_VERSION)
    vk.RPS_DELAY = 0  # the emulator's own window is under test, not vk-api's 3 a second
    return vk


async def call(vk: vk_api.VkApi, method: str, **values: Any) -> Any:
    return await asyncio.to_thread(vk.method, method, values)


async def api_error(vk: vk_api.VkApi, method: str, **values: Any) -> vk_api.ApiError:
    with pytest.raises(vk_api.ApiError) as caught:
        await call(vk, method, **values)
    return caught.value


async def long_poll(vk: vk_api.VkApi, wait: int = 1) -> VkBotLongPoll:
    return await asyncio.to_thread(VkBotLongPoll, vk, GID, wait)


async def check(lp: VkBotLongPoll) -> list[Any]:
    return await asyncio.to_thread(lp.check)


def post_with_comment(emu: VkEmulator, text: str = "Когда починят дорогу?") -> tuple[int, int]:
    post = emu.add_post(GID, "Ремонт дорог в 2026 году")
    comment = emu.add_comment(GID, post.id, CITIZEN, text)
    return post.id, comment.id


# ------------------------------------------------------------------------------------------ the session


def test_session_sends_vk_api_hosts_to_the_base_and_nothing_else() -> None:
    session = VkApiSession("http://127.0.0.1:5000/")
    assert session.rewrite("https://api.vk.ru/method/users.get") == "http://127.0.0.1:5000/method/users.get"
    assert session.rewrite("https://api.vk.com/method/wall.get") == "http://127.0.0.1:5000/method/wall.get"
    assert session.rewrite("https://api.vk.community/x") == "https://api.vk.community/x"
    assert session.rewrite("http://127.0.0.1:7/lp/1?act=a_check") == "http://127.0.0.1:7/lp/1?act=a_check"
    assert VkApiSession().rewrite("https://api.vk.ru/method/x") == DEFAULT_API_BASE + "/method/x"


async def test_the_real_client_reaches_the_emulator_through_the_session(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    users = await asyncio.to_thread(vk.get_api().users.get, user_ids=CITIZEN)
    assert users == [
        {
            "id": CITIZEN,
            "first_name": "Иван",
            "last_name": "Петров",
            "can_access_closed": True,
            "is_closed": False,
        }
    ]
    assert [(r.method, r.params["v"], r.token_kind) for r in emu.calls()] == [
        ("users.get", API_VERSION, "group")
    ]


# --------------------------------------------------------------------------------------- wall comments


async def test_get_comments_pages_sorts_threads_and_hides_deleted(emu: VkEmulator) -> None:
    post = emu.add_post(GID, "Объявление")
    first = emu.add_comment(GID, post.id, CITIZEN, "Первый")
    second = emu.add_comment(GID, post.id, MODERATOR, "Второй")
    reply = emu.add_comment(GID, post.id, MODERATOR, "Ответ в ветке", reply_to_comment=first.id)
    deep = emu.add_comment(GID, post.id, CITIZEN, "Ответ на ответ", reply_to_comment=reply.id)
    gone = emu.add_comment(GID, post.id, CITIZEN, "Удалю")
    emu.delete_comment(GID, gone.id)
    api = client(emu, emu.service_key()).get_api()

    page = await asyncio.to_thread(
        api.wall.getComments, owner_id=-GID, post_id=post.id, count=10, thread_items_count=10
    )
    assert [c["id"] for c in page["items"]] == [first.id, second.id]
    assert page["current_level_count"] == 2 and page["count"] == 4
    thread = page["items"][0]["thread"]
    assert thread["count"] == 2 and [c["id"] for c in thread["items"]] == [reply.id, deep.id]
    assert thread["items"][1]["parents_stack"] == [first.id]
    assert thread["items"][1]["reply_to_comment"] == reply.id
    assert thread["items"][1]["reply_to_user"] == MODERATOR

    newest = await asyncio.to_thread(
        api.wall.getComments, owner_id=-GID, post_id=post.id, sort="desc", offset=1, count=1
    )
    assert [c["id"] for c in newest["items"]] == [first.id]
    in_thread = await asyncio.to_thread(
        api.wall.getComments, owner_id=-GID, post_id=post.id, comment_id=first.id
    )
    assert [c["text"] for c in in_thread["items"]] == ["Ответ в ветке", "Ответ на ответ"]

    emu.restore_comment(GID, gone.id)
    again = await asyncio.to_thread(api.wall.getComments, owner_id=-GID, post_id=post.id, extended=1)
    assert [c["id"] for c in again["items"]] == [first.id, second.id, gone.id]
    assert {p["id"] for p in again["profiles"]} == {CITIZEN, MODERATOR}


async def test_create_comment_answers_as_the_community_once_per_guid(emu: VkEmulator) -> None:
    post_id, comment_id = post_with_comment(emu)
    token = emu.group_token(GID)
    vk = client(emu, token)
    lp = await long_poll(vk)
    answer = {
        "owner_id": -GID,
        "post_id": post_id,
        "from_group": GID,
        "reply_to_comment": comment_id,
        "message": "Ремонт начнётся в мае.",
        "guid": "outbox-17",
    }
    first = await call(vk, "wall.createComment", **answer)
    again = await call(client(emu, token), "wall.createComment", **answer)  # a retry after a lost answer
    assert again["comment_id"] == first["comment_id"]
    published = emu.published(GID, post_id)
    assert [(c.id, c.text, c.from_id, c.reply_to_comment) for c in published] == [
        (first["comment_id"], "Ремонт начнётся в мае.", -GID, comment_id)
    ]
    echoes = await check(lp)
    assert [(e.type, e.obj.from_id, e.obj.id) for e in echoes] == [
        (VkBotEventType.WALL_REPLY_NEW, -GID, first["comment_id"])
    ]
    # Another guid is another comment; the same guid from another token is not a repeat.
    other = await call(vk, "wall.createComment", **{**answer, "guid": "outbox-18"})
    assert other["comment_id"] != first["comment_id"]
    user_vk = client(emu, emu.user_token(MODERATOR))
    by_admin = await call(user_vk, "wall.createComment", **answer)
    assert by_admin["comment_id"] not in (first["comment_id"], other["comment_id"])
    assert len(emu.published(GID, post_id)) == 3


async def test_comments_under_a_closed_post_are_refused_with_213(emu: VkEmulator) -> None:
    post_id, _ = post_with_comment(emu)
    emu.close_comments(GID, post_id)
    vk = client(emu, emu.group_token(GID))
    error = await api_error(vk, "wall.createComment", owner_id=-GID, post_id=post_id, message="Ответ")
    assert error.code == 213
    assert emu.published(GID) == []


# ------------------------------------------------------------------------------------------ long poll


async def test_long_poll_server_is_the_emulators_own(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    server = await call(vk, "groups.getLongPollServer", group_id=GID)
    assert server["server"] == f"{emu.base_url}/lp/{GID}"
    assert isinstance(server["ts"], str) and len(server["key"]) == 40


async def test_long_poll_waits_and_answers_as_soon_as_a_comment_arrives(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    post = emu.add_post(GID, "Объявление")
    lp = await long_poll(vk, wait=4)
    started = time.monotonic()
    waiting = asyncio.create_task(check(lp))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # it really waits for an event
    comment = emu.add_comment(
        GID,
        post.id,
        CITIZEN,
        "Нет света",
        attachments=[{"type": "photo", "photo": {"id": 5, "owner_id": CITIZEN}}],
    )
    events = await waiting
    assert time.monotonic() - started < 2.0
    assert len(events) == 1
    event = events[0]
    assert event.type == VkBotEventType.WALL_REPLY_NEW and event.group_id == GID
    assert len(event.raw["event_id"]) == 40
    assert event.obj.id == comment.id and event.obj.owner_id == -GID and event.obj.post_id == post.id
    assert event.obj.from_id == CITIZEN and event.obj.date == T0 and event.obj.text == "Нет света"
    assert event.obj.parents_stack == [] and event.obj.thread == {"count": 0}
    assert event.obj.attachments == [{"type": "photo", "photo": {"id": 5, "owner_id": CITIZEN}}]


async def test_long_poll_without_events_answers_after_wait(emu: VkEmulator) -> None:
    lp = await long_poll(client(emu, emu.group_token(GID)), wait=1)
    before = lp.ts
    started = time.monotonic()
    assert await check(lp) == []
    assert 0.9 <= time.monotonic() - started < 3.0
    assert lp.ts == before


async def test_failed_1_loses_the_gap_but_wall_get_comments_still_has_it(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    post = emu.add_post(GID, "Объявление")
    lp = await long_poll(vk)
    lost = emu.add_comment(GID, post.id, CITIZEN, "Пропавший")
    emu.fail_longpoll(GID, 1)
    assert await check(lp) == []
    later = emu.add_comment(GID, post.id, CITIZEN, "Следующий")
    assert [e.obj.id for e in await check(lp)] == [later.id]
    swept = await call(client(emu, emu.service_key()), "wall.getComments", owner_id=-GID, post_id=post.id)
    assert [c["id"] for c in swept["items"]] == [lost.id, later.id]


async def test_failed_2_renews_the_key_and_keeps_the_events(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    post = emu.add_post(GID, "Объявление")
    lp = await long_poll(vk)
    old_key = lp.key
    emu.fail_longpoll(GID, 2)
    kept = emu.add_comment(GID, post.id, CITIZEN, "Не потеряется")
    assert await check(lp) == []  # vk-api asks for a new key and keeps its ts
    assert lp.key != old_key
    assert [e.obj.id for e in await check(lp)] == [kept.id]


async def test_failed_3_renews_key_and_ts(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    post = emu.add_post(GID, "Объявление")
    lp = await long_poll(vk)
    emu.fail_longpoll(GID, 3)
    emu.add_comment(GID, post.id, CITIZEN, "Потеряется для long poll")
    assert await check(lp) == []
    assert await check(lp) == []  # a fresh ts: the comment before it is not delivered
    after = emu.add_comment(GID, post.id, CITIZEN, "После")
    assert [e.obj.id for e in await check(lp)] == [after.id]
