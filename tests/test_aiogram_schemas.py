"""aiogram's models built on first use in `otklik run` (bot/aiogram_schemas.py, issue 16): they stay unbuilt after
the import, and what they validate and dump is what aiogram's eagerly built models give. Fresh interpreters, so
that no other test's aiogram import counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Updates with what the bot reads (a reply in a group, a photo, entities, a button press on a card), validated
# and dumped as JSON, and calls with what it sends (a keyboard, HTML), dumped as aiogram's session dumps them.
PROBE = """
import json, sys
deferred = None
if sys.argv[1] == "deferred":
    from bot.aiogram_schemas import defer_aiogram_schemas
    deferred = defer_aiogram_schemas()
from aiogram.methods import EditMessageText, GetUpdates, SendMessage
from aiogram.methods.base import Response
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
unbuilt_after_import = [m.__name__ for m in (Update, Message, SendMessage) if not m.__pydantic_complete__]
user = {"id": 7, "is_bot": False, "first_name": "Ольга", "username": "olga"}
chat = {"id": -1001, "type": "supergroup", "title": "Отдел"}
card = {"message_id": 5, "date": 1700000000, "chat": chat, "text": "Карточка", "reply_markup":
        {"inline_keyboard": [[{"text": "Взять", "callback_data": "c:1:2"}]]}}
updates = [
    {"update_id": 1, "message": {"message_id": 9, "date": 1700000001, "chat": chat, "from": user,
        "text": "ответ /my", "entities": [{"type": "bot_command", "offset": 6, "length": 3}],
        "reply_to_message": card}},
    {"update_id": 2, "message": {"message_id": 10, "date": 1700000002, "chat": chat, "from": user,
        "photo": [{"file_id": "f", "file_unique_id": "u", "width": 90, "height": 60}], "caption": "фото"}},
    {"update_id": 3, "callback_query": {"id": "q", "from": user, "chat_instance": "i", "data": "c:1:2",
        "message": card}},
]
parsed = [Update.model_validate(u).model_dump(mode="json") for u in updates]
# As aiogram's session reads an answer: a Response of the call's type, which holds Update (and Message in it).
answer = Response[GetUpdates.__returning__].model_validate({"ok": True, "result": updates})
parsed.append(answer.model_dump(mode="json"))
keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Принять", callback_data="a:1:3")]])
calls = [
    SendMessage(chat_id=-1001, text="<b>Срок</b>", parse_mode="HTML", reply_markup=keyboard),
    EditMessageText(chat_id=-1001, message_id=5, text="ок", reply_markup=keyboard),
]
# As aiogram's session dumps a call: a python dump (its Default(...) placeholders are no JSON), repr'd here.
dumped = [call.model_dump(warnings=False) for call in calls]
print(json.dumps({"deferred": deferred, "unbuilt": unbuilt_after_import, "parsed": parsed, "calls": dumped},
                 default=repr))
"""


# Every type and method of aiogram, and the Response of every method, built after the deferral: each resolves
# its references (a model that could not would raise or stay incomplete, and so fail in the bot at first use).
BUILD_ALL = """
from bot.aiogram_schemas import defer_aiogram_schemas
assert defer_aiogram_schemas()
import aiogram.methods, aiogram.types
from aiogram.methods.base import Response
from pydantic import BaseModel

def problem(model):
    try:
        model.__pydantic_validator__.title  # a deferred model builds itself here
    except Exception as exc:
        return f"{model.__name__}: {type(exc).__name__}: {exc}"
    return None if model.__pydantic_complete__ else f"{model.__name__}: incomplete"

models = [getattr(module, name) for module in (aiogram.types, aiogram.methods) for name in module.__all__]
models = [m for m in models if isinstance(m, type) and issubclass(m, BaseModel)]
calls = [m for m in models if not isinstance(vars(m).get("__returning__", property()), property)]
models += [Response[m.__returning__] for m in calls]
print(len(models), len(calls))
for model in models:
    if found := problem(model):
        print(found.splitlines()[0])
"""


def _run(mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_every_deferred_model_builds_on_first_use() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BUILD_ALL], cwd=ROOT, capture_output=True, text=True, check=True
    )
    counted, *problems = done.stdout.splitlines()
    models, calls = map(int, counted.split())
    assert calls > 150 and models > 2 * calls  # aiogram's ~400 types and ~180 methods, and the Responses
    assert problems == []


def test_deferred_models_validate_and_dump_as_aiogram_builds_them() -> None:
    deferred, eager = _run("deferred"), _run("eager")
    assert deferred["deferred"] is True
    assert deferred["unbuilt"] == ["Update", "Message", "SendMessage"]  # not built by the import
    assert eager["unbuilt"] == []  # aiogram's own import builds them (what the deferral saves)
    assert deferred["parsed"] == eager["parsed"]
    assert deferred["calls"] == eager["calls"]


def test_too_late_once_aiogram_is_imported() -> None:
    code = (
        "import aiogram\n"
        "from bot.aiogram_schemas import defer_aiogram_schemas\n"
        "from aiogram.types import Message\n"
        "print(defer_aiogram_schemas(), Message.__pydantic_complete__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


def test_aiogram_builds_its_models_itself_when_the_deferred_ones_would_not_resolve() -> None:
    """The check of the first model the bot builds fails (as with a pydantic that resolves names otherwise):
    every type and method is then built as aiogram's own import builds them."""
    code = (
        "import bot.aiogram_schemas as schemas\n"
        "schemas._reads_updates = lambda: False\n"
        "print(schemas.defer_aiogram_schemas())\n"
        "import aiogram.methods, aiogram.types\n"
        "from pydantic import BaseModel\n"
        "models = [getattr(m, n) for m in (aiogram.types, aiogram.methods) for n in m.__all__]\n"
        "models = [m for m in models if isinstance(m, type) and issubclass(m, BaseModel)]\n"
        "print(len(models), sum(not m.__pydantic_complete__ for m in models))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    deferred, counts = done.stdout.splitlines()
    assert deferred == "False"
    models, unbuilt = map(int, counts.split())
    assert models > 500 and unbuilt == 0
