"""MAX Bot API shapes ↔ the Telegram Bot API shapes aiogram validates (issue 15): updates, messages, users,
chats, members and inline keyboards. Pure functions over JSON; bot/max_session.py does the talking.

Chat ids as aiogram sees them: a group keeps its MAX ``chat_id``; a dialog is named by the user's id (as a
private chat is on Telegram, and as the staff's ``telegram_id`` in the configuration names them), so a message
to a positive id goes to ``?user_id=``. Message ids are the message's ``seq`` in its chat; the session keeps the
``mid`` each stands for (storage/max_messages.py).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from aiogram.types import ForceReply, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from views.layout import KeyboardLimits

JsonDict = dict[str, Any]

TEXT_LIMIT = 4000  # characters a message
BUTTONS_LIMIT = 210
ROWS_LIMIT = 30
ROW_BUTTONS_LIMIT = 7

# MAX's error code for a message naming an upload it is still processing [?]: the session sends it again.
NOT_READY_CODE = "attachment.not.ready"

# Update types turned into aiogram updates; any other is logged once and skipped (confirmed with the next poll).
KNOWN_UPDATES = frozenset({"message_created", "message_edited", "message_callback", "bot_started"})
# What views/ lay keyboards out in on MAX (the sender hands it over): the adapter refuses anything beyond.
KEYBOARD_LIMITS = KeyboardLimits(rows=ROWS_LIMIT, per_row=ROW_BUTTONS_LIMIT, total=BUTTONS_LIMIT)


class KeyboardRefused(ValueError):
    """A keyboard MAX would refuse (too many buttons or rows, a button it has no kind for): nothing is sent."""


def update_id_of(raw: JsonDict) -> int:
    """A stable id for a MAX update (MAX gives none): the same update delivered again gets the same id, so the
    inbox keeps it once. From the message's mid or the callback's id (an edit: the mid and the edit's time, so
    two edits of one message are two updates); else from the whole update."""
    kind = str(raw.get("update_type", ""))
    found = raw.get("message")
    message: JsonDict = found if isinstance(found, dict) else {}
    inner = message.get("body")
    body: JsonDict = inner if isinstance(inner, dict) else {}
    key: str
    if kind == "message_callback":
        key = str((raw.get("callback") or {}).get("callback_id", ""))
    elif kind == "message_created" and body.get("mid"):
        key = str(body["mid"])
    elif kind == "message_edited" and body.get("mid"):
        key = f"{body['mid']}\n{raw.get('timestamp', '')}"
    else:
        key = json.dumps(raw, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(f"{kind}\n{key}".encode()).digest()
    return int.from_bytes(digest[:6], "big") + 1  # 48 bits: an int every JSON reader keeps exactly


def user_json(raw: JsonDict | None) -> JsonDict | None:
    if not raw or raw.get("user_id") is None:
        return None
    first = raw.get("first_name") or raw.get("name") or "Пользователь MAX"
    data: JsonDict = {
        "id": int(raw["user_id"]),
        "is_bot": bool(raw.get("is_bot", False)),
        "first_name": first,
    }
    if raw.get("last_name"):
        data["last_name"] = raw["last_name"]
    if raw.get("username"):
        data["username"] = raw["username"]
    return data


def chat_id_of(message: JsonDict, bot_id: int) -> int:
    """The chat a MAX message is in, as aiogram names it: a group's chat_id; a dialog: the user's id."""
    recipient = message.get("recipient") or {}
    sender = message.get("sender") or {}
    if recipient.get("chat_type") == "dialog":
        sender_id = sender.get("user_id")
        if sender_id is not None and int(sender_id) != bot_id:
            return int(sender_id)
        if recipient.get("user_id") is not None:
            return int(recipient["user_id"])
    return int(recipient.get("chat_id") or 0)


def _chat_json(message: JsonDict, bot_id: int) -> JsonDict:
    recipient = message.get("recipient") or {}
    chat_id = chat_id_of(message, bot_id)
    if recipient.get("chat_type") == "dialog":
        return {"id": chat_id, "type": "private"}
    return {"id": chat_id, "type": "channel" if recipient.get("chat_type") == "channel" else "group"}


def message_json(message: JsonDict, bot_id: int, *, nested: bool = False) -> JsonDict:
    """A MAX message as a Telegram Message (``message_id`` = its seq)."""
    body = message.get("body") or {}
    chat = _chat_json(message, bot_id)
    data: JsonDict = {
        "message_id": int(body.get("seq") or 0),
        "date": int(message.get("timestamp") or 0) // 1000,
        "chat": chat,
    }
    sender = user_json(message.get("sender"))
    if sender is not None:
        data["from"] = sender
    text = str(body.get("text") or "")  # MAX sends the text a person reads; its formatting goes in `markup`
    link = message.get("link") or {}
    inner = link.get("message") or {}
    if link.get("type") == "forward":
        text = text or str(inner.get("text") or "")
        origin_user = user_json(link.get("sender"))
        data["forward_origin"] = (
            {"type": "user", "date": data["date"], "sender_user": origin_user}
            if origin_user is not None
            else {"type": "hidden_user", "date": data["date"], "sender_user_name": "Пользователь MAX"}
        )
    elif link.get("type") == "reply" and inner and not nested:
        quoted: JsonDict = {
            "message_id": int(inner.get("seq") or 0),
            "date": data["date"],
            "chat": chat,
            "text": str(inner.get("text") or ""),
        }
        quoted_from = user_json(link.get("sender"))
        if quoted_from is not None:
            quoted["from"] = quoted_from
        data["reply_to_message"] = quoted
    attachments = body.get("attachments") or []
    for attachment in attachments:
        payload = attachment.get("payload") or {}
        url = payload.get("url")
        if not url:
            continue
        unique = str(payload.get("token") or payload.get("photo_id") or url)
        size = attachment.get("size") if isinstance(attachment.get("size"), int) else None
        if attachment.get("type") == "image" and "photo" not in data:
            data["photo"] = [{"file_id": url, "file_unique_id": unique[:64], "width": 0, "height": 0}]
        elif attachment.get("type") in ("file", "audio") and "document" not in data:
            name = str(attachment.get("filename") or "file")
            data["document"] = {"file_id": file_id_of(str(url), name), "file_unique_id": unique[:64],
                                "file_name": name, "file_size": size}  # fmt: skip
        elif attachment.get("type") == "video" and "video" not in data:
            data["video"] = {
                "file_id": url,
                "file_unique_id": unique[:64],
                "width": 0,
                "height": 0,
                "duration": 0,
            }
    if "photo" in data or "document" in data or "video" in data:
        if text:
            data["caption"] = text
    elif text:
        data["text"] = text
    keyboard = next((a for a in attachments if a.get("type") == "inline_keyboard"), None)
    if keyboard is not None:
        data["reply_markup"] = keyboard_markup_json(keyboard)
    return data


def file_id_of(url: str, name: str) -> str:
    """A MAX file's id for aiogram: its URL, with its name in the fragment (never sent in a request), so the
    file sent again by this id is uploaded under its own name."""
    return f"{url}#name={quote(name, safe='')}"


def file_name_of(file_id: str) -> str | None:
    """The name file_id_of put in a file id, if any."""
    names = parse_qs(urlsplit(file_id).fragment).get("name")
    return names[0] if names else None


def mids_of(message: JsonDict, bot_id: int) -> list[tuple[int, int, str]]:
    """(chat id, message id, mid) for a message and the one it links to."""
    found: list[tuple[int, int, str]] = []
    chat_id = chat_id_of(message, bot_id)
    for body in (message.get("body") or {}, ((message.get("link") or {}).get("message") or {})):
        if body.get("mid") and body.get("seq") is not None:
            found.append((chat_id, int(body["seq"]), str(body["mid"])))
    return found


def update_json(raw: JsonDict, bot_id: int) -> JsonDict | None:
    """A MAX update as a Telegram Update; None for a type Otklik does not handle."""
    kind = raw.get("update_type")
    update_id = update_id_of(raw)
    if kind == "message_created" and isinstance(raw.get("message"), dict):
        return {"update_id": update_id, "message": message_json(raw["message"], bot_id)}
    if kind == "message_edited" and isinstance(raw.get("message"), dict):  # Telegram's edited_message
        edited = message_json(raw["message"], bot_id)
        edited["edit_date"] = int(raw.get("timestamp") or 0) // 1000
        return {"update_id": update_id, "edited_message": edited}
    if kind == "message_callback":
        callback = raw.get("callback") or {}
        clicker = user_json(callback.get("user"))
        if clicker is None or not callback.get("callback_id"):
            return None
        query: JsonDict = {
            "id": str(callback["callback_id"]),
            "from": clicker,
            "chat_instance": str(callback["callback_id"]),
            "data": str(callback.get("payload") or ""),
        }
        if isinstance(raw.get("message"), dict):
            query["message"] = message_json(raw["message"], bot_id)
        return {"update_id": update_id, "callback_query": query}
    if kind == "bot_started":  # the «Начать» button of a dialog: Telegram's /start
        user = user_json(raw.get("user"))
        if user is None:
            return None
        payload = raw.get("payload")
        return {
            "update_id": update_id,
            "message": {
                "message_id": 0,
                "date": int(raw.get("timestamp") or 0) // 1000,
                "chat": {"id": user["id"], "type": "private"},
                "from": user,
                "text": f"/start {payload}" if payload else "/start",
            },
        }
    return None


def keyboard_attachment(markup: object) -> JsonDict | None:
    """An aiogram reply markup as MAX's inline_keyboard attachment (callback payload = our callback_data).

    ForceReply and reply keyboards have no MAX counterpart: None (the text goes without them). A keyboard over
    MAX's limits, or with a button kind it lacks, raises KeyboardRefused before anything is sent."""
    if markup is None or isinstance(markup, ForceReply | ReplyKeyboardRemove | ReplyKeyboardMarkup):
        return None
    if not isinstance(markup, InlineKeyboardMarkup):
        raise KeyboardRefused(f"MAX: разметка {type(markup).__name__} не поддерживается")
    rows: list[list[JsonDict]] = []
    for row in markup.inline_keyboard:
        buttons: list[JsonDict] = []
        for button in row:
            if button.callback_data is not None:
                buttons.append({"type": "callback", "text": button.text, "payload": button.callback_data})
            elif button.url is not None:
                buttons.append({"type": "link", "text": button.text, "url": button.url})
            else:
                raise KeyboardRefused(f"MAX: у кнопки «{button.text}» нет аналога (только callback и ссылка)")
        if len(buttons) > ROW_BUTTONS_LIMIT:
            raise KeyboardRefused(f"MAX: в ряду клавиатуры не больше {ROW_BUTTONS_LIMIT} кнопок")
        if buttons:
            rows.append(buttons)
    if len(rows) > ROWS_LIMIT:
        raise KeyboardRefused(f"MAX: в клавиатуре не больше {ROWS_LIMIT} рядов")
    if sum(len(row) for row in rows) > BUTTONS_LIMIT:
        raise KeyboardRefused(f"MAX: в клавиатуре не больше {BUTTONS_LIMIT} кнопок")
    if not rows:
        return None
    return {"type": "inline_keyboard", "payload": {"buttons": rows}}


