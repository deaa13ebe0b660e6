"""The digest's text (views/digest.py): Russian, escaped, within the sender's limit (Telegram's 4096, MAX's 4000) with the rest named «и ещё N»."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from views.digest import render_digest
from views.html import TEXT_LIMIT, visible_length
from workflow.calendar import WorkingCalendar
from workflow.digest import DigestContent, DigestDue, digest_notification
from workflow.model import Role, Term
from workflow.ports import TermPage
from workflow.rules import DEFAULT_RULES

MAX_TEXT_LIMIT = 4000  # MAX's characters a message (bot/max_convert.py; views/ take it from the sender)
NSK = ZoneInfo("Asia/Novosibirsk")
CAL = WorkingCalendar()
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=NSK)
DUE = DigestDue(day=date(2026, 12, 2), at=NOW, since=datetime(2026, 12, 1, 9, 0, tzinfo=NSK))


def term(
    case_id: int, term_id: str, owner: Role, due: datetime, unit: str | None = None, person: str = ""
) -> Term:
    return Term(id=case_id * 10, case_id=case_id, term_id=term_id, owner=owner, unit=unit,
                started_at=due - timedelta(hours=2), due=due, person=person)  # fmt: skip


def render(content: DigestContent, text_limit: int = TEXT_LIMIT) -> str:
    payload = digest_notification(DUE, content, NOW).payload
    return render_digest(payload, calendar=CAL, rules=DEFAULT_RULES, units=DEFAULT_RULES.units, now=NOW,
                         text_limit=text_limit)  # fmt: skip


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def test_every_part_in_russian_with_case_numbers_times_and_who_owes() -> None:
    content = DigestContent(
        new_by_procedure={"open_sources": 2, "pos": 1},
        open_by_status={"in_units": 2, "routing_proposed": 1},
        due_today=TermPage(
            (
                term(
                    7,
                    "os.unit_info",
                    Role.UNIT_OFFICIAL,
                    NOW.replace(hour=15, minute=30),
                    unit="housing",
                    person="Иван Петров",
                ),
            ),
            1,
        ),
        overdue=TermPage(
            (
                term(
                    5,
                    "os.publish",
                    Role.OPERATOR,
                    datetime(2026, 12, 1, 17, 0, tzinfo=NSK),
                    person="Мария Иванова",
                ),
            ),
            1,
        ),
        approvals=TermPage((term(9, "os.route", Role.OFFICE_HEAD, NOW.replace(hour=10)),), 1),
    )
    text = visible(render(content))
    assert text.splitlines()[0] == "📋 Сводка на 02.12.2026"
    assert "Новых сообщений с 01.12 09:00: 3" in text
    assert "• открытые источники — 2" in text and "• ПОС — 1" in text
    assert "В работе: 3" in text and "• В подразделениях — 2" in text
    assert "• Направление на согласовании — 1" in text
    unit_info = DEFAULT_RULES.term("os.unit_info").title
    assert "⏳ Сроки сегодня (1):" in text
    assert (
        f"• № 7, до 02.12 15:30 — {unit_info} — должностное лицо подразделения "
        "(ЖКХ, строительство и дорожное хозяйство), Иван Петров"
    ) in text
    publish = DEFAULT_RULES.term("os.publish").title
    assert "❗ Просрочено (1):" in text
    assert f"• № 5, до 01.12 17:00 — {publish} — уполномоченное лицо управления делами, Мария Иванова" in text
    assert "✅ Ждут вашего решения (1):" in text
    assert f"• № 9, до 02.12 10:00 — {DEFAULT_RULES.term('os.route').title}" in text
    assert "и ещё" not in text


def test_empty_lists_are_left_out_and_no_new_cases_said_so() -> None:
    content = DigestContent({}, {"in_units": 1}, TermPage((), 0), TermPage((), 0), TermPage((), 0))
    text = visible(render(content))
    assert "Новых сообщений с 01.12 09:00 нет." in text
    assert "Сроки сегодня" not in text and "Просрочено" not in text and "Ждут вашего решения" not in text


def test_a_person_s_name_is_escaped() -> None:
    evil = "<b>Иван</b> & <a href='x'>"
    content = DigestContent({}, {"in_units": 1}, TermPage((), 0),
                            TermPage((term(5, "os.publish", Role.OPERATOR, NOW, person=evil),), 1),
                            TermPage((), 0))  # fmt: skip
    text = render(content)
    assert evil not in text and "&lt;b&gt;Иван&lt;/b&gt; &amp; &lt;a href='x'&gt;" in text
    assert evil in visible(text)


@pytest.mark.parametrize("limit", [TEXT_LIMIT, MAX_TEXT_LIMIT], ids=["telegram", "max"])
def test_long_lists_stay_within_the_messenger_s_limit_and_name_the_rest(limit: int) -> None:
    long_name = "Константинопольский-Старокозьмодемьянский " * 4
    many = tuple(
        term(
            i,
            "os.unit_info",
            Role.UNIT_OFFICIAL,
            NOW + timedelta(minutes=i),
            unit="housing",
            person=long_name,
        )
        for i in range(1, 31)
    )
    content = DigestContent({"open_sources": 900}, {"in_units": 900}, TermPage(many, 400), TermPage(many, 350),
                            TermPage(many, 30))  # fmt: skip
    text = render(content, limit)
    assert limit - 400 < visible_length(text) <= limit  # filled to the sender's limit, not to Telegram's
    shown = visible(text)
    # Each list shows what fits and names the rest; the later lists keep their place (header and tail).
    for header, total in (("⏳ Сроки сегодня", 400), ("❗ Просрочено", 350), ("✅ Ждут вашего решения", 30)):
        assert f"{header} ({total}):" in shown
    tails = [int(n) for n in re.findall(r"…и ещё (\d+)", shown)]
    assert len(tails) >= 2
    lines = shown.splitlines()
    listed = sum(1 for line in lines if line.startswith("• № "))
    assert listed + sum(tails) == 400 + 350 + 30


def test_a_malformed_payload_renders_without_failing() -> None:
    text = render_digest({"day": "nonsense", "due_today": {"items": [{"case": "x"}, 5], "total": 2}},
                         calendar=CAL, rules=DEFAULT_RULES, units={}, now=NOW)  # fmt: skip
    assert text.startswith("📋 <b>Сводка на —</b>")
    assert "…и ещё 2" in text
