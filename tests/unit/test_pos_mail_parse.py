"""The ПОС mail parser's pieces without a mailbox: HTML to text, dates in three formats, the message trimmed."""

from __future__ import annotations

from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from channels.pos.html_text import html_to_text
from channels.pos.mail_parse import LabelPatterns, mail_key, parse_mail, parse_when, trim

NSK = ZoneInfo("Asia/Novosibirsk")


def test_html_scripts_styles_and_handlers_leave_no_text() -> None:
    html = (
        "<p>Текст: <b>яма</b></p><script>document.write('<p>Номер: 1</p>')</script><style>p{}</style>"
        "<SCRIPT type=x>alert(1)</SCRIPT><div onclick='evil()'>ok&nbsp;&amp;&#x44;</div><noscript>x</noscript>"
        "<p>незакрытый <b>тег"
    )
    assert html_to_text(html) == "Текст: яма\nok &D\nнезакрытый тег"


def test_table_cells_keep_a_label_and_its_value_on_one_line() -> None:
    assert html_to_text("<table><tr><td>Телефон:</td><td>+7</td></tr><tr><th>Место</th></tr></table>") == (
        "Телефон: +7\nМесто"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("02.12.2026 08:30", (2026, 12, 2, 8, 30, 0)),
        ("02.12.2026 в 8:05:07", (2026, 12, 2, 8, 5, 7)),
        ("2026-12-02T08:30", (2026, 12, 2, 8, 30, 0)),
        ("02.12.2026", (2026, 12, 2, 0, 0, 0)),
    ],
)
def test_dates(value: str, expected: tuple[int, ...]) -> None:
    when = parse_when(value, NSK)
    assert when is not None and when.tzinfo is NSK
    assert (when.year, when.month, when.day, when.hour, when.minute, when.second) == expected


def test_no_date_or_an_impossible_one() -> None:
    assert parse_when("вчера", NSK) is None
    assert parse_when("31.02.2026 10:00", NSK) is None


def test_a_date_that_does_not_parse_is_a_problem_not_an_error() -> None:
    m = EmailMessage()
    m.set_content("Номер сообщения: 123456\nДата поступления: 99.99.2026\nТекст: т")
    notice = parse_mail(m.as_bytes(), LabelPatterns.build(), NSK)
    assert notice.number == "123456" and notice.received is None
    assert notice.problems == ("дата поступления не распознана: «99.99.2026»",)


def test_the_number_from_the_subject_when_the_body_has_none() -> None:
    m = EmailMessage()
    m["Subject"] = "Сообщение № 7777777 требует ответа"
    m.set_content("Текст: т")
    assert parse_mail(m.as_bytes(), LabelPatterns.build(), NSK).number == "7777777"


def test_garbage_is_not_an_error() -> None:
    notice = parse_mail(b"\xff\xfe\x00 not a mail at all", LabelPatterns.build(), NSK)
    assert notice.number is None and "не найден номер сообщения ПОС" in notice.problems


def test_trim_keeps_a_small_message_byte_for_byte_and_cuts_a_big_attachment() -> None:
    m = EmailMessage()
    m["Message-ID"] = "<x@y>"
    m.set_content("Номер сообщения: 123456")
    small = m.as_bytes()
    assert trim(small, 100) == (small, ())
    m.add_attachment(b"z" * 5000, maintype="image", subtype="jpeg", filename="фото.jpg")
    kept, cuts = trim(m.as_bytes(), 1000)
    assert [(c.name, c.mime, c.size) for c in cuts] == [("фото.jpg", "image/jpeg", 5000)]
    assert len(kept) < 2000 and b"123456" in kept
    assert mail_key(kept) == mail_key(m.as_bytes()) == "id:<x@y>"


def test_the_curators_notices_render_escaped() -> None:
    from datetime import datetime

    from views.cards import render_pos_mail
    from workflow.model import Role
    from workflow.ports import Notification
    from workflow.rules import DEFAULT_RULES

    at = datetime(2026, 12, 2, tzinfo=NSK)
    unparsed = Notification("k", None, "pos_mail_unparsed", Role.POS_CURATOR, at, payload={
        "subject": "<b>тема</b>", "sender": "a@b", "problems": ["не найден номер сообщения ПОС"],
        "raw": "<script>alert(1)</script> текст", "cut": True,
    })  # fmt: skip
    text = render_pos_mail(unparsed, DEFAULT_RULES)
    assert "не удалось разобрать" in text and "&lt;script&gt;alert(1)&lt;/script&gt; текст" in text
    assert "<script>" not in text and "&lt;b&gt;тема&lt;/b&gt;" in text and "текст сокращён" in text
    repeat = Notification(
        "r", 5, "pos_mail_repeat", Role.POS_CURATOR, at, payload={"number": "123456", "text": "t"}
    )
    assert "сообщение № 123456 уже зарегистрировано" in render_pos_mail(repeat, DEFAULT_RULES)
    unknown = Notification("u", 5, "pos_category_unknown", Role.POS_CURATOR, at,
                           payload={"category": "Экология", "class_id": "federal_fast"})  # fmt: skip
    line = render_pos_mail(unknown, DEFAULT_RULES)
    assert "«Экология»" in line and "Ускоренное решение (категория федерального уровня)" in line
