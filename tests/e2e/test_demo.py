"""`otklik demo` shows what issues 10, 11 and 14 built, in the chats' transcript (the bot's own texts, not the
narration): intake by one press, a unit's reply to a reminder landing on its case, the unit's photo reaching the
operator and the region curator with the draft before approval, the office head's /my listing the routing he owes;
a VK comment and a Telegram channel comment becoming cases by themselves and their approved answers published
under them (read back from the emulators' own records too); issue 12's sources: an Odnoklassniki comment taken
in by the poll and answered under it in OK, a ЦУР IM card merging with the VK comment already taken in (one
case, the term moved to the ЦУР detection time) and a ПОС e-mail becoming a local_fast case in the ПОС curator's
chat; the head's п.18 report of the week at the day's end (issue 14); and two runs print the same bytes.

Every test runs on both staff messengers (issue 15 item 5: `otklik demo --messenger max`): the same scenes in
MAX's emulator, except the Telegram channel's: on MAX one line says why and a resident's dialog with the
administration's MAX bot plays in its slot (issue 15 item 3), its case taking the channel case's number."""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass

import openpyxl
import pytest

from bot.demo import (
    CHAT_TITLES,
    HEAD,
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    MAX_CITIZEN,
    OFFICE_HEAD,
    OK_CITIZEN,
    OK_GROUP,
    OK_GROUP_NAME,
    OK_TOPIC,
    OPERATOR,
    POS_CURATOR,
    REGION_CURATOR,
    SPIKE_ADDRESS,
    SPIKE_COMMENTS,
    TG_CHANNEL_TITLE,
    TG_CITIZEN,
    TG_GROUP,
    VK_CITIZEN,
    VK_GROUP,
    VK_GROUP_NAME,
    VK_NEIGHBOUR,
    Played,
    demo,
)
from bot.demo_staff import MESSENGERS, Messenger
from emulators.staff import visible_text
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


VK_CASE = 1  # the VK comment at 09:12, before anything else
CURATOR_CASE = 2  # pasted by the operator at 09:30, from the ЦУР
TG_CASE = 5  # the comment under the Telegram channel's post at 12:30, or on MAX the resident's dialog message


@dataclass(frozen=True)
class Later:
    """The numbers of the afternoon's cases: the same on MAX, where the MAX dialog's case takes the channel's."""

    merged: int  # the VK comment at 15:30 the ЦУР hands over at 15:45
    pos_mail: int  # the ПОС e-mail at 16:05
    ok: int  # the Odnoklassniki comment at 16:20


LATER: dict[Messenger, Later] = {"telegram": Later(6, 7, 8), "max": Later(6, 7, 8)}


async def play(messenger: Messenger) -> list[str]:
    printed: list[str] = []
    await demo(out=printed.append, messenger=messenger)
    return printed


@pytest.fixture(scope="module", params=MESSENGERS)
def day(request: pytest.FixtureRequest) -> tuple[list[str], Played]:
    printed: list[str] = []
    played = asyncio.run(demo(out=printed.append, messenger=request.param))
    return printed, played


@pytest.fixture(scope="module")
def later(day: tuple[list[str], Played]) -> Later:
    return LATER[day[1].messenger]


def shows_file(message: Shown, label: str) -> bool:
    """The message is the file `label` names («[фото]», «[документ x.xlsx]»), on MAX as on Telegram (uploads)."""
    return message.body == [label]


@pytest.fixture(scope="module")
def transcript(day: tuple[list[str], Played]) -> str:
    return day[0][-1]  # the narration comes first, the chats' transcript last


@pytest.fixture(scope="module")
def played(day: tuple[list[str], Played]) -> Played:
    return day[1]


def of_case(messages: list[Shown], case: int) -> list[Shown]:
    return [m for m in messages if texts.NOTE_CASE.format(case_id=case) in m.body]


def test_intake_takes_one_press(transcript: str) -> None:
    question = next(m for m in of(INTAKE_CHAT, chats(transcript)) if texts.INTAKE_QUESTION in m.body)
    assert question.replies_to is None  # the bot's own question: no reply mark on bot messages
    assert f"[{texts.BTN_INTAKE['curator']}]" in question.text
    # The first press registers: the question's next version is the registration itself.
    after = question.body[question.body.index(PRESSED) + 1]
    name = OPERATOR.name
    assert after == texts.INTAKE_REGISTERED.format(
        case_id=CURATOR_CASE, source=texts.INTAKE_SOURCES["curator"], name=name
    )


