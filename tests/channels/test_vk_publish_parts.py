"""The pure parts of publishing: where a VK answer goes, its random_id, the card's buttons and line for each
state of the publication, and the notice that carries the text to copy."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from channels.vk import (
    COMMENT_TEXT_LIMIT,
    MESSAGE_TEXT_LIMIT,
    MessageTarget,
    VkPublisher,
    WallTarget,
    random_id_of,
    vk_target,
)
from channels.vk_session import vk_session
from emulators.telegram import html_to_text
from views import texts
from views.callbacks import CaseVerb
from views.cards import publication_line, render_notification
from views.keyboards import card_verbs, offered
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Status
from workflow.model import Case, Network, Procedure, Role
from workflow.ports import Answer, Notification, Publication
from workflow.rules import DEFAULT_RULES
from workflow.services.publishing import back_off, next_midnight
from workflow.services.queries import CardView

TZ = ZoneInfo("Asia/Novosibirsk")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
GID = 201
APPROVED = Case(id=7, procedure=Procedure.OPEN_SOURCES, status=Status.APPROVED.value, version=9, t0=NOW)
OPERATORS = {Role.OPERATOR}


def pub(state: str, **kw: object) -> Publication:
    return Publication(id=3, case_id=7, network=Network.VK, item_key=f"-{GID}_5", item_link="", text="Ответ",
                       state=state, **kw)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "link", "target"),
    [
        (f"-{GID}_5", f"https://vk.com/wall-{GID}_3?reply=5", WallTarget(-GID, 3, 5)),
        ("dm:42:7", f"https://vk.com/gim{GID}?sel=42", MessageTarget(42)),
        (f"-{GID}_5", f"https://vk.com/wall-{GID}_3?reply=6", None),  # the link names another comment
        (f"-{GID}_5", "", None),  # no post to answer under
        ("5_5", "https://vk.com/wall5_3?reply=5", None),  # a user's wall: not an item of ours
        ("dm:42", "", None),
        ("dm:４２:7", "", None),  # fullwidth digits
        (f"-{GID}_{10**30}", f"https://vk.com/wall-{GID}_3?reply={10**30}", None),
    ],
)
def test_where_an_answer_goes(key: str, link: str, target: object) -> None:
    assert vk_target(key, link) == target


def test_random_id_is_the_row_id_while_it_fits_and_stays_a_positive_int32() -> None:
    assert random_id_of(1) == 1 and random_id_of(2**31 - 1) == 2**31 - 1
    for key in (2**31, 2**40 + 5, 2**63 - 1):
        assert 1 <= random_id_of(key) <= 2**31 - 1


def test_a_text_past_vks_limits_is_refused_before_any_call() -> None:
    from channels.vk import make_api

    publisher = VkPublisher(make_api("t", vk_session("http://127.0.0.1:9")), GID)
    wall = Answer(7, f"-{GID}_5", "x" * COMMENT_TEXT_LIMIT, 1, f"https://vk.com/wall-{GID}_3?reply=5")
    dm = Answer(7, "dm:42:7", "x" * MESSAGE_TEXT_LIMIT, 1)
    assert publisher.refusal(wall) is None and publisher.refusal(dm) is None
    assert "16384" in (publisher.refusal(Answer(7, wall.item_key, wall.text + "x", 1, wall.item_link)) or "")
    assert "9000" in (publisher.refusal(Answer(7, dm.item_key, dm.text + "x", 1)) or "")
    assert publisher.refusal(Answer(7, dm.item_key, "  \n", 1))
    other = Answer(7, "-5_5", "Ответ", 1, "https://vk.com/wall-5_3?reply=5")
    assert "не на стене сообщества" in (publisher.refusal(other) or "")


@pytest.mark.parametrize(
    ("publication", "verbs"),
    [
        (None, [CaseVerb.PUBLISH_AUTO, CaseVerb.PUBLISH, CaseVerb.INTERIM]),
        (pub("pending"), []),
        (pub("sending"), []),
        (pub("failed", error="ключ"), [CaseVerb.PUBLISH_AUTO, CaseVerb.PUBLISH, CaseVerb.INTERIM]),
        (pub("undeliverable", error="закрыты"), [CaseVerb.PUBLISH, CaseVerb.INTERIM]),
    ],
)
def test_the_buttons_follow_the_publication(publication: Publication | None, verbs: list[CaseVerb]) -> None:
    shown = card_verbs(APPROVED, OPERATORS, set(), channel=Network.VK, publication=publication)
    assert [v for v in shown if v in (CaseVerb.PUBLISH_AUTO, CaseVerb.PUBLISH, CaseVerb.INTERIM)] == verbs
    # A case from no network: the old button alone, never «Опубликовать».
    plain = card_verbs(APPROVED, OPERATORS, set())
    assert CaseVerb.PUBLISH in plain and CaseVerb.PUBLISH_AUTO not in plain


def test_only_a_chat_offering_publish_takes_the_press() -> None:
    from views.callbacks import CaseCb

    press = CaseCb(verb=CaseVerb.PUBLISH_AUTO, case_id=7, version=9)
    assert offered(press, APPROVED, OPERATORS, set(), [])
    assert not offered(press, APPROVED, {Role.REGION_CURATOR}, set(), [])
    assert not offered(press, APPROVED, {Role.UNIT_OFFICIAL}, {"housing"}, [])


def test_the_card_line_for_each_state() -> None:
    cal = WorkingCalendar()
    assert publication_line(pub("pending"), cal, NOW) == "⏳ Ответ публикуется во ВКонтакте…"
    retry = pub("pending", error="внутренняя ошибка ВКонтакте", next_at=NOW + timedelta(minutes=5))
    assert "повтор не раньше" in publication_line(retry, cal, NOW)
    assert "не удалась: ключ" in publication_line(pub("failed", error="ключ"), cal, NOW)
    line = publication_line(pub("undeliverable", error="комментарии к записи закрыты"), cal, NOW)
    assert "комментарии к записи закрыты" in line and "нажмите «Опубликовано»." in line
    assert publication_line(pub("published", link="https://vk.com/x"), cal, NOW) == ""


def test_the_notice_of_a_refusal_carries_the_text_to_copy() -> None:
    n = Notification(dedup_key="k", case_id=7, kind="publication_undeliverable", to_role=Role.OPERATOR, at=NOW,
                     payload={"reason": "комментарии закрыты", "text": "<b>Ответ</b> & спасибо"})  # fmt: skip
    view = CardView(case=APPROVED, message=None, open_terms=[], events=[], draft=None)
    shown = html_to_text(
        render_notification(n, view, calendar=WorkingCalendar(), rules=DEFAULT_RULES, units={}, now=NOW)
    )
    assert texts.PUBLICATION_NOTICES["publication_undeliverable"] in shown
    assert "комментарии закрыты" in shown and "<b>Ответ</b> & спасибо" in shown


def test_back_off_doubles_to_its_ceiling_and_the_quota_waits_for_local_midnight() -> None:
    assert [back_off(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert back_off(50) == timedelta(minutes=30)
    late = datetime(2026, 12, 1, 23, 59, tzinfo=TZ)
    assert next_midnight(late, TZ) == datetime(2026, 12, 2, 0, 0, tzinfo=TZ)
