"""The OK emulator itself: the Bot API refuses a wrong key or content type, fb.do refuses an unsigned call and
a wrong application key, the control API answers a malformed request 400, and `python -m emulators.ok` runs
as a process of its own."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from channels.ok import OkApi, OkError, comments_page
from emulators.ok import OkEmulator


@pytest.fixture
async def emu() -> AsyncIterator[OkEmulator]:
    async with OkEmulator() as emulator:
        emulator.add_topic("1")
        yield emulator


async def test_the_bot_api_checks_the_key_and_the_content_type(emu: OkEmulator) -> None:
    key = emu.bot_token()
    url = f"{emu.base_url}/graph/me/subscribe"
    async with aiohttp.ClientSession() as http:
        wrong_key = await (
            await http.post(url, params={"access_token": "nope"}, json={"url": "http://x"})
        ).json()
        form = await (await http.post(url, params={"access_token": key}, data={"url": "http://x"})).json()
        right = await (await http.post(url, params={"access_token": key}, json={"url": "http://x/ok"})).json()
    assert wrong_key["error_code"] == 102 and form["error_code"] == 100 and right == {"success": True}
    assert emu.webhook_url == "http://x/ok"


async def test_fb_do_refuses_unsigned_calls_and_strange_keys(emu: OkEmulator) -> None:
    token = emu.user_token()
    async with aiohttp.ClientSession() as http:
        params = {
            "method": "users.getCurrentUser",
            "application_key": emu.application_key,
            "access_token": token,
        }
        unsigned = await (await http.get(f"{emu.base_url}/fb.do", params=params)).json()
    assert unsigned["error_code"] == 104
    api = OkApi("OTHERKEY", emu.application_secret, token, base_url=emu.base_url)
    with pytest.raises(OkError) as refused:
        await api.call("users.getCurrentUser")
    assert refused.value.code == 101
    await api.close()
    good = OkApi(emu.application_key, emu.application_secret, token, base_url=emu.base_url)
    for n in range(5):
        emu.comment("1", "5", f"c{n}")
    emu.delete("1", emu.topics["1"][1].id)
    page = await comments_page(good, "1", None, count=2)
    assert (
        [c.get("text") for c in page.comments] == ["c0", None] and page.more and page.comments[1]["deleted"]
    )
    rest = await comments_page(good, "1", page.anchor, count=10)
    assert [c["text"] for c in rest.comments] == ["c2", "c3", "c4"] and not rest.more
    await good.close()


async def test_the_control_api_refuses_malformed_requests(emu: OkEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        bad = await http.post(f"{emu.base_url}/_control/comment", json={"topic_id": "1"})
        ok = await http.post(
            f"{emu.base_url}/_control/comment", json={"topic_id": "1", "author_id": "5", "text": "x"}
        )
        answers = await (await http.get(f"{emu.base_url}/_control/answers")).json()
    assert bad.status == 400 and ok.status == 200 and answers == {"comments": [], "messages": []}


async def test_the_emulator_runs_as_a_process(tmp_path: Path) -> None:
    setup = tmp_path / "setup.json"
    setup.write_text(json.dumps({"user_tokens": ["t"], "topics": ["9"]}), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulators.ok", "--config", str(setup), "--watch-stdin",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        base = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        api = OkApi("CBAEMULATOR", "emulator-secret", "t", base_url=base)
        assert (await comments_page(api, "9", None)).comments == []
        await api.close()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 30)
