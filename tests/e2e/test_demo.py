"""`otklik demo` shows what issue 10 built, in the chats' transcript (the bot's own texts, not the narration):
intake by one press, a unit's reply to a reminder landing on its case, the unit's photo reaching the operator and
the region curator with the draft before approval, the office head's /my listing the routing he owes; and two
runs print the same bytes."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import pytest

from bot.demo import (
    CHAT_TITLES,
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_HEAD,
    OPERATOR,
    REGION_CURATOR,
    demo,
)
from views import texts
from workflow.lifecycle import NoticeKind
from workflow.rules import DEFAULT_TERMS

HEADER = re.compile(r"^── (\d\d:\d\d) (.+?)( \(карточка обновлялась\))?( в ответ на «(.*)»)?:$")
PRESSED = "⇒ после нажатия:"


@dataclass
class Shown:
    """One message of the transcript: when, who, what it answers, and its lines (text, then buttons)."""

    at: str
    who: str
    replies_to: str | None
    body: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.body)


def chats(transcript: str) -> dict[str, list[Shown]]:
    """The transcript read back: chat title → its messages in order."""
    found: dict[str, list[Shown]] = {}
    current: list[Shown] | None = None
    for line in transcript.splitlines():
        if line.startswith("══ "):
            current = found.setdefault(line[3:].rstrip("═ "), [])
        elif (header := HEADER.match(line)) is not None:
            assert current is not None
            current.append(Shown(header[1], header[2], header[5], []))
        elif line.startswith("   ") and current:
            current[-1].body.append(line[3:])
    return found


def of(chat_id: int, seen: dict[str, list[Shown]]) -> list[Shown]:
    return seen[CHAT_TITLES[chat_id]]


def bot_says(messages: list[Shown], first_line: str) -> list[Shown]:
    return [m for m in messages if m.who == "Отклик" and m.body and m.body[0] == first_line]


def notice(kind: NoticeKind) -> str:
    return f"🔔 {kind.label}"


def term_title(term_id: str) -> str:
    return next(t.title for t in DEFAULT_TERMS if t.id == term_id)


async def play() -> list[str]:
    printed: list[str] = []
    await demo(out=printed.append)
    return printed


@pytest.fixture(scope="module")
def transcript() -> str:
    return asyncio.run(play())[-1]  # the narration comes first, the chats' transcript last


def test_intake_takes_one_press(transcript: str) -> None:
    question = next(m for m in of(INTAKE_CHAT, chats(transcript)) if texts.INTAKE_QUESTION in m.body)
    assert question.replies_to is None  # the bot's own question: no reply mark on bot messages
    assert f"[{texts.BTN_INTAKE['curator']}]" in question.text
    # The first press registers: the question's next version is the registration itself.
    after = question.body[question.body.index(PRESSED) + 1]
    name = OPERATOR.name
    assert after == texts.INTAKE_REGISTERED.format(
        case_id=1, source=texts.INTAKE_SOURCES["curator"], name=name
    )


def test_a_reply_to_a_reminder_lands_on_its_case_with_its_photo(transcript: str) -> None:
    seen = chats(transcript)
    unit = of(HOUSING_CHAT, seen)
    reply = next(m for m in unit if m.who == HOUSING.name)
    assert reply.replies_to is not None and reply.replies_to.startswith("⏰ Напоминание:")
    assert reply.body[0].startswith("[фото] Ямочный ремонт")
    assert unit[unit.index(reply) + 1].body == [texts.DONE_BY_ACTION["info"]]

    intake = of(INTAKE_CHAT, seen)
    info = bot_says(intake, notice(NoticeKind.INFO_RECEIVED))
    assert len(info) == 1
    caption = reply.body[0].removeprefix("[фото] ")
    assert texts.NOTE_TEXT.format(text=caption) in info[0].body
    assert texts.NOTE_CASE.format(case_id=1) in info[0].body
    # The photo itself follows the notice in the operator's chat (sendPhoto), not a count of attachments.
    assert intake[intake.index(info[0]) + 1].body == ["[фото]"]


def test_the_curator_sees_the_photo_with_the_draft_before_approving(transcript: str) -> None:
    seen = chats(transcript)
    curator = of(REGION_CURATOR.user_id, seen)
    drafts = bot_says(curator, notice(NoticeKind.DRAFT_SUBMITTED))
    assert drafts
    for draft in drafts:
        assert curator[curator.index(draft) + 1].body == ["[фото]"]
    approved = bot_says(of(INTAKE_CHAT, seen), notice(NoticeKind.APPROVED))
    assert len(approved) == 1
    assert drafts[-1].at < approved[0].at


def test_the_office_heads_my_lists_the_routing_he_owes_before_he_approves(transcript: str) -> None:
    seen = chats(transcript)
    head = of(OFFICE_HEAD.user_id, seen)
    asked = next(m for m in head if m.who == OFFICE_HEAD.name and m.body == ["/my"])
    answer = head[head.index(asked) + 1]
    assert answer.who == "Отклик" and answer.body[0] == "Мои сроки"
    assert any(line.startswith(f"№ 1 · {term_title('os.route')} — до ") for line in answer.body[1:])
    # He approves after: the unit's card is posted only once the routing is approved.
    unit_card = next(m for m in of(HOUSING_CHAT, seen) if m.body[0].startswith("Сообщение № 1 · "))
    assert answer.at < unit_card.at


async def test_two_runs_print_the_same_bytes() -> None:
    assert await play() == await play()