def test_a_reply_to_a_reminder_lands_on_its_case_with_its_photo(transcript: str) -> None:
    seen = chats(transcript)
    unit = of(HOUSING_CHAT, seen)
    reply = next(m for m in unit if m.who == HOUSING.name)
    assert reply.replies_to is not None and reply.replies_to.startswith("⏰ Напоминание:")
    assert reply.body[0].startswith("[фото] Ямочный ремонт")
    assert unit[unit.index(reply) + 1].body == [texts.DONE_BY_ACTION["info"]]

    intake = of(INTAKE_CHAT, seen)
    info = of_case(bot_says(intake, notice(NoticeKind.INFO_RECEIVED)), VK_CASE)
    assert len(info) == 1
    caption = reply.body[0].removeprefix("[фото] ")
    assert texts.NOTE_TEXT.format(text=caption) in info[0].body
    assert texts.NOTE_CASE.format(case_id=1) in info[0].body
    # The photo itself follows the notice in the operator's chat (sendPhoto), not a count of attachments.
    assert shows_file(intake[intake.index(info[0]) + 1], "[фото]")


def test_the_curator_sees_the_photo_with_the_draft_before_approving(transcript: str) -> None:
    seen = chats(transcript)
    curator = of(REGION_CURATOR.user_id, seen)
    drafts = of_case(bot_says(curator, notice(NoticeKind.DRAFT_SUBMITTED)), VK_CASE)
    assert len(drafts) == 2  # returned once, approved the second time
    for draft in drafts:
        assert shows_file(curator[curator.index(draft) + 1], "[фото]")
    approved = of_case(bot_says(of(INTAKE_CHAT, seen), notice(NoticeKind.APPROVED)), VK_CASE)
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


async def test_two_runs_print_the_same_bytes(day: tuple[list[str], Played]) -> None:
    printed, played = day  # the module's run is the first of the two: one more run, not two, per messenger
    assert await play(played.messenger) == printed


def vk_section(seen: dict[str, list[Shown]]) -> list[Shown]:
    [title] = [t for t in seen if t.startswith("ВКонтакте, запись ")]
    return seen[title]


def test_a_vk_comment_becomes_a_card_by_itself_and_its_answer_appears_under_it(
    transcript: str, played: Played
) -> None:
    seen = chats(transcript)
    intake = of(INTAKE_CHAT, seen)
    # The first thing in the intake chat is the bot's card: nobody typed or pressed anything for it.
    first = intake[0]
    assert first.who == "Отклик" and first.at == "09:12"
    assert first.body[0] == f"Сообщение № {VK_CASE} · открытые источники"
    assert texts.CARD_SOURCE.format(source="ВКонтакте") in first.body
    assert texts.CARD_RECEIVED.format(at="01.12.2026 09:12") in first.body

    # The emulator's own record: one community comment, in the citizen's thread, with the approved text.
    vk = played.vk
    [citizens] = [c for c in vk.groups[VK_GROUP].comments.values() if c.from_id == VK_CITIZEN[0]]
    [ours] = vk.published(VK_GROUP)
    final = "Пётр, здравствуйте! Ямочный ремонт у дома 5 выполнит ООО «Дорстрой» 3 декабря; после ремонта разместим фото."
    assert ours.reply_to_comment == citizens.id and ours.post_id == citizens.post_id and ours.text == final
    link = f"https://vk.com/wall-{VK_GROUP}_{ours.post_id}?reply={ours.id}"
    assert texts.CARD_LINK_PUBLISHED.format(link=link) in first.body

    # The transcript's VK section shows the thread: the citizen's comment, then the community's answer to it.
    wall = vk_section(seen)
    assert [(m.at, m.who) for m in wall] == [
        ("09:12", f"{VK_CITIZEN[1]} {VK_CITIZEN[2]}"),
        ("15:20", VK_GROUP_NAME),
        ("15:30", f"{VK_NEIGHBOUR[1]} {VK_NEIGHBOUR[2]}"),  # handed over by the ЦУР later, not answered today
        # The six comments about one address at 17:40–17:55 (the head's spike report), not answered today.
        *((f"17:{minute}", f"{first} {last}") for (_id, first, last), minute, _text in SPIKE_COMMENTS),
    ]
    assert wall[1].replies_to is not None and citizens.text.startswith(wall[1].replies_to.rstrip("…"))
    assert wall[1].body == [final]


