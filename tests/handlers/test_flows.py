"""Main flows through the real Dispatcher: open sources from intake to publication, ПОС registration and
routing, with every refusal a button can meet."""

from __future__ import annotations

from emulators.telegram import visible_text
from tests.handlers.conftest import (
    CURATOR,
    EDUCATION_CHAT,
    HOUSING_CHAT,
    HOUSING_MAN,
    INTAKE,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    POS_CHAT,
    POS_CURATOR,
    REGION,
    STRANGER,
    Harness,
    button,
    labels,
)
from views import texts
from views.callbacks import CaseCb, CaseVerb, RouteCb
from workflow.lifecycle import Status
from workflow.services import STALE_CARD


async def status(h: Harness, case_id: int) -> str:
    return (await h.services.case(case_id)).status


async def register_os(h: Harness, text: str = "Яма на дороге у школы") -> int:
    return await h.intake(text, "curator")


async def route_to(h: Harness, case_id: int, *unit_labels: str) -> str | None:
    card = await h.card(INTAKE, case_id)
    assert (
        await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_ROUTE)) == texts.CHOOSE_UNITS
    )
    for label in unit_labels:
        await h.press(INTAKE, OPERATOR, card.message_id, button(card, label))
    return await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_DONE))


async def test_open_source_flow_from_intake_to_publication(h: Harness) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    assert f"Сообщение № {case_id}" in visible_text(card)
    assert "Яма на дороге у школы" in visible_text(card)
    assert "Направление в подразделение" in visible_text(card)  # an open term with its title
    assert "осталось 1 ч рабочего времени" in visible_text(card)
    assert labels(card) == [texts.BTN_ROUTE, texts.BTN_RETURN, texts.BTN_EXCLUDE_OS, texts.BTN_SIGNIFICANT]

    # The route multi-select: toggles live in the button data.
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_ROUTE))
    housing, education = h.rules.units["housing"], h.rules.units["education"]
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, housing))
    assert texts.BTN_SELECTED.format(name=housing) in labels(card)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, education))
    assert (
        await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_DONE))
        == "Направление предложено"
    )
    assert await status(h, case_id) == Status.ROUTING_PROPOSED
    assert texts.BTN_ROUTE in labels(card)  # the card's own keyboard is back

    # The office head changes the routing: education off, then approves.
    office = await h.card(OFFICE, case_id)
    assert labels(office)[:2] == [texts.BTN_APPROVE_ROUTING, texts.BTN_CHANGE_ROUTING]
    old_approve = button(office, texts.BTN_APPROVE_ROUTING)
    await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_CHANGE_ROUTING))
    assert texts.BTN_SELECTED.format(name=education) in labels(office)
    await h.press(
        OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_SELECTED.format(name=education))
    )
    done = await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_DONE))
    assert done == "Направление согласовано"
    case = await h.services.case(case_id)
    assert (case.status, case.units) == (Status.IN_UNITS, ("housing",))
    # A second press of the old button: «уже», not «устарела».
    assert await h.press(OFFICE, OFFICE_HEAD, office.message_id, old_approve) == "Направление уже согласовано"

    # The unit answers by replying to its card.
    unit_card = await h.card(HOUSING_CHAT, case_id)
    assert "информацию для ответа" in visible_text(unit_card)
    await h.send(HOUSING_CHAT, HOUSING_MAN, "Ремонт 5 марта", reply_to=unit_card.message_id)
    assert h.texts(HOUSING_CHAT)[-1] == "Информация направлена"
    assert (await h.services.case(case_id)).assignments[0].info_given

    # The operator replies to the intake card with the draft; the curator gets the card.
    await h.send(INTAKE, OPERATOR, "Здравствуйте! Ремонт 5 марта.", reply_to=card.message_id)
    assert await status(h, case_id) == Status.ON_APPROVAL
    region = await h.card(REGION, case_id)
    assert "Здравствуйте! Ремонт 5 марта." in visible_text(region)
    assert labels(region) == [texts.BTN_APPROVE, texts.BTN_REWORK]

    # Rework with a reason given through a ForceReply prompt.
    assert (
        await h.press(REGION, CURATOR, region.message_id, button(region, texts.BTN_REWORK))
        == texts.PROMPT_SENT
    )
    prompt = h.emu.sent(REGION)[-1]
    assert texts.PROMPT_REASON in visible_text(prompt)
    assert prompt.reply_markup and prompt.reply_markup.get("force_reply")
    await h.send(REGION, CURATOR, "Нет срока <ремонта> & адреса", reply_to=prompt.message_id)
    case = await h.services.case(case_id)
    assert (case.status, case.rework_reason) == (Status.REWORK, "Нет срока <ремонта> & адреса")
    assert "Нет срока <ремонта> & адреса" in visible_text(await h.card(INTAKE, case_id))

    # Resubmit, approve, publish without a link.
    await h.send(INTAKE, OPERATOR, "Здравствуйте! Ремонт 5 марта, ул. Ленина.", reply_to=card.message_id)
    region = await h.card(REGION, case_id)
    assert (
        await h.press(REGION, CURATOR, region.message_id, button(region, texts.BTN_APPROVE)) == "Согласовано"
    )
    card = await h.card(INTAKE, case_id)
    assert labels(card)[:2] == [texts.BTN_PUBLISH, texts.BTN_INTERIM]
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_PUBLISH))
    link_prompt = h.emu.sent(INTAKE)[-1]
    assert labels(link_prompt) == [texts.BTN_NO_LINK]
    answer = await h.press(INTAKE, OPERATOR, link_prompt.message_id, button(link_prompt, texts.BTN_NO_LINK))
    assert answer == "Отмечено: ответ опубликован"
    assert await status(h, case_id) == Status.ANSWERED
    assert (await h.card(INTAKE, case_id)).buttons == []


