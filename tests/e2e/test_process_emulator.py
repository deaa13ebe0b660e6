"""The emulator in a process of its own (`python -m emulators.telegram`): its control API does what the crash
tests rely on: bursts at an exact pace, the chats' history, the request log, flood limits, and it goes away
with the process that started it. (The Telegram emulator's own test: MAX's has no process or control API.)"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo import INTAKE_CHAT, OPERATOR
from tests.support.process import EmulatorProcess

pytestmark = pytest.mark.process


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess.start(tmp_path)
    try:
        yield process
    finally:
        process.stop()


def bot_api(emu: EmulatorProcess, method: str, **params: object) -> dict[str, object]:
    req = urllib.request.Request(
        f"{emu.base_url}/bot{emu.token}/{method}",
        data=json.dumps(params).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            result: dict[str, object] = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        result = json.loads(exc.read())
    return result


def test_a_burst_keeps_its_pace_and_lands_in_the_history(emu: EmulatorProcess) -> None:
    texts = [f"сообщение {n}" for n in range(20)]
    burst_id = emu.burst(INTAKE_CHAT, OPERATOR.user_id, texts, rate=50.0)
    state = emu.burst_state(burst_id)
    while not state["done"]:
        state = emu.burst_state(burst_id)
    stamps = state["pushed_at"]
    assert len(stamps) == 20
    # Message k goes out at start + k/50: the whole burst spans 19 intervals of 20 ms, give or take a tick.
    assert stamps[-1] - stamps[0] == pytest.approx(19 / 50.0, abs=0.05)
    assert stamps == sorted(stamps)

    history = emu.history(INTAKE_CHAT)
    assert [m["text"] for m in history] == texts
    assert [m["message_id"] for m in history] == state["message_ids"]
    assert not any(m["from_bot"] for m in history)
    assert emu.status()["pending_updates"] == 20

    # A bot confirming them: the log shows the call, and nothing is left pending.
    updates = bot_api(emu, "getUpdates", timeout=0)
    assert updates["ok"] is True
    last = updates["result"][-1]["update_id"]  # type: ignore[index]
    bot_api(emu, "getUpdates", offset=last + 1, timeout=0)
    assert emu.status()["pending_updates"] == 0
    assert [c["method"] for c in emu.calls("getUpdates")] == ["getUpdates", "getUpdates"]


def test_all_at_once_is_pushed_before_the_answer(emu: EmulatorProcess) -> None:
    burst_id = emu.burst(INTAKE_CHAT, OPERATOR.user_id, ["а", "б", "в"], rate=None)
    assert emu.burst_state(burst_id)["done"]
    assert emu.status()["pending_updates"] == 3


def test_limits_are_set_at_run_time(emu: EmulatorProcess) -> None:
    emu.limits({"group_count": 1, "group_window": 60.0})
    assert bot_api(emu, "sendMessage", chat_id=INTAKE_CHAT, text="раз")["ok"] is True
    refused = bot_api(emu, "sendMessage", chat_id=INTAKE_CHAT, text="два")
    assert refused["error_code"] == 429
    emu.limits(None)
    assert bot_api(emu, "sendMessage", chat_id=INTAKE_CHAT, text="три")["ok"] is True
    assert [m["text"] for m in emu.history(INTAKE_CHAT, from_bot=True)] == ["раз", "три"]
    assert [c["status"] for c in emu.calls("sendMessage")] == [200, 429, 200]


def test_it_exits_when_the_process_that_started_it_goes(emu: EmulatorProcess) -> None:
    assert emu.popen.stdin is not None
    emu.popen.stdin.close()  # what happens to its stdin when the test process dies
    assert emu.popen.wait(timeout=10) == 0
