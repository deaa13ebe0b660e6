"""Personal data kept off a foreign messenger (issue 15 item 4, views/privacy.py): a card, a notice, the spike
report, a ПОС e-mail notice, the digest, /case's history and /find's lines rendered with masking show none of
the author's name, network id, phone, e-mail or address; without masking they show them all. Pure rendering."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.commands import found_line
from views.cards import render_card, render_history, render_notification
from views.digest import render_digest
from views.privacy import MASK, NO_MASKING, Privacy, mask_name, mask_text, safe_link
from workflow.calendar import WorkingCalendar
from workflow.digest import DigestContent, DigestDue, digest_notification
from workflow.lifecycle import NoticeKind, open_case
from workflow.model import SOURCE_EDITED, Actor, Event, InboundMessage, Network, Procedure, Role, Source, Term
from workflow.ports import FoundCase, Notification, TermPage
from workflow.rules import Rules
from workflow.services.clusters import SPIKE
from workflow.services.pos_mail import POS_MAIL_REPEAT, POS_MAIL_UNPARSED
from workflow.services.queries import CardView

NSK = ZoneInfo("Asia/Novosibirsk")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=NSK)
RULES = Rules.default()
CAL = WorkingCalendar()
OPERATOR = Actor(1, frozenset({Role.OPERATOR}), name="Мария Иванова")
MASKED = Privacy.for_messenger("telegram", True)

AUTHOR_ID = 5551234
TEXT = (
    "Здравствуйте! Меня зовут Пётр Смирнов, в доме на ул. Октябрьская, 14, кв. 7 третий день нет воды. "
    "Звоните +7 (913) 555-12-34 или пишите petr.smirnov@mail.ru. Смирнову П. никто не ответил."
)
# What must never reach a foreign messenger about this author, and what must stay.
SECRETS = (
    "Пётр",
    "Смирнов",
    "5551234",
    "555-12-34",
    "(913)",
    "petr.smirnov",
    "mail.ru",
    "Октябрьская, 14",
    "кв. 7",
)
KEPT = ("третий день нет воды", "Здравствуйте")


def message(link: str = "https://vk.com/wall-77_10?reply=42") -> InboundMessage:
    return InboundMessage(
        Source.VK, "wall-77_10_42", Procedure.OPEN_SOURCES, TEXT, received_at=NOW,
        author=f"Пётр Смирнов (id{AUTHOR_ID})", author_id=AUTHOR_ID, link=link, network=Network.VK,
    )  # fmt: skip


def card_view(draft: str | None = None, *, link: str = "https://vk.com/wall-77_10?reply=42") -> CardView:
    inbound = message(link)
    opened = open_case(inbound, 0, NOW, rules=RULES, calendar=CAL, actor=OPERATOR)
    edited = Event(
        SOURCE_EDITED, 0, Role.OPERATOR, NOW + timedelta(minutes=5), text=TEXT + " Тел. 89135551234"
    )
    return CardView(case=replace(opened.case, id=7), message=inbound, open_terms=[],
                    events=[*opened.events, edited], draft=draft)  # fmt: skip


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def leaked(text: str) -> list[str]:
    shown = visible(text)
    return [s for s in SECRETS if s.lower() in shown.lower()]


def card(view: CardView, privacy: Privacy) -> str:
    text, _keyboard = render_card(view, {Role.OFFICE_HEAD}, set(), calendar=CAL, rules=RULES,
                                  units=dict(RULES.units), now=NOW, privacy=privacy)  # fmt: skip
    return text


def notice(n: Notification, view: CardView | None, privacy: Privacy) -> str:
    return render_notification(n, view, calendar=CAL, rules=RULES, units=dict(RULES.units), now=NOW,
                               privacy=privacy)  # fmt: skip


def test_the_masking_applies_to_a_foreign_messenger_only() -> None:
    assert MASKED.mask
    assert not Privacy.for_messenger("max", True).mask
    assert not Privacy.for_messenger("telegram", False).mask


def test_a_masked_card_shows_no_identity_but_the_message_and_the_post_link() -> None:
    view = card_view(
        draft="Уважаемый Пётр Сергеевич! Бригада выехала, справки по телефону 8 (383) 222-33-44."
    )
    plain = card(view, NO_MASKING)
    assert set(leaked(plain)) == set(SECRETS)  # the control: every secret is on the card without masking
    masked = card(view, MASKED)
    assert leaked(masked) == [], masked
    shown = visible(masked)
    assert "Автор: П***" in shown
    assert all(kept in shown for kept in KEPT)
    # A VK wall comment link names the comment, not its author: it stays.
    assert "https://vk.com/wall-77_10?reply=42" in shown
    # The draft keeps the administration's phone; only the author's name goes.
    assert "Уважаемый *** Сергеевич" in shown and "222-33-44" in shown


def test_a_dialogue_link_carrying_the_authors_id_goes() -> None:
    view = card_view(link=f"https://vk.com/gim77?sel={AUTHOR_ID}")
    masked = visible(card(view, MASKED))
    assert "vk.com/gim77" not in masked and "Ссылка:" not in masked
    assert "vk.com/gim77" in visible(card(view, NO_MASKING))


def test_case_history_and_find_lines_are_masked() -> None:
    view = card_view()
    history = render_history(view, CAL, units=dict(RULES.units), privacy=MASKED)
    assert leaked(history) == []
    found = FoundCase(
        7,
        "open_sources",
        "registered",
        "Пётр пишет: " + TEXT,
        "",
        frozenset(),
        author=f"Пётр Смирнов (id{AUTHOR_ID})",
    )
    assert set(leaked(found_line(found))) >= {"Пётр", "Смирнов"}
    line = found_line(MASKED.found(found))
    assert leaked(line) == [], line
    assert line.startswith("№ 7")


def test_the_heads_report_of_a_significant_message_is_masked() -> None:
    n = Notification(
        "s:7", 7, NoticeKind.SIGNIFICANT.value, Role.HEAD, NOW, payload={"reason": "Смирнов опасен"}
    )
    view = card_view()
    assert set(leaked(notice(n, view, NO_MASKING))) >= {"Пётр", "Смирнов", "5551234"}
    masked = notice(n, view, MASKED)
    assert leaked(masked) == [], masked
    assert "третий день нет воды" in visible(masked)


def test_the_spike_report_lists_cases_without_their_authors_data() -> None:
    payload = {"count": 6, "minutes": 120, "address": "ул. Октябрьская, 14", "topic": ["вода"],
               "cases": [{"id": 7, "at": NOW.isoformat(), "text": TEXT[:160]}], "more": 0}  # fmt: skip
    masked = visible(notice(Notification("k", None, SPIKE, Role.HEAD, NOW, payload=payload), None, MASKED))
    assert "Адрес: ул. Октябрьская, ***" in masked  # the street is many people's; the house goes
    assert "Меня зовут ***" in masked and "Пётр" not in masked and "кв. 7" not in masked


def test_pos_mail_notices_quote_the_letter_masked() -> None:
    raw = f"Заявитель: Смирнов Пётр Иванович\nТелефон: +79135551234\nE-mail: petr.smirnov@mail.ru\n{TEXT}"
    unparsed = Notification("u", None, POS_MAIL_UNPARSED, Role.POS_CURATOR, NOW,
                            payload={"problems": ["нет номера"], "subject": "ПОС", "sender": "pos@gosuslugi.ru",
                                     "raw": raw})  # fmt: skip
    repeat = Notification(
        "r", None, POS_MAIL_REPEAT, Role.POS_CURATOR, NOW, payload={"number": "45", "text": raw}
    )
    for n in (unparsed, repeat):
        masked = notice(n, None, MASKED)
        assert leaked(masked) == [], masked
        assert "Смирнов" in visible(notice(n, None, NO_MASKING))


def test_the_digest_carries_no_citizens_data() -> None:
    due = DigestDue(day=date(2026, 3, 2), at=NOW, since=NOW - timedelta(days=1))
    term = Term(id=70, case_id=7, term_id="os.unit_info", owner=Role.UNIT_OFFICIAL, unit="housing",
                started_at=NOW, due=NOW + timedelta(hours=3), person="Иван Петров")  # fmt: skip
    content = DigestContent(new_by_procedure={"open_sources": 1}, open_by_status={"in_units": 1},
                            due_today=TermPage((term,), 1), overdue=TermPage((), 0),
                            approvals=TermPage((), 0))  # fmt: skip
    text = render_digest(digest_notification(due, content, NOW).payload, calendar=CAL, rules=RULES,
                         units=dict(RULES.units), now=NOW)  # fmt: skip
    assert "№ 7" in visible(text) and leaked(text) == []


def test_masking_rules() -> None:
    assert mask_name("Пётр Смирнов (id1)") == "П***"
    assert mask_name("id123") == MASK and mask_name("ok.ru/profile/5") == MASK and mask_name("@petr") == MASK
    assert mask_name("Смирнов Пётр, +79135551234, ул. Ленина, 5") == "С***"
    assert safe_link("https://vk.com/id5") == "" and safe_link("tg://user?id=5") == ""
    assert safe_link("https://ok.ru/group/1/messages?chat_id=2") == ""
    assert safe_link("https://t.me/district/5?comment=9") == "https://t.me/district/5?comment=9"
    assert safe_link("https://t.me/c/123/45", ["@petr"]) == "https://t.me/c/123/45"
    assert safe_link("https://t.me/petr/45", ["@petr"]) == ""
    # Dates, case numbers and short numbers stay; a phone in any common writing goes.
    assert mask_text("Яма с 12.01.2026, № 45, дом 3 этажа") == "Яма с 12.01.2026, № 45, дом 3 этажа"
    for phone in ("+7 913 555-12-34", "8(913)5551234", "89135551234", "555-12-34", "+7-913-555-12-34"):
        assert mask_text(f"тел. {phone}, жду") == f"тел. {MASK}, жду", phone
    assert mask_text("Я, Смирнова Анна, прошу") == f"Я, {MASK}, прошу"
    assert mask_text("С уважением, Анна Смирнова") == f"С уважением, {MASK}"
    assert mask_text("пишет Иванов И. И. из села") == f"пишет {MASK} из села"
    assert mask_text("Автор: Анна Смирнова\nЯма") == f"Автор: {MASK}\nЯма"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.lists(st.text(min_size=1, max_size=12), max_size=3))
def test_masking_any_text_never_fails_and_is_stable(text: str, words: list[str]) -> None:
    """Whatever a citizen writes (and whatever the author's name is), masking gives a text and a second pass
    changes nothing the first did not."""
    once = mask_text(text, words)
    assert isinstance(once, str)
    assert mask_text(once, words).count(MASK) >= once.count(MASK)


NAMES = st.sampled_from(["Пётр", "Анна", "Ольга", "Сергей", "Наталья", "Ибрагим", "Ян", "Юлия", "Алексей"])
SURNAMES = st.sampled_from(["Смирнов", "Кузнецова", "Попов", "Ли", "Ким", "Васильев", "Зайцева", "Ёлкин"])


@settings(max_examples=60, deadline=None)
@given(
    first=NAMES,
    last=SURNAMES,
    user_id=st.integers(min_value=1000, max_value=10**10),
    digits=st.text(alphabet="0123456789", min_size=10, max_size=10),
    style=st.sampled_from(["+7 {a} {b}-{c}-{d}", "8({a}){b}{c}{d}", "+7{a}{b}{c}{d}", "8-{a}-{b}-{c}-{d}"]),
    house=st.integers(min_value=1, max_value=300),
    flat=st.integers(min_value=1, max_value=500),
)
def test_random_authors_never_show(
    first: str, last: str, user_id: int, digits: str, style: str, house: int, flat: int
) -> None:
    phone = style.format(a=digits[:3], b=digits[3:6], c=digits[6:8], d=digits[8:])
    text = (
        f"Меня зовут {first} {last}. Во дворе дома ул. Садовая, {house}, кв. {flat} яма. Мой телефон {phone}, "
        f"почта {last.lower()}{user_id}@yandex.ru. Прошу передать {first} {last} ответ."
    )
    inbound = InboundMessage(Source.VK, f"dm:{user_id}", Procedure.OPEN_SOURCES, text, received_at=NOW,
                             author=f"{first} {last} (id{user_id})", author_id=user_id,
                             link=f"https://vk.com/gim1?sel={user_id}", network=Network.VK)  # fmt: skip
    opened = open_case(inbound, 0, NOW, rules=RULES, calendar=CAL, actor=OPERATOR)
    view = CardView(case=replace(opened.case, id=9), message=inbound, open_terms=[], events=list(opened.events),
                    draft=f"Уважаемый(ая) {first} {last}, яму засыплют.")  # fmt: skip
    shown = visible(card(view, MASKED)) + visible(render_history(view, CAL, privacy=MASKED))
    shown += found_line(
        MASKED.found(
            FoundCase(
                9, "open_sources", "registered", text, "", frozenset(), author=f"{first} {last} (id{user_id})"
            )
        )
    )
    for secret in (
        first,
        last,
        str(user_id),
        phone,
        digits[-4:],
        "yandex",
        f"Садовая, {house}",
        f"кв. {flat}",
    ):
        assert not re.search(rf"(?<![\w]){re.escape(secret)}(?![\w])", shown, re.IGNORECASE), (secret, shown)
    assert f"Автор: {first[0]}***" in shown and "яма" in shown