def test_a_telegram_channel_comment_is_a_case_answered_in_its_thread(transcript: str, played: Played) -> None:
    if played.telegram is None:
        pytest.skip("staff on MAX: no Telegram channel (test_on_max_the_channel_scene_is_one_line_saying_the_max_scene_plays_instead)")
    seen = chats(transcript)
    intake = of(INTAKE_CHAT, seen)
    card = next(m for m in intake if m.body[0] == f"Сообщение № {TG_CASE} · открытые источники")
    assert card.who == "Отклик" and card.at == "12:30"
    assert texts.CARD_SOURCE.format(source="Telegram") in card.body
    # Nobody in the intake chat wrote anything at 12:30: the comment came in by itself.
    assert [m for m in intake if m.at == "12:30" and m.who != "Отклик"] == []

    emu = played.telegram
    [comment] = [m for m in emu.history(TG_GROUP) if m.from_id == TG_CITIZEN.user_id]
    [reply] = [m for m in emu.history(TG_GROUP) if m.from_bot]
    assert reply.reply_to_message_id == comment.message_id
    assert reply.message_thread_id == comment.message_thread_id is not None
    answer = "Анна, здравствуйте! Шесть скамеек у детской площадки установят до 15 мая."
    assert visible_text(reply) == answer
    assert any(line.startswith("Ответ: https://t.me/c/") for line in card.body)

    thread = seen[f"Telegram, обсуждение канала «{TG_CHANNEL_TITLE}»"]
    assert [m.who for m in thread] == [f"{TG_CHANNEL_TITLE} (пост канала)", TG_CITIZEN.name, "Отклик"]
    assert thread[2].body == [answer] and thread[2].replies_to is not None
    assert comment.text is not None and comment.text.startswith(thread[2].replies_to.rstrip("…"))


def test_on_max_the_channel_scene_is_one_line_saying_the_max_scene_plays_instead(
    day: tuple[list[str], Played], transcript: str
) -> None:
    printed, played = day
    if played.messenger != "max":
        pytest.skip("staff on Telegram: the channel scene plays")
    said = [line for line in printed if "Telegram-канал" in line]
    assert said == ["12:30 Сцены с Telegram-каналом администрации нет: канал Telegram читает бот Telegram, а "
                    "сотрудники работают в MAX — вместо неё житель пишет боту администрации в MAX, и его "
                    f"сообщение само становится сообщением № {TG_CASE}: карточка — в чате приёма, жителю — "
                    "ответ с номером."]  # fmt: skip
    seen = chats(transcript)
    assert not [title for title in seen if title.startswith("Telegram, обсуждение")]
    intake = of(INTAKE_CHAT, seen)
    assert not [m for m in intake if texts.CARD_SOURCE.format(source="Telegram") in m.body]
    # The day's other cases follow without a gap: the VK comment handed over at 15:45 is the sixth.
    assert [m.at for m in intake if m.body[0] == "Сообщение № 6 · открытые источники"] == ["15:30"]


MAX_ANSWER = ("Алексей, здравствуйте! Сломанные качели у дома 11 по улице Мира уберут 2 декабря, новые установят "
              "до 10 декабря.")  # fmt: skip