def keyboard_markup_json(attachment: JsonDict) -> JsonDict:
    """MAX's inline_keyboard attachment as a Telegram InlineKeyboardMarkup."""
    rows: list[list[JsonDict]] = []
    for row in (attachment.get("payload") or {}).get("buttons") or []:
        buttons: list[JsonDict] = []
        for button in row:
            if button.get("type") == "callback":
                buttons.append({"text": button.get("text", ""), "callback_data": button.get("payload", "")})
            elif button.get("type") == "link":
                buttons.append({"text": button.get("text", ""), "url": button.get("url", "")})
        if buttons:
            rows.append(buttons)
    return {"inline_keyboard": rows}


def user_from_me(raw: JsonDict) -> JsonDict:
    """``GET /me`` as a Telegram User (a bot; MAX bots in groups read every message [?])."""
    user = user_json({**raw, "is_bot": True}) or {"id": 0, "is_bot": True, "first_name": "MAX"}
    user.update(can_join_groups=True, can_read_all_group_messages=True, supports_inline_queries=False)
    return user


def chat_full_json(raw: JsonDict, chat_id: int) -> JsonDict:
    """``GET /chats/{id}`` as a Telegram ChatFullInfo (aiogram requires some fields MAX has no notion of)."""
    kind = {"dialog": "private", "channel": "channel"}.get(str(raw.get("type")), "group")
    data: JsonDict = {"id": chat_id, "type": kind, "accent_color_id": 0, "max_reaction_count": 0,
                      "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                              "unique_gifts": False, "premium_subscription": False,
                                              "gifts_from_channels": False}}  # fmt: skip
    if raw.get("title"):
        data["title"] = raw["title"]
    if raw.get("description"):
        data["description"] = raw["description"]
    return data


def member_json(raw: JsonDict) -> JsonDict:
    """A MAX chat member as a Telegram ChatMember. MAX gives only ``is_owner``/``is_admin`` and a permission
    list; the Telegram rights are read from the list where it names them, else False."""
    user = user_json(raw) or {"id": 0, "is_bot": False, "first_name": "?"}
    if raw.get("is_owner"):
        return {"status": "creator", "user": user, "is_anonymous": False}
    if raw.get("is_admin"):
        granted = set(raw.get("permissions") or [])
        return {
            "status": "administrator",
            "user": user,
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": "delete" in granted or "change_chat_info" in granted,
            "can_manage_video_chats": False,
            "can_restrict_members": "add_remove_members" in granted,
            "can_promote_members": "add_admins" in granted,
            "can_change_info": "change_chat_info" in granted,
            "can_invite_users": "add_remove_members" in granted,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
            "can_send_welcome_messages": False,  # required by aiogram 3.31's ChatMemberAdministrator
            "can_pin_messages": "pin_message" in granted,
        }
    return {"status": "member", "user": user}