async def test_publish_link_given_by_reply(h: Harness) -> None:
    case_id = await register_os(h)
    await route_to(h, case_id, h.rules.units["housing"])
    office = await h.card(OFFICE, case_id)
    await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    card = await h.card(INTAKE, case_id)
    await h.send(INTAKE, OPERATOR, "Здравствуйте! Ремонт 5 марта.", reply_to=card.message_id)
    region = await h.card(REGION, case_id)
    await h.press(REGION, CURATOR, region.message_id, button(region, texts.BTN_APPROVE))
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_INTERIM))
    prompt = h.emu.sent(INTAKE)[-1]
    await h.send(INTAKE, OPERATOR, "не ссылка", reply_to=prompt.message_id)
    assert "http" in h.texts(INTAKE)[-1]  # the domain's refusal of a bad link, prompt still waiting
    await h.send(INTAKE, OPERATOR, "https://vk.com/wall-1_2", reply_to=prompt.message_id)
    case = await h.services.case(case_id)
    assert (case.status, case.published_link) == (Status.INTERIM, "https://vk.com/wall-1_2")


async def test_refusals_of_buttons(h: Harness) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    route = button(card, texts.BTN_ROUTE)
    significant = button(card, texts.BTN_SIGNIFICANT)

    assert await h.press(INTAKE, STRANGER, card.message_id, route) == texts.NOT_REGISTERED
    wrong_role = await h.press(INTAKE, HOUSING_MAN, card.message_id, route)
    assert wrong_role is not None and wrong_role.startswith("Недостаточно прав")
    wrong_role = await h.press(INTAKE, HOUSING_MAN, card.message_id, significant)
    assert wrong_role is not None and wrong_role.startswith("Недостаточно прав")

    # Forged and garbled data never raise.
    for data in (
        "zzz",
        "c1:approve:abc:1",
        "c1:nonsense:1:1",
        "r2:1:1:99999999:0:1",
        "r2:1:1:1:100:0",  # a page no keyboard has: out of range, not parsed
        "p1:1:1:1:7",
        "c1:route:999:1",
        # A button drawn by an older build (the unversioned layout) is unknown, not misread.
        f"c:route:{case_id}:1",
        f"r1:{case_id}:1:1:0",  # the unit toggles before they had pages
    ):
        answer = await h.press(INTAKE, OPERATOR, card.message_id, data)
        assert answer in (texts.UNKNOWN_BUTTON, "Сообщение не найдено."), data

    assert await route_to(h, case_id, h.rules.units["housing"]) == "Направление предложено"
    # Old buttons of version 1: a second «Доложить» on an old card is stale, a route toggle too.
    assert await h.press(INTAKE, OPERATOR, card.message_id, significant) == STALE_CARD
    old_toggle = RouteCb(case_id=case_id, version=1, mask=1, page=0, done=False).pack()
    assert await h.press(INTAKE, OPERATOR, card.message_id, old_toggle) == STALE_CARD
    # Second press of a done action.
    fresh = await h.card(INTAKE, case_id)
    assert (
        await h.press(INTAKE, OPERATOR, fresh.message_id, button(fresh, texts.BTN_SIGNIFICANT))
        == texts.DONE_BY_ACTION["significant"]
    )
    case = await h.services.case(case_id)
    again = CaseCb(verb=CaseVerb.SIGNIFICANT, case_id=case_id, version=case.version).pack()
    assert await h.press(INTAKE, OPERATOR, fresh.message_id, again) == "Уже доложено Главе района"
    # The office head may not propose a route.
    forbidden = CaseCb(verb=CaseVerb.ROUTE, case_id=case_id, version=case.version).pack()
    answer = await h.press(OFFICE, OFFICE_HEAD, (await h.card(OFFICE, case_id)).message_id, forbidden)
    assert answer is not None and answer.startswith("Недостаточно прав")
    # Done with nothing selected: the domain's own words.
    await h.press(INTAKE, OPERATOR, fresh.message_id, button(fresh, texts.BTN_ROUTE))
    empty = RouteCb(case_id=case_id, version=case.version, mask=0, page=0, done=True).pack()
    assert await h.press(INTAKE, OPERATOR, fresh.message_id, empty) == "Выберите хотя бы одно подразделение"
    assert (
        await h.press(INTAKE, OPERATOR, fresh.message_id, button(fresh, texts.BTN_CANCEL)) == texts.CANCELLED
    )
    assert texts.BTN_ROUTE in labels(fresh)


