"""The VK emulator, driven by the real vk-api client (VkApi, its get_api() and VkBotLongPoll) over loopback.

vk-api is synchronous (requests), so each call runs in a worker thread (asyncio.to_thread) while the aiohttp
emulator runs in the test's own event loop: the test can then change the emulator's state directly between
calls (push a comment while a long poll waits in its thread) without locks, because only the loop touches it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import vk_api
from aiohttp import web
from vk_api.bot_longpoll import VkBotEventType, VkBotLongPoll

from channels.vk_session import DEFAULT_API_BASE, VkApiSession, vk_session
from emulators.vk import API_VERSION, VkEmulator
from emulators.vk.control import Control

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
    assert (await api_error(user_vk, "wall.createComment", **answer)).code == 15  # not an admin yet
    emu.add_admin(GID, MODERATOR)
    by_admin = await call(user_vk, "wall.createComment", **answer)
    assert by_admin["comment_id"] not in (first["comment_id"], other["comment_id"])
    assert len(emu.published(GID, post_id)) == 3


async def test_an_admins_user_token_edits_deletes_and_restores_a_published_answer(emu: VkEmulator) -> None:
    post_id, comment_id = post_with_comment(emu)
    group = client(emu, emu.group_token(GID))
    answer = await call(
        group, "wall.createComment", owner_id=-GID, post_id=post_id, message="Ответ с опечаткой"
    )
    stranger = client(emu, emu.user_token(CITIZEN + 1))
    edit = {"owner_id": -GID, "comment_id": answer["comment_id"], "message": "Ответ"}
    assert (await api_error(stranger, "wall.editComment", **edit)).code == 15
    assert (await api_error(group, "wall.editComment", **edit)).code == 27  # a user token only
    emu.add_admin(GID, MODERATOR)
    admin = client(emu, emu.user_token(MODERATOR))
    lp = await long_poll(group)
    assert await call(admin, "wall.editComment", **edit) == 1
    (published,) = emu.published(GID, post_id)
    assert published.text == "Ответ" and [r.text for r in published.revisions] == ["Ответ с опечаткой"]
    ids = {"owner_id": -GID, "comment_id": answer["comment_id"]}
    assert await call(admin, "wall.deleteComment", **ids) == 1
    assert await call(admin, "wall.restoreComment", **ids) == 1
    # The citizen withdraws their own comment with their own token.
    assert await call(
        client(emu, emu.user_token(CITIZEN)), "wall.deleteComment", owner_id=-GID, comment_id=comment_id
    )
    events = await check(lp)
    assert [(str(e.type.value), e.obj.get("deleter_id")) for e in events] == [
        ("wall_reply_edit", None),
        ("wall_reply_delete", MODERATOR),
        ("wall_reply_restore", None),
        ("wall_reply_delete", CITIZEN),
    ]


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


async def test_long_poll_answers_bad_queries_with_failed_codes(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    server = await call(vk, "groups.getLongPollServer", group_id=GID)

    def a_check(**query: Any) -> Any:
        params = {"act": "a_check", "key": server["key"], "ts": server["ts"], "wait": 0, **query}
        return requests.get(server["server"], params=params, timeout=5).json()

    assert await asyncio.to_thread(a_check, key="forged") == {"failed": 2}
    assert await asyncio.to_thread(a_check, act="other") == {"failed": 2}
    assert await asyncio.to_thread(a_check, ts="abc") == {"failed": 1, "ts": int(server["ts"])}
    assert await asyncio.to_thread(a_check, ts=2**70) == {"failed": 1, "ts": int(server["ts"])}
    emu.max_wait = 0.2  # a wait that is no number waits VK's default 25 s, capped
    assert await asyncio.to_thread(a_check, wait="nan") == {"ts": server["ts"], "updates": []}
    assert await asyncio.to_thread(a_check, wait="долго") == {"ts": server["ts"], "updates": []}
    assert await asyncio.to_thread(a_check, wait="-5") == {"ts": server["ts"], "updates": []}
    assert len(emu.long_poll_checks) == 7 and all(r.finished_at is not None for r in emu.long_poll_checks)
    missing = await asyncio.to_thread(lambda: requests.get(f"{emu.base_url}/lp/999", timeout=5).status_code)
    assert missing == 404


async def test_attachments_are_downloadable_from_signed_urls_until_they_expire(emu: VkEmulator) -> None:
    post = emu.add_post(GID, "Запись")
    photo = emu.photo_attachment(CITIZEN, b"\xff\xd8 jpeg bytes", expires_in=600)
    doc = emu.doc_attachment(CITIZEN, b"%PDF-1.4 ...", "акт осмотра.pdf")
    lp = await long_poll(client(emu, emu.group_token(GID)))
    emu.add_comment(GID, post.id, CITIZEN, "Фото ямы", attachments=[photo, doc])
    (event,) = await check(lp)
    photo_url = max(event.obj.attachments[0]["photo"]["sizes"], key=lambda s: s["width"])["url"]
    doc_url = event.obj.attachments[1]["doc"]["url"]
    assert event.obj.attachments[1]["doc"]["ext"] == "pdf"

    def download(url: str) -> tuple[int, bytes]:
        response = requests.get(url, timeout=5)
        return response.status_code, response.content

    assert await asyncio.to_thread(download, photo_url) == (200, b"\xff\xd8 jpeg bytes")
    assert await asyncio.to_thread(download, doc_url) == (200, b"%PDF-1.4 ...")
    forged = photo_url.replace("sign=", "sign=x")
    assert (await asyncio.to_thread(download, forged))[0] == 404
    emu.advance(601)
    assert (await asyncio.to_thread(download, photo_url))[0] == 404  # signed URLs expire: download at once
    assert (await asyncio.to_thread(download, doc_url))[0] == 200


# ------------------------------------------------------------------------------------ tokens and methods


async def test_each_method_is_refused_to_the_wrong_kind_of_token(emu: VkEmulator) -> None:
    post_id, _ = post_with_comment(emu)
    group = client(emu, emu.group_token(GID))
    service = client(emu, emu.service_key())
    user = client(emu, emu.user_token(MODERATOR))
    for method, values in [
        ("wall.getComments", {"owner_id": -GID, "post_id": post_id}),
        ("wall.get", {"owner_id": -GID}),
        ("wall.getById", {"posts": f"-{GID}_{post_id}"}),
    ]:
        error = await api_error(group, method, **values)
        assert error.code == 27, method
        assert (
            error.error["error_msg"] == "Group authorization failed: method is unavailable with group auth."
        )
    for method, values in [
        ("messages.send", {"peer_id": CITIZEN, "message": "x", "random_id": 1}),
        ("groups.getLongPollServer", {"group_id": GID}),
        ("groups.getTokenPermissions", {}),
        ("wall.createComment", {"owner_id": -GID, "post_id": post_id, "message": "x"}),
    ]:
        error = await api_error(service, method, **values)
        assert error.code == 28, method
    assert (await api_error(user, "groups.getTokenPermissions")).code == 15
    stranger = client(emu, "vk1.a.nobody-knows-this-token")
    error = await api_error(stranger, "users.get", user_ids=CITIZEN)
    assert error.code == 5
    # VK echoes the parameters, never the token.
    assert {"key": "user_ids", "value": str(CITIZEN)} in error.error["request_params"]
    assert all(p["key"] != "access_token" for p in error.error["request_params"])
    assert emu.published(GID) == [] and emu.sent_messages(GID) == []


async def test_calls_without_token_or_version_and_unknown_methods(emu: VkEmulator) -> None:
    token = emu.group_token(GID)

    def post(method: str, data: dict[str, Any]) -> Any:
        return requests.post(f"{emu.base_url}/method/{method}", data=data, timeout=5).json()

    no_token = await asyncio.to_thread(post, "users.get", {"v": API_VERSION, "user_ids": "1"})
    assert no_token["error"]["error_code"] == 5
    no_version = await asyncio.to_thread(post, "users.get", {"access_token": token, "user_ids": "1"})
    assert no_version["error"]["error_code"] == 8
    unknown = await asyncio.to_thread(post, "wall.explode", {"access_token": token, "v": API_VERSION})
    assert unknown["error"]["error_code"] == 3
    # A GET query works as a form does.
    by_get = await asyncio.to_thread(
        lambda: requests.get(
            f"{emu.base_url}/method/users.get",
            params={"access_token": token, "v": API_VERSION, "user_ids": CITIZEN},
            timeout=5,
        ).json()
    )
    assert by_get["response"][0]["first_name"] == "Иван"


async def test_group_methods_permissions_and_lookups(emu: VkEmulator) -> None:
    token = emu.add_token("group", group_id=GID, permissions=["messages", "wall"])
    api = client(emu, token).get_api()
    permissions = await asyncio.to_thread(api.groups.getTokenPermissions)
    assert permissions == {
        "mask": 4096 | 8192,
        "permissions": [{"setting": 4096, "name": "messages"}, {"setting": 8192, "name": "wall"}],
    }
    groups = await asyncio.to_thread(api.groups.getById, group_id=GID)
    assert [(g["id"], g["name"], g["screen_name"]) for g in groups["groups"]] == [
        (GID, "Администрация Северного района", "severny_adm")
    ]
    assert (await asyncio.to_thread(api.groups.getById))["groups"][0]["id"] == GID
    assert (await asyncio.to_thread(api.groups.getById, group_ids="severny_adm"))["groups"][0]["id"] == GID
    users = await asyncio.to_thread(api.users.get, user_ids=f"{CITIZEN},{MODERATOR},99999")
    assert [(u["id"], u["first_name"], u.get("deactivated")) for u in users] == [
        (CITIZEN, "Иван", None),
        (MODERATOR, "Мария", None),
        (99999, "DELETED", "deleted"),
    ]
    assert (await asyncio.to_thread(api.utils.resolveScreenName, screen_name="ivan_petrov")) == {
        "object_id": CITIZEN,
        "type": "user",
    }
    assert (
        await asyncio.to_thread(api.utils.resolveScreenName, screen_name="https://vk.com/severny_adm")
    ) == {
        "object_id": GID,
        "type": "group",
    }
    assert (await asyncio.to_thread(api.utils.resolveScreenName, screen_name="no_such_name")) == []
    error = await api_error(client(emu, token), "users.get", user_ids="не_число!")
    assert error.code == 113


async def test_wall_get_and_get_by_id_read_posts_with_comment_counts(emu: VkEmulator) -> None:
    first = emu.add_post(GID, "Первая запись")
    second = emu.add_post(GID, "Вторая запись", comments_closed=True)
    emu.add_comment(GID, first.id, CITIZEN, "Комментарий")
    api = client(emu, emu.service_key()).get_api()
    wall = await asyncio.to_thread(api.wall.get, owner_id=-GID, count=10)
    assert wall["count"] == 2
    assert [
        (p["id"], p["text"], p["comments"]["count"], p["comments"]["can_post"]) for p in wall["items"]
    ] == [
        (second.id, "Вторая запись", 0, 0),
        (first.id, "Первая запись", 1, 1),
    ]
    by_id = await asyncio.to_thread(api.wall.getById, posts=f"-{GID}_{first.id},-{GID}_999", extended=1)
    assert [p["id"] for p in by_id["items"]] == [first.id]
    assert [g["id"] for g in by_id["groups"]] == [GID]


# ------------------------------------------------------------------------------------ community messages


async def test_messages_send_needs_random_id_and_honours_it_and_the_24_hour_window(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    lp = await long_poll(vk)
    assert (
        await api_error(vk, "messages.send", peer_id=CITIZEN, message="Здравствуйте", random_id=1)
    ).code == 901
    incoming = emu.push_message(GID, CITIZEN, "Во дворе нет света")
    error = await api_error(vk, "messages.send", peer_id=CITIZEN, message="Без random_id")
    assert error.code == 100 and "random_id" in error.error["error_msg"]
    first = await call(vk, "messages.send", peer_id=CITIZEN, message="Принято, № 12", random_id=777)
    again = await call(vk, "messages.send", peer_id=CITIZEN, message="Принято, № 12", random_id=777)
    assert isinstance(first, int) and again == first
    assert [(m.id, m.text, m.out, m.from_id) for m in emu.sent_messages(GID, CITIZEN)] == [
        (first, "Принято, № 12", 1, -GID)
    ]
    events = await check(lp)
    assert [e.type for e in events] == [VkBotEventType.MESSAGE_NEW, VkBotEventType.MESSAGE_REPLY]
    new, reply = events
    assert new.message.id == incoming.id and new.message.peer_id == CITIZEN and new.message.out == 0
    assert new.message.conversation_message_id == 1 and new.message.text == "Во дворе нет света"
    assert new.from_user and new.client_info["keyboard"] is True
    assert reply.obj.id == first and reply.obj.out == 1 and reply.obj.peer_id == CITIZEN
    assert reply.obj.conversation_message_id == 2

    emu.advance(24 * 3600 + 1)  # the window closes a day after the person's last message
    late = await api_error(vk, "messages.send", peer_id=CITIZEN, message="Ответ", random_id=778)
    assert late.code == 901
    emu.push_message(GID, CITIZEN, "Ещё вопрос")
    assert await call(vk, "messages.send", peer_id=CITIZEN, message="Ответ", random_id=778) > first
    too_long = await api_error(vk, "messages.send", peer_id=CITIZEN, message="я" * 9001, random_id=779)
    assert too_long.code == 914


# ------------------------------------------------------------------------------------------ events


async def test_every_event_type_reaches_the_long_poll(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    lp = await long_poll(vk)
    post = emu.add_post(GID, "Новая запись")
    comment = emu.add_comment(GID, post.id, CITIZEN, "Было")
    emu.edit_comment(GID, comment.id, "Стало")
    emu.delete_comment(GID, comment.id)
    emu.restore_comment(GID, comment.id)
    emu.delete_comment(GID, comment.id, deleter_id=MODERATOR)
    message = emu.push_message(GID, CITIZEN, "Сообщение")
    emu.edit_message(GID, message.id, "Исправленное сообщение")
    events = await check(lp)
    assert [e.type for e in events] == [
        VkBotEventType.WALL_POST_NEW,
        VkBotEventType.WALL_REPLY_NEW,
        VkBotEventType.WALL_REPLY_EDIT,
        VkBotEventType.WALL_REPLY_DELETE,
        VkBotEventType.WALL_REPLY_RESTORE,
        VkBotEventType.WALL_REPLY_DELETE,
        VkBotEventType.MESSAGE_NEW,
        VkBotEventType.MESSAGE_EDIT,
    ]
    assert len({e.raw["event_id"] for e in events}) == len(events)
    assert events[0].obj.id == post.id and events[0].obj.text == "Новая запись"
    assert events[2].obj.text == "Стало" and events[2].obj.id == comment.id
    assert events[3].obj == {"owner_id": -GID, "id": comment.id, "deleter_id": CITIZEN, "post_id": post.id}
    assert events[4].obj.text == "Стало" and events[4].obj.from_id == CITIZEN
    assert events[5].obj.deleter_id == MODERATOR
    assert events[7].obj.text == "Исправленное сообщение" and events[7].obj.id == message.id
    assert [r.text for r in emu.comments(GID, post.id, include_deleted=True)[0].revisions] == ["Было"]


async def test_long_poll_settings_switch_event_types_off_and_on(emu: VkEmulator) -> None:
    api = client(emu, emu.group_token(GID)).get_api()
    settings = await asyncio.to_thread(api.groups.getLongPollSettings, group_id=GID)
    assert settings["is_enabled"] is True and settings["events"]["wall_reply_delete"] == 1
    assert (
        await asyncio.to_thread(
            api.groups.setLongPollSettings,
            group_id=GID,
            api_version=API_VERSION,
            wall_reply_delete=0,
            message_new=1,
        )
        == 1
    )
    assert emu.long_poll_settings(GID)["events"]["wall_reply_delete"] == 0
    lp = await long_poll(client(emu, emu.group_token(GID)))
    post = emu.add_post(GID, "Запись")
    comment = emu.add_comment(GID, post.id, CITIZEN, "Удалю")
    emu.delete_comment(GID, comment.id)
    assert [e.type for e in await check(lp)] == [VkBotEventType.WALL_POST_NEW, VkBotEventType.WALL_REPLY_NEW]
    await asyncio.to_thread(api.groups.setLongPollSettings, group_id=GID, wall_reply_delete=1)
    emu.restore_comment(GID, comment.id)
    emu.delete_comment(GID, comment.id)
    assert [e.type for e in await check(lp)] == [
        VkBotEventType.WALL_REPLY_RESTORE,
        VkBotEventType.WALL_REPLY_DELETE,
    ]
    error = await api_error(client(emu, emu.group_token(GID + 1)), "groups.setLongPollSettings", group_id=GID)
    assert error.code == 15


async def test_an_event_delivered_five_times_keeps_its_event_id(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    post = emu.add_post(GID, "Запись")
    lp = await long_poll(vk)
    comment = emu.add_comment(GID, post.id, CITIZEN, "Один раз написал")
    emu.redeliver(GID, emu.last_event_id(GID), times=4)
    events = await check(lp)
    assert len(events) == 5
    assert len({e.raw["event_id"] for e in events}) == 1
    assert {e.obj.id for e in events} == {comment.id}
    assert len(emu.comments(GID, post.id)) == 1


async def test_raw_events_of_unknown_types_or_shapes_are_delivered_as_given(emu: VkEmulator) -> None:
    lp = await long_poll(client(emu, emu.group_token(GID)))
    emu.push_event(GID, "wall_reply_new", {"id": "не число"})
    emu.push_event(GID, "something_new", {})
    events = await check(lp)
    assert [(e.type, dict(e.obj)) for e in events] == [
        (VkBotEventType.WALL_REPLY_NEW, {"id": "не число"}),
        ("something_new", {}),
    ]


# ------------------------------------------------------------------------------------ limits and failures


async def test_twenty_requests_a_second_per_token_then_error_6() -> None:
    moment = [1000.0]  # the rate window's clock, moved by the test: no real second has to pass
    async with VkEmulator(monotonic=lambda: moment[0]) as emu:
        token = emu.group_token(GID)
        vk = client(emu, token)
        vk.error_handlers.pop(6)  # vk-api would sleep 0.5 s and retry by itself: see the 6 here
        outcomes: list[int | None] = []

        def burst() -> None:
            for _ in range(25):
                try:
                    vk.method("users.get", {"user_ids": CITIZEN})
                    outcomes.append(None)
                except vk_api.ApiError as error:
                    outcomes.append(error.code)

        await asyncio.to_thread(burst)
        assert outcomes == [None] * 20 + [6] * 5
        # Another token has a window of its own.
        await call(client(emu, emu.service_key()), "users.get", user_ids=CITIZEN)
        moment[0] += 0.5
        assert (await api_error(vk, "users.get", user_ids=CITIZEN)).code == 6  # still inside the second
        moment[0] += 0.5
        await call(vk, "users.get", user_ids=CITIZEN)  # the first 20 have left the window

        # vk-api's own handler sleeps and retries: the call succeeds once the window has room.
        for _ in range(19):
            await call(vk, "users.get", user_ids=CITIZEN)
        errors_before = sum(1 for r in emu.calls() if r.error_code == 6)
        retried = asyncio.create_task(call(client(emu, token), "users.get", user_ids=CITIZEN))
        await emu.wait_for(lambda: sum(1 for r in emu.calls() if r.error_code == 6) > errors_before)
        moment[0] += 1.0
        assert (await retried)[0]["id"] == CITIZEN

        emu.set_rate_limit(None)
        for _ in range(30):
            await call(vk, "users.get", user_ids=CITIZEN)


@pytest.mark.parametrize("code", [5, 9, 10, 29, 212, 213, 901, 902, 950])
async def test_each_injected_error_reaches_vk_api_as_api_error(emu: VkEmulator, code: int) -> None:
    post_id, _ = post_with_comment(emu)
    emu.push_message(GID, CITIZEN, "Вопрос")
    token = emu.group_token(GID)
    vk = client(emu, token)
    method, values = (
        ("messages.send", {"peer_id": CITIZEN, "message": "Ответ", "random_id": 5})
        if code in (901, 902, 950)
        else ("wall.createComment", {"owner_id": -GID, "post_id": post_id, "message": "Ответ", "guid": "g1"})
    )
    emu.fail_next(code, methods=[method])
    error = await api_error(vk, method, **values)
    assert error.code == code
    assert [r.error_code for r in emu.calls(method)] == [code]
    assert emu.published(GID) == [] and emu.sent_messages(GID) == []
    if code == 5:  # a revoked token stays revoked
        assert (await api_error(vk, "users.get", user_ids=CITIZEN)).code == 5
    else:  # a one-off failure: the same call succeeds next
        await call(vk, method, **values)


async def test_injected_error_6_is_retried_by_vk_api(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    emu.fail_next(6, count=2, methods=["users.get"])
    assert (await call(vk, "users.get", user_ids=CITIZEN))[0]["id"] == CITIZEN
    assert [r.error_code for r in emu.calls("users.get")] == [6, 6, None]


async def test_failures_n_times_for_chosen_methods_only(emu: VkEmulator) -> None:
    post_id, _ = post_with_comment(emu)
    vk = client(emu, emu.service_key())
    emu.fail_next(10, count=2, methods=["wall.getComments"])
    assert (await call(vk, "users.get", user_ids=CITIZEN))[0]["id"] == CITIZEN
    for _ in range(2):
        assert (await api_error(vk, "wall.getComments", owner_id=-GID, post_id=post_id)).code == 10
    assert (await call(vk, "wall.getComments", owner_id=-GID, post_id=post_id))["count"] == 1


async def test_revoked_token_answers_5(emu: VkEmulator) -> None:
    token = emu.group_token(GID)
    vk = client(emu, token)
    await call(vk, "groups.getTokenPermissions")
    emu.revoke_token(token)
    assert (await api_error(vk, "groups.getTokenPermissions")).code == 5


@pytest.mark.parametrize("kind", ["non_json", "truncated"])
async def test_non_json_and_truncated_answers_break_the_client_decoder(emu: VkEmulator, kind: str) -> None:
    vk = client(emu, emu.group_token(GID))
    emu.fail_next(kind=kind, methods=["groups.getById"])  # type: ignore[arg-type]
    with pytest.raises(requests.exceptions.JSONDecodeError):
        await call(vk, "groups.getById")
    assert (await call(vk, "groups.getById"))["groups"][0]["id"] == GID
    assert [r.failure for r in emu.calls("groups.getById")] == [kind, None]


# ------------------------------------------------------------------------------------------ bad input


async def test_a_huge_comment_and_control_characters_arrive_intact(emu: VkEmulator) -> None:
    vk = client(emu, emu.group_token(GID))
    post = emu.add_post(GID, "Запись")
    lp = await long_poll(vk)
    huge = "Очень длинная жалоба. " * 4546  # over 100,000 characters
    hostile = "a\x00b\x01c\x1b[31m\u202eевил\ufeff\r\nконец"
    emu.add_comment(GID, post.id, CITIZEN, huge)
    emu.add_comment(GID, post.id, CITIZEN, hostile)
    events = await check(lp)
    assert [e.obj.text for e in events] == [huge, hostile]
    swept = await call(client(emu, emu.service_key()), "wall.getComments", owner_id=-GID, post_id=post.id)
    assert [c["text"] for c in swept["items"]] == [huge, hostile]
    answer = await call(vk, "wall.createComment", owner_id=-GID, post_id=post.id, message=hostile, guid="h")
    assert emu.published(GID)[0].text == hostile and answer["comment_id"] > 0


async def test_missing_or_malformed_parameters_answer_100_and_change_nothing(emu: VkEmulator) -> None:
    post_id, comment_id = post_with_comment(emu)
    group = client(emu, emu.group_token(GID))
    service = client(emu, emu.service_key())
    cases: list[tuple[vk_api.VkApi, str, dict[str, Any]]] = [
        (service, "wall.getComments", {"owner_id": -GID}),
        (service, "wall.getComments", {"owner_id": -GID, "post_id": "abc"}),
        (service, "wall.getComments", {"owner_id": -GID, "post_id": 2**64}),
        (service, "wall.getComments", {"owner_id": -GID, "post_id": "²"}),
        (service, "wall.getComments", {"owner_id": -GID, "post_id": post_id, "sort": "sideways"}),
        (service, "wall.getById", {}),
        (group, "wall.createComment", {"owner_id": -GID, "post_id": post_id}),
        (group, "wall.createComment", {"owner_id": -GID, "post_id": post_id, "message": "   "}),
        (
            group,
            "wall.createComment",
            {"owner_id": -GID, "post_id": post_id, "message": "x", "reply_to_comment": 999},
        ),
        (
            group,
            "wall.createComment",
            {"owner_id": -GID, "post_id": post_id, "message": "x", "attachments": "junk"},
        ),
        (group, "wall.createComment", {"post_id": post_id, "message": "x"}),
        (group, "messages.send", {"message": "x", "random_id": 1}),
        (group, "messages.send", {"peer_id": CITIZEN, "message": "x", "random_id": "1.5"}),
        (group, "groups.getLongPollServer", {}),
    ]
    for vk, method, values in cases:
        error = await api_error(vk, method, **values)
        assert error.code == 100, (method, values, error)
    assert emu.published(GID) == [] and emu.sent_messages(GID) == []
    assert [c.id for c in emu.comments(GID, post_id)] == [comment_id]
    # A refused call took no wall id: the next comment is numbered right after the last one.
    answer = await call(group, "wall.createComment", owner_id=-GID, post_id=post_id, message="Ответ")
    assert answer["comment_id"] == comment_id + 1
    with pytest.raises(KeyError):
        emu.add_comment(GID, post_id, CITIZEN, "Ответ в никуда", reply_to_comment=999)
    none = await call(service, "wall.getComments", owner_id=-GID, post_id=post_id, count=0)
    assert none["items"] == [] and none["count"] == 2


# ------------------------------------------------------------------------------------ the control API


async def test_the_control_api_drives_what_the_client_sees() -> None:
    emu = VkEmulator(max_wait=5, now=T0)
    emu.add_routes(Control(emu).routes())
    async with emu, aiohttp.ClientSession(base_url=emu.base_url) as http:

        async def control(path: str, body: dict[str, Any] | None = None, **query: Any) -> Any:
            if body is None:
                async with http.get(f"/_control/{path}", params=query) as response:
                    assert response.status == 200, await response.text()
                    return await response.json()
            async with http.post(f"/_control/{path}", json=body) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        await control("users", {"users": [{"id": CITIZEN, "first_name": "Иван", "last_name": "Петров"}]})
        created = await control("groups", {"id": GID, "name": "Администрация", "post": "Объявление"})
        post_id = created["post_id"]
        token = (await control("tokens", {"kind": "group", "group_id": GID}))["token"]
        service = (await control("tokens", {"kind": "service"}))["token"]
        vk = client(emu, token)
        lp = await long_poll(vk)

        pushed = await control(
            "comments", {"group_id": GID, "post_id": post_id, "from_id": CITIZEN, "text": "Яма у дома 5"}
        )
        await control("events/redeliver", {"group_id": GID, "event_id": pushed["event_id"], "times": 2})
        await control(
            "comments/edit", {"group_id": GID, "comment_id": pushed["comment_id"], "text": "Яма у дома 7"}
        )
        await control(
            "comments/delete", {"group_id": GID, "comment_id": pushed["comment_id"], "deleter_id": 1}
        )
        await control("comments/restore", {"group_id": GID, "comment_id": pushed["comment_id"]})
        message = await control("messages", {"group_id": GID, "from_id": CITIZEN, "text": "Вопрос"})
        events = await check(lp)
        assert [e.raw["event_id"] for e in events[:3]] == [pushed["event_id"]] * 3
        assert [str(e.type.value) for e in events[2:]] == [
            "wall_reply_new",
            "wall_reply_edit",
            "wall_reply_delete",
            "wall_reply_restore",
            "message_new",
        ]
        assert events[-1].message.id == message["message_id"]

        await call(vk, "wall.createComment", owner_id=-GID, post_id=post_id, message="Ответ", guid="o1")
        await call(vk, "messages.send", peer_id=CITIZEN, message="Принято", random_id=1)
        published = await control("comments", group_id=GID, post_id=post_id, from_group=1)
        assert [(c["text"], c["from_id"], c["guid"]) for c in published] == [("Ответ", -GID, "o1")]
        everything = await control("comments", group_id=GID, post_id=post_id, include_deleted=1)
        assert everything[0]["revisions"] == ["Яма у дома 5"]
        sent = await control("messages", group_id=GID, peer_id=CITIZEN, out=1)
        assert [m["text"] for m in sent] == ["Принято"]

        await control("failures", {"code": 29, "methods": ["wall.getComments"]})
        sweep = client(emu, service)
        assert (await api_error(sweep, "wall.getComments", owner_id=-GID, post_id=post_id)).code == 29
        await control("longpoll/failures", {"group_id": GID, "failed": 2})
        assert await check(lp) == []
        assert (await control("clock", {"advance": 90000}))["now"] == T0 + 90000
        assert (
            await api_error(vk, "messages.send", peer_id=CITIZEN, message="Поздно", random_id=2)
        ).code == 901
        await control("limits", {"per_second": None})
        assert emu.rate_limit is None
        calls = await control("calls", method="messages.send")
        assert [c["error_code"] for c in calls] == [None, 901]
        burst = await control(
            "bursts",
            {"group_id": GID, "post_id": post_id, "from_id": CITIZEN, "texts": [f"№{i}" for i in range(5)]},
        )
        assert len(burst["comment_ids"]) == 5
        # The community's own answers come back (comment, message), then the burst.
        later = [str(e.type.value) for e in await check(lp)]
        assert later == ["wall_reply_new", "message_reply"] + ["wall_reply_new"] * 5
        status = await control("status")
        assert status["groups"][str(GID)]["comments"] == 7

        attachment = await control(
            "attachments",
            {"owner_id": CITIZEN, "kind": "doc", "content_base64": "JVBERg==", "title": "a.pdf"},
        )
        async with http.get(attachment["doc"]["url"].removeprefix(emu.base_url)) as response:
            assert await response.read() == b"%PDF"
        refused = await control(
            "callback", {"group_id": GID, "url": "http://127.0.0.1:1/nobody", "retry_delay": 0}
        )
        assert refused == {"confirmed": False}
        state = await control("callback", group_id=GID)
        assert state["confirmed"] is False and state["attempts"][0]["type"] == "confirmation"
        assert state["attempts"][0]["status"] is None and state["attempts"][0]["error"]

        async with http.post("/_control/comments", json={"group_id": GID, "post_id": 999}) as response:
            assert response.status == 400
        async with http.post("/_control/failures", data=b"not json") as response:
            assert response.status == 400 and "JSON" in (await response.json())["error"]


async def test_the_emulator_runs_as_a_process_of_its_own(tmp_path: Path) -> None:
    setup = tmp_path / "setup.json"
    token = "vk1.a.group-token-of-the-demo"
    setup.write_text(
        json.dumps(
            {
                "users": [{"id": CITIZEN, "first_name": "Иван"}],
                "groups": [{"id": GID, "name": "Администрация", "posts": ["Объявление"]}],
                "tokens": [{"kind": "group", "group_id": GID, "value": token}],
            }
        ),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.vk", "--config", str(setup), "--max-wait", "2", "--watch-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = (await asyncio.to_thread(process.stdout.readline)).strip()
        assert base_url.startswith("http://127.0.0.1:")
        vk = vk_api.VkApi(token=token, session=vk_session(base_url), api_version=API_VERSION)
        vk.RPS_DELAY = 0
        lp = await asyncio.to_thread(VkBotLongPoll, vk, GID, 1)

        def push() -> Any:
            body = {"group_id": GID, "post_id": 1, "from_id": CITIZEN, "text": "Из другого процесса"}
            return requests.post(f"{base_url}/_control/comments", json=body, timeout=5).json()

        pushed = await asyncio.to_thread(push)
        events = await check(lp)
        assert [(e.obj.id, e.obj.text) for e in events] == [(pushed["comment_id"], "Из другого процесса")]
    finally:
        assert process.stdin is not None
        process.stdin.close()  # --watch-stdin: the emulator exits when its parent's pipe closes
        assert await asyncio.to_thread(process.wait, 10) == 0


# ------------------------------------------------------------------------------------ the Callback API


async def test_callback_api_confirms_sends_the_secret_and_retries_until_ok(emu: VkEmulator) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    answers = ["not ok", "ok"]  # the first event is refused once, then accepted

    async def endpoint(request: web.Request) -> web.Response:
        body = await request.json()
        if body["type"] == "confirmation":
            return web.Response(text="a1b2c3" if body["group_id"] == GID else "wrong")
        received.append((body, request.headers.get("X-Retry-Counter")))
        return web.Response(text=answers.pop(0) if answers else "ok")

    app = web.Application()
    app.router.add_post("/vk/callback", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/vk/callback"
    try:
        assert not await emu.connect_callback(GID, url, confirmation_code="другой код")
        assert await emu.connect_callback(
            GID, url, confirmation_code="a1b2c3", secret="s3cret", retry_delay=0.01
        )
        post = emu.add_post(GID, "Запись")
        comment = emu.add_comment(GID, post.id, CITIZEN, "Через Callback API")
        await emu.wait_for(lambda: emu.callback_pending(GID) == 0 and len(received) == 3)
        assert [(b["type"], b["secret"], retry) for b, retry in received] == [
            ("wall_post_new", "s3cret", None),
            ("wall_post_new", "s3cret", "1"),
            ("wall_reply_new", "s3cret", None),
        ]
        assert received[0][0]["event_id"] == received[1][0]["event_id"]
        assert received[2][0]["object"]["id"] == comment.id
        server = emu.callback_servers[GID]
        assert server.gave_up == [] and [a.accepted for a in server.attempts] == [False, False, True, True]

        answers.extend(["error"] * 3)  # an endpoint that never says ok: VK gives up after the retries
        server.retries = 2
        emu.add_comment(GID, post.id, CITIZEN, "Не примут")
        await emu.wait_for(lambda: emu.callback_pending(GID) == 0)
        assert server.gave_up == [emu.last_event_id(GID)]
        emu.disconnect_callback(GID)
        emu.add_comment(GID, post.id, CITIZEN, "Уже не по Callback API")
        assert emu.callback_pending(GID) == 0 and len(received) == 6
    finally:
        await runner.cleanup()