def test_on_max_a_residents_dialog_is_a_case_acknowledged_and_answered_in_the_dialog(
    transcript: str, played: Played
) -> None:
    if played.max is None:
        pytest.skip("staff on Telegram: no MAX bot")
    seen = chats(transcript)
    intake = of(INTAKE_CHAT, seen)
    [card] = [m for m in intake if m.who == "Отклик" and texts.CARD_SOURCE.format(source="MAX") in m.body]
    found = re.match(r"Сообщение № (\d+) · открытые источники$", card.body[0])
    assert found is not None and card.at == "12:30"
    case = int(found[1])
    assert case == TG_CASE  # the slot's case, between the п.15 one at 12:00 and the afternoon's
    assert f"Автор: {MAX_CITIZEN.name} (id{MAX_CITIZEN.user_id})" in card.body
    assert "Статус: Ответ дан" in card.body
    assert [m for m in intake if m.at == "12:30" and m.who != "Отклик"] == []  # nobody typed it in

    # The emulator's own record of the dialog: the resident's message, the acknowledgement with the number as a
    # reply to it, and the approved answer exactly once, a reply to it too.
    mx = played.max
    dialog = mx.history(MAX_CITIZEN.user_id)
    [written] = [m for m in dialog if not m.from_bot]
    assert written.from_id == MAX_CITIZEN.user_id and "сломаны качели" in written.text
    ours = [m for m in dialog if m.from_bot]
    assert [m.plain_text for m in ours] == [texts.CITIZEN_ACK.format(case_id=case), MAX_ANSWER]
    assert [m.reply_to_message_id for m in ours] == [written.message_id, written.message_id]

    shown = seen[f"MAX, диалог жителя ({MAX_CITIZEN.name}) с ботом администрации"]
    assert [(m.at, m.who) for m in shown] == [("12:30", MAX_CITIZEN.name), ("12:30", "Отклик"), ("13:25", "Отклик")]
    assert shown[1].body == [texts.CITIZEN_ACK.format(case_id=case)]
    assert shown[2].body == [MAX_ANSWER]
    for reply in shown[1:]:
        assert reply.replies_to is not None and written.text.startswith(reply.replies_to.rstrip("…"))


def test_an_ok_comment_becomes_a_card_by_itself_and_its_answer_appears_under_it_in_ok(
    transcript: str, played: Played, later: Later
) -> None:
    seen = chats(transcript)
    intake = of(INTAKE_CHAT, seen)
    card = next(m for m in intake if m.body[0] == f"Сообщение № {later.ok} · открытые источники")
    assert card.who == "Отклик" and card.at == "16:20"
    assert texts.CARD_SOURCE.format(source="Одноклассники") in card.body
    assert [m for m in intake if m.at == "16:20" and m.who != "Отклик"] == []  # nobody typed it in

    # The emulator's own record: one group comment, answering the citizen's, with the approved text.
    ok = played.ok
    [citizens] = [c for c in ok.topics[OK_TOPIC] if c.author_id == OK_CITIZEN[0]]
    [(topic, ours)] = ok.answers()
    answer = "Галина, здравствуйте! Двор дома 3 по улице Гагарина очистят от снега завтра до 12:00."
    assert (topic, ours.reply_to_comment_id, ours.text) == (OK_TOPIC, citizens.id, answer)
    link = f"https://ok.ru/group/{OK_GROUP}/topic/{OK_TOPIC}?comment={ours.id}"
    assert texts.CARD_LINK_PUBLISHED.format(link=link) in card.body

    shown = seen[f"Одноклассники, тема https://ok.ru/group/{OK_GROUP}/topic/{OK_TOPIC}"]
    assert [(m.at, m.who) for m in shown] == [("16:20", OK_CITIZEN[1]), ("17:15", OK_GROUP_NAME)]
    assert shown[1].body == [answer] and shown[1].replies_to is not None
    assert citizens.text.startswith(shown[1].replies_to.rstrip("…"))