async def test_exclude_needs_a_reason_and_unit_reply_without_routing_is_refused(h: Harness) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_EXCLUDE_OS))
    prompt = h.emu.sent(INTAKE)[-1]
    await h.send(INTAKE, OPERATOR, "   ", reply_to=prompt.message_id)
    assert await status(h, case_id) == Status.NEW
    await h.send(INTAKE, OPERATOR, "Нецензурная брань", reply_to=prompt.message_id)
    assert await status(h, case_id) == Status.EXCLUDED
    # A stranger replying to a card in a work group gets no public answer; in private he is told why.
    before = h.texts(INTAKE)
    await h.send(INTAKE, STRANGER, "привет", reply_to=card.message_id)
    assert h.texts(INTAKE) == before
    await h.send(STRANGER, STRANGER, "привет")
    assert h.texts(STRANGER)[-1] == texts.NOT_REGISTERED


async def test_hostile_text_is_shown_exactly_and_cards_fit(h: Harness) -> None:
    hostile = "<b>x</b> & <script>alert(1)</script> &amp;"
    case_id = await register_os(h, hostile)
    card = await h.card(INTAKE, case_id)
    assert hostile in visible_text(card)
    assert "<b>" not in str(card.entities)

    long_text = "<i>" + "Ж&" * 5_000 + "</i>"
    long_id = await register_os(h, long_text)
    long_card = await h.card(INTAKE, long_id)
    shown = visible_text(long_card)
    assert len(shown.encode("utf-16-le")) // 2 <= 4096
    assert "<i>Ж&Ж&" in shown and texts.TRIMMED in shown
    assert f"Сообщение № {long_id}" in shown and "Статус" in shown  # the card itself was not cut off
    # A long draft too.
    await route_to(h, long_id, h.rules.units["housing"])
    office = await h.card(OFFICE, long_id)
    await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    await h.send(INTAKE, OPERATOR, "Здравствуйте! Ремонт 5 марта. " + "Ответ & " * 2_000, reply_to=long_card.message_id)
    region = await h.card(REGION, long_id)
    assert len(visible_text(region).encode("utf-16-le")) // 2 <= 4096
    assert "Ответ & Ответ" in visible_text(region)


