"""A pasted ПОС notice's category name read through `[pos] categories` (workflow/pos_categories.py): a name the
table knows registers at once in its class; one it does not know is asked for, as before (a person is there)."""

from __future__ import annotations

from emulators.telegram import visible_text
from tests.handlers.conftest import POS_CHAT, POS_CURATOR, Harness
from views import texts

NOTICE = "\n".join(
    [
        "Сообщение № 87654321",
        "Категория: Вывоз  мусора",
        "Дата поступления: 02.03.2026 09:00",
        "Текст: Не вывозят мусор",
    ]
)


async def test_a_category_the_table_knows_registers_in_its_class(h: Harness) -> None:
    h.dp.workflow_data["pos_categories"] = {"вывоз мусора": "local_fast"}
    await h.send(POS_CHAT, POS_CURATOR, NOTICE)
    assert texts.REGISTERED.format(case_id=1) in h.texts(POS_CHAT)
    assert (await h.services.case(1)).category == "local_fast"


async def test_a_category_the_table_does_not_know_is_asked_for(h: Harness) -> None:
    h.dp.workflow_data["pos_categories"] = {"Дороги": "local_fast"}
    await h.send(POS_CHAT, POS_CURATOR, NOTICE)
    assert visible_text(h.emu.sent(POS_CHAT)[-1]) == texts.POS_ASK_CATEGORY
    async with h.repo.transaction() as tx:
        assert await tx.cases(open_only=False) == []