def test_a_cur_hand_over_merges_with_its_vk_comment_and_moves_the_term(transcript: str, later: Later) -> None:
    intake = of(INTAKE_CHAT, chats(transcript))
    cards = [m for m in intake if m.body[0] == f"Сообщение № {later.merged} · открытые источники"]
    assert cards and cards[0].at == "15:30" and cards[0].who == "Отклик"  # taken in from VK by itself
    pasted = next(m for m in intake if m.who == OPERATOR.name and m.body[0] == "Инцидент № 48213")
    answer = intake[intake.index(pasted) + 1]
    assert answer.who == "Отклик" and answer.at == "15:45"
    assert answer.body == [
        f"Присоединено к сообщению № {later.merged} (срок пересчитан от ЦУР: выявлено 01.12.2026 15:10)"
    ]
    # One case: no card of a case after it until the ПОС mail's, and the card names the IM card.
    assert not [m for m in intake if m.body[0].startswith(f"Сообщение № {later.merged + 1} ")]
    card = "\n".join(cards[0].body)
    assert "Карточка ЦУР № 48213" in card and "Выявлено ЦУР: 01.12.2026 15:10" in card
    # The routing term, 1 h from T0, now runs from 15:10 (due 16:10), not from 15:30.
    missed = [m for m in intake if m.body[0].startswith("❗ Срок пропущен: Направление в подразделение")
              and texts.NOTE_CASE.format(case_id=later.merged) in m.body]  # fmt: skip
    assert [m.at for m in missed] == ["16:10"] and "до 01.12 16:10" in missed[0].body[0]


def test_a_pos_mail_becomes_a_local_fast_case_in_the_pos_curators_chat(transcript: str, later: Later) -> None:
    seen = chats(transcript)
    pos = of(POS_CURATOR.user_id, seen)
    [card] = [m for m in pos if m.body[0] == f"Сообщение № {later.pos_mail} · ПОС"]
    assert card.who == "Отклик" and card.at == "16:05"
    assert "№ ПОС 4519876" in card.body and "Поступило: 01.12.2026 16:01" in card.body
    assert "Категория: Ускоренное решение (категория района и ЦУР НСО)" in card.body
    # local_fast: 14 days for the answer in ПОС (01.12 → 15.12), not the federal class's.
    assert any(line.startswith("• Размещение ответа в ПОС") and "до 15.12 " in line for line in card.body)
    # Nobody forwarded it: the ПОС curator wrote nothing in the afternoon.
    assert [m for m in pos if m.who == POS_CURATOR.name and m.at >= "16:00"] == []


def card_showing(messages: list[Shown], snippet: str) -> tuple[int, Shown]:
    """The case number and the (final) card of the message whose text shows `snippet`."""
    card = next(m for m in messages if m.who == "Отклик" and m.body[0].startswith("Сообщение № ") and snippet in m.text)
    found = re.match(r"Сообщение № (\d+) ", card.body[0])
    assert found is not None
    return int(found[1]), card


def test_an_abusive_message_is_flagged_at_intake_and_excluded_with_one_tap(
    day: tuple[list[str], Played], transcript: str
) -> None:
    intake = of(INTAKE_CHAT, chats(transcript))
    case, card = card_showing(intake, "голову оторву")
    assert card.at == "17:20" and "Статус: Исключено из обработки" in card.body
    history = [line for line in card.body if line.startswith("01.12.2026 ")]
    assert history[0].endswith("зарегистрировано; проверка п.15: угроза должностному лицу — «оторву»")
    assert history[1].endswith(
        "исключено из обработки: п.15: угроза должностному лицу — «оторву» (по проверке текста, подтверждено)"
    )
    assert len(history) == 2  # one tap: no prompt for a reason, nothing else in between
    prompts = [m for m in intake if m.who == "Отклик" and m.body[0].startswith(f"Сообщение № {case}: ")]
    assert prompts == []
    # The card showed the warning before the tap (the narration reads it off the card).
    assert f"  На карточке № {case}: ⚠ Возможно, п.15: угроза должностному лицу — «оторву»" in day[0]


def test_a_draft_without_greeting_is_sent_back_with_the_finding_and_corrected(transcript: str) -> None:
    intake = of(INTAKE_CHAT, chats(transcript))
    case, card = card_showing(intake, "не горит фонарь")
    held = next(m for m in intake if m.who == "Отклик" and m.body[0].startswith(f"Проект ответа по сообщению № {case}"))
    assert held.body[1] == "• Нет приветствия или обращения к автору в начале ответа."
    assert f"[{texts.BTN_SUBMIT_ANYWAY}]" in held.body and f"[{texts.BTN_FIX_DRAFT}]" in held.body
    assert held.body[-1] == texts.DRAFT_WITHDRAWN_LINE  # answered by «Исправить»: the buttons gone, it says so
    drafts = [m for m in intake if m.who == OPERATOR.name and m.replies_to and m.replies_to.startswith(
        f"Сообщение № {case} ")]  # fmt: skip
    assert [d.body[0] for d in drafts] == [
        "Фонарь во дворе дома 9 заменят 2 декабря.",
        "Нина, здравствуйте! Фонарь во дворе дома 9 заменят 2 декабря.",
    ]
    assert intake[intake.index(drafts[1]) + 1].body == [texts.DONE_BY_ACTION["submit"]]
    history = "\n".join(card.body)
    assert "проект ответа задержан проверкой: нет приветствия или обращения к автору в начале ответа" in history
    assert "задержанный проект ответа отозван на исправление" in history
    assert "Проект ответа (версия 1):\nНина, здравствуйте!" in history  # only the corrected draft was submitted