async def test_pos_dialogue_registers_and_routes_with_a_responsible_executor(h: Harness) -> None:
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_NUMBER
    await h.send(POS_CHAT, POS_CURATOR, "12ab")
    assert h.texts(POS_CHAT)[-1] == texts.POS_BAD_NUMBER
    await h.send(POS_CHAT, POS_CURATOR, "12345678")
    ask = h.emu.sent(POS_CHAT)[-1]
    assert visible_text(ask) == texts.POS_ASK_CATEGORY
    assert labels(ask) == [c.title for c in h.rules.categories.values()]
    await h.press(POS_CHAT, POS_CURATOR, ask.message_id, button(ask, h.rules.categories["local_fast"].title))
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_RECEIVED
    await h.send(POS_CHAT, POS_CURATOR, "31.02.2026 10:00")
    assert h.texts(POS_CHAT)[-1] == texts.POS_BAD_RECEIVED
    await h.send(POS_CHAT, POS_CURATOR, "02.03.2026 09:30")
    ask = h.emu.sent(POS_CHAT)[-1]
    assert visible_text(ask) == texts.POS_ASK_DUE and labels(ask) == [texts.BTN_POS_NO_DUE]
    no_due = button(ask, texts.BTN_POS_NO_DUE)
    assert await h.press(POS_CHAT, POS_CURATOR, ask.message_id, no_due) == texts.POS_NO_DUE_CHOSEN
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_TEXT
    await h.send(POS_CHAT, POS_CURATOR, "Не вывозят мусор")
    async with h.repo.transaction() as tx:
        [case] = await tx.cases(open_only=False)
        message = await tx.get_message(case.id)
    assert case.category == "local_fast" and message is not None
    assert (message.external_number, message.text) == ("12345678", "Не вывозят мусор")
    assert message.received_at == h.clock.now().replace(hour=9, minute=30)

    card = await h.card(POS_CHAT, case.id)
    assert "№ ПОС 12345678" in visible_text(card)
    await h.press(POS_CHAT, POS_CURATOR, card.message_id, button(card, texts.BTN_ROUTE_POS))
    for name in (h.rules.units["housing"], h.rules.units["education"]):
        await h.press(POS_CHAT, POS_CURATOR, card.message_id, button(card, name))
    assert (
        await h.press(POS_CHAT, POS_CURATOR, card.message_id, button(card, texts.BTN_DONE))
        == texts.CHOOSE_RESPONSIBLE
    )
    lead = texts.BTN_RESPONSIBLE.format(name=h.rules.units["education"])
    assert (
        await h.press(POS_CHAT, POS_CURATOR, card.message_id, button(card, lead)) == "Направление предложено"
    )
    routed = await h.services.case(case.id)
    assert routed.status == Status.IN_WORK and routed.responsible_unit == "education"

    # The co-executor's reply is information; the responsible one's is the draft.
    housing = await h.card(HOUSING_CHAT, case.id)
    assert labels(housing) == [texts.BTN_ACCEPT, texts.BTN_DECLINE]
    assert (
        await h.press(HOUSING_CHAT, HOUSING_MAN, housing.message_id, button(housing, texts.BTN_ACCEPT))
        == "Принято в работу"
    )
    await h.send(HOUSING_CHAT, HOUSING_MAN, "Вывоз по графику", reply_to=housing.message_id)
    assert h.texts(HOUSING_CHAT)[-1] == "Информация направлена"
    education = await h.card(EDUCATION_CHAT, case.id)
    await h.send(EDUCATION_CHAT, 22, "Здравствуйте! Вывезем завтра.", reply_to=education.message_id)
    assert (await h.services.case(case.id)).status == Status.ON_APPROVAL


async def test_pasted_pos_notice_registers_at_once_or_asks_for_the_rest(h: Harness) -> None:
    notice = (
        "Сообщение № 87654321\nКатегория: Прочие категории\nДата поступления: 02.03.2026 09:00\n"
        "Текст: Нет света на улице"
    )
    await h.send(POS_CHAT, POS_CURATOR, notice)
    assert h.texts(POS_CHAT)[0].startswith("Зарегистрировано: сообщение № 1")
    await h.send(POS_CHAT, POS_CURATOR, notice)
    assert h.texts(POS_CHAT)[-1] == texts.ALREADY_REGISTERED.format(case_id=1)

    await h.send(POS_CHAT, POS_CURATOR, "Сообщение № 11112222\nТекст: Нет воды")
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_CATEGORY
    # Someone without the role pasting a notice is not a registrar: nothing happens.
    await h.send(HOUSING_CHAT, HOUSING_MAN, "Сообщение № 33334444")
    assert h.emu.sent(HOUSING_CHAT) == []