def test_six_comments_about_one_address_are_reported_to_the_head_once_then_the_sixth(transcript: str) -> None:
    seen = chats(transcript)
    intake = of(INTAKE_CHAT, seen)
    # The case numbers as the intake chat's cards show them: each comment's card, taken in by itself.
    numbers: list[int] = []
    for _citizen, minute, text in SPIKE_COMMENTS:
        [card] = [m for m in intake if m.who == "Отклик" and m.at == f"17:{minute}" and text in m.body]
        numbers.append(int(card.body[0].removeprefix("Сообщение № ").split(" ")[0]))
    head = [m for m in of(HEAD.user_id, seen) if m.body and m.body[0].startswith("🚨 ")]
    assert [m.at for m in head] == ["17:52", "17:55"]  # at the fifth comment, then the sixth: nothing twice
    report, grew = head
    assert report.body[0] == texts.NOTE_SPIKE_HTML.format(count=5, window="2 ч").replace("<b>", "").replace(
        "</b>", ""
    )
    assert (
        texts.NOTE_SPIKE_ADDRESS.format(address=SPIKE_ADDRESS[0].upper() + SPIKE_ADDRESS[1:]) in report.body
    )
    listed = [line for line in report.body if line.startswith("• № ")]
    assert listed == [
        texts.NOTE_SPIKE_CASE.format(case_id=n, at=f"17:{minute}", text=text)
        for n, (_c, minute, text) in zip(numbers[:5], SPIKE_COMMENTS[:5], strict=True)
    ]
    assert "всего 6" in grew.body[0]
    assert [line for line in grew.body if line.startswith("• № ")] == [
        texts.NOTE_SPIKE_CASE.format(case_id=numbers[5], at="17:55", text=SPIKE_COMMENTS[5][2])
    ]


def test_the_day_ends_with_the_heads_weekly_report(transcript: str, played: Played) -> None:
    """Issue 14: at 18:05 the head asks for the week's п.18 report and gets the summary, the chart and the
    workbook; the workbook's figures are the summary's."""
    head = of(HEAD.user_id, chats(transcript))
    asked = next(m for m in head if m.who == HEAD.name and m.body == ["/report неделя"])
    summary, chart, book = head[head.index(asked) + 1 : head.index(asked) + 4]
    assert asked.at == summary.at == "18:05"
    assert summary.body[:2] == ["Отчёт о соблюдении сроков (п. 18)", "Период: 30.11.2026 — 06.12.2026"]
    registered = int(re.search(r"Сообщений: (\d+);", summary.text)[1])  # type: ignore[index]
    assert registered == max(int(n) for n in re.findall(r"Сообщение № (\d+) ·", transcript))  # every case of the day
    book_name = "otchet-2026-11-30-2026-12-06.xlsx"
    assert shows_file(chart, "[фото]")
    assert shows_file(book, f"[документ {book_name}]")
    if played.telegram is not None:
        [document] = [m.document for m in played.telegram.sent(HEAD.user_id) if m.document]
        assert document is not None
        content = played.telegram.files[document["file_id"]].content
    else:
        assert played.max is not None
        [content] = [f.data for m in played.max.sent(HEAD.user_id) for f in m.files if f.name == book_name]
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    figures = {row[0]: row[1] for row in workbook["Сводка"].iter_rows(min_row=6, max_col=2, values_only=True)}
    assert figures["Зарегистрировано сообщений"] == registered
    assert len(workbook["Сводка"]._charts) == 2
