"""Reminders and missed terms through the running app (RULES.md §5): the owner is reminded at half and at 80 %
of the term; a missed term goes to the owner's chat, the procedure's curator and the office head, and a missed
publication (os.publish, pos.answer) to the head as well — each exactly once, however often the sweeper runs
and when two sweeps overlap.

Every notification message in a chat must be one delivery recorded in storage, and the other way round.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from bot.app import OtklikApp
from emulators.staff import visible_text
from tests.e2e.conftest import (
    HEAD,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_CHAT,
    POS_CHAT,
    POS_CURATOR,
    REGION_CHAT,
    RULES,
    World,
    settings_for,
)

HEAD_CHAT = HEAD.user_id
OS_CHATS = (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT, HEAD_CHAT)
UNIT_CHAT = {"housing": HOUSING_CHAT}
OWNER_CHAT = {"operator": INTAKE_CHAT, "pos_curator": POS_CHAT}

Key = tuple[int | None, str, str]  # (case, mark or notice label, term title or "")


def seen(world: World, chats: tuple[int, ...]) -> dict[int, Counter[Key]]:
    """What each chat got: notices by label, reminders and misses by term title."""
    got: dict[int, Counter[Key]] = {}
    for chat_id in chats:
        counter: Counter[Key] = Counter()
        for note in world.notes(chat_id):
            mark, rest = note.head[0], note.head[1:].strip()
            if mark == "🔔":
                counter[(note.case_id, rest, "")] += 1
            else:
                title = rest.split(": ", 1)[1].split(" — ", 1)[0]
                counter[(note.case_id, mark, title)] += 1
        got[chat_id] = counter
    return got


class Expect:
    """The notifications RULES.md §5 asks for, chat by chat."""

    def __init__(self, chats: tuple[int, ...]) -> None:
        self.chats: dict[int, Counter[Key]] = {chat_id: Counter() for chat_id in chats}

    def _owner_chat(self, term_id: str, unit: str | None) -> int:
        return UNIT_CHAT[unit] if unit else OWNER_CHAT[RULES.term(term_id).owner.value]

    def reminders(self, case_id: int, term_id: str, unit: str | None = None) -> None:
        """At half and at 80 % of the term: to the one who owes it."""
        self.chats[self._owner_chat(term_id, unit)][(case_id, "⏰", RULES.term(term_id).title)] += 2

    def missed(self, case_id: int, term_id: str, unit: str | None = None) -> None:
        """To the owner, the procedure's curator and the office head; os.publish / pos.answer to the head too."""
        rule = RULES.term(term_id)
        curator = REGION_CHAT if term_id.startswith("os.") else POS_CHAT
        chats = {self._owner_chat(term_id, unit), curator, OFFICE_CHAT}
        if term_id in ("os.publish", "pos.answer"):
            chats.add(HEAD_CHAT)
        for chat_id in chats:
            self.chats[chat_id][(case_id, "❗", rule.title)] += 1


async def sweep_hard(world: World) -> None:
    """The sweeper at one instant: three ticks in a row, then two overlapping ones."""
    for _ in range(3):
        await world.app.sweep()
    await asyncio.gather(world.app.sweep(), world.app.sweep())
    await world.settle()


async def walk(world: World, until_day: int, hh: int, mm: int) -> None:
    """Stop at every reminder and due point on the way to the target, as a 30-second sweeper would."""
    target = world.local(hh, mm, day=until_day)
    while True:
        async with world.app.repo.transaction() as tx:
            nearest = await tx.earliest_attention()
        if nearest is None or nearest > target:
            break
        world.clock.set(max(nearest, world.clock.now()))
        await sweep_hard(world)
    world.clock.set(target)
    await sweep_hard(world)


async def test_each_reminder_and_miss_reaches_each_recipient_once(world: World) -> None:
    w = world
    await w.start()
    # Nobody acts on A; B is routed to housing, which never gives its information.
    a = await w.register_os("Сообщение A: не горят фонари во дворе")
    b = await w.register_os("Сообщение B: в подъезде нет отопления")
    await w.at(w.local(9, 35))
    await w.route_os(b, "housing")

    await walk(w, until_day=1, hh=11, mm=0)  # through Wednesday's 10:30, when both publications fall due

    expect = Expect(OS_CHATS)
    # No notice of registration, of the routing proposed or of the routing under the card just posted for it
    # in that chat (NOTIFY: the card is the notice): the intake chat, the office head and housing hold cards.
    for chat_id, case_id in ((INTAKE_CHAT, a), (INTAKE_CHAT, b), (OFFICE_CHAT, b), (HOUSING_CHAT, b)):
        assert w.card(chat_id, case_id)
    # os.return is return-only (RULES.md §6): a return that did not happen is neither reminded nor alerted.
    for term_id in ("os.route", "os.draft", "os.publish"):
        expect.reminders(a, term_id)
        expect.missed(a, term_id)
    for term_id in ("os.draft", "os.publish"):  # B's routing was done in time
        expect.reminders(b, term_id)
        expect.missed(b, term_id)
    expect.reminders(b, "os.unit_info", "housing")
    expect.missed(b, "os.unit_info", "housing")
    assert seen(w, OS_CHATS) == expect.chats

    # The texts say whose term it was; the unit's own chat hears its unit named.
    unit_miss = [n for n in w.notes(HOUSING_CHAT, b) if n.head.startswith("❗")]
    assert [n.head for n in unit_miss] == [
        "❗ Срок пропущен: Информация подразделения для ответа — должностное лицо подразделения "
        "(ЖКХ, строительство и дорожное хозяйство), Сергей Кузнецов, срок был до 01.12 11:35"
    ]
    head_notes = [n.head for n in w.notes(HEAD_CHAT)]
    assert (
        head_notes
        == [
            "❗ Срок пропущен: Публикация ответа — уполномоченное лицо управления делами, Мария Иванова, "
            "срок был до 02.12 10:30"
        ]
        * 2
    )

    await w.check_notes_match_deliveries(OS_CHATS)
    assert await w.pending_outbox() == 0
    # The sweeps refreshed the cards in place (one per chat): the missed publication no longer shows time left.
    for case_id in (a, b):
        card = w.card(INTAKE_CHAT, case_id)
        [line] = [x for x in visible_text(card).splitlines() if x.startswith("• Публикация ответа")]
        assert "до 02.12 10:30" in line and "осталось" not in line
        assert card.edits
    assert "просрочено" in visible_text(w.card(HOUSING_CHAT, b))  # os.unit_info, refreshed after its miss

    # Sweeping again later repeats nothing.
    before = {chat_id: len(w.emu.sent(chat_id)) for chat_id in OS_CHATS}
    await w.at(w.local(12, 0, day=1))
    await sweep_hard(w)
    assert {chat_id: len(w.emu.sent(chat_id)) for chat_id in OS_CHATS} == before


async def test_after_downtime_only_the_misses_are_sent_once(world: World) -> None:
    """A sweeper that first runs long after the terms fell due sends the misses, not a burst of old reminders;
    an executor's term on a ПОС case no executor has yet is told to the curator and the office head only."""
    w = world
    await w.start()
    os_case = await w.register_os("Сообщение: сломана скамейка в сквере")
    w.clock.set(w.local(10, 5))  # no sweep runs from here on until long after everything fell due
    await w.write(
        POS_CHAT,
        POS_CURATOR,
        "Сообщение № 4512345\nКатегория: federal_fast\nПоступило: 01.12.2026 10:02\nТекст: Не вывозят мусор",
    )
    pos_case = 2
    assert w.cards(POS_CHAT, pos_case)

    w.clock.set(w.local(12, 0, day=9))  # the bot was down for more than a week
    await sweep_hard(w)
    await sweep_hard(w)

    chats = (*OS_CHATS, POS_CHAT)
    expect = Expect(chats)
    # No «Новое сообщение» under the card just posted for it (NOTIFY: the card is the notice).
    assert w.card(INTAKE_CHAT, os_case) and w.card(POS_CHAT, pos_case)
    for term_id in ("os.route", "os.draft", "os.publish"):  # os.return: return-only, no miss
        expect.missed(os_case, term_id)
    for term_id in ("pos.route", "pos.answer"):
        expect.missed(pos_case, term_id)
    # pos.draft is owed by the responsible executor, and there is none: the curator and the office head hear.
    title = RULES.term("pos.draft").title
    expect.chats[POS_CHAT][(pos_case, "❗", title)] += 1
    expect.chats[OFFICE_CHAT][(pos_case, "❗", title)] += 1
    assert seen(w, chats) == expect.chats
    assert all(n.head.startswith(("🔔", "❗")) for chat_id in chats for n in w.notes(chat_id))

    await w.check_notes_match_deliveries(chats)
    # Regression: the executor's copy had no chat to go to and stayed pending for ever (enough such rows
    # would have held back every later notification, as a drain takes the oldest pending rows first).
    assert await w.pending_outbox() == 0


async def test_two_processes_sweeping_at_once_send_once(world: World) -> None:
    w = world
    await w.start()
    case = await w.register_os("Сообщение: яма во дворе")
    other = await OtklikApp.build(settings_for(w.emu, w.db_path), clock=w.clock)  # a second process
    try:
        w.clock.set(w.local(10, 0))  # half of os.route: one reminder to the operator
        # The first process's send meets a flood wait, as happens; the second reads the same pending row.
        w.emu.fail_next_of(["send"], 1, "flood")
        await asyncio.gather(w.app.sweep(), other.sweep())
        # Either process may have claimed the row and met the flood: both finish before the second one goes
        # (closed mid-wait, its claim would hold the row for the lease; under load that made this test flaky).
        await other.delivery.settle()
        await w.settle()
    finally:
        await other.close()
    reminders = [n for n in w.notes(INTAKE_CHAT, case) if n.head.startswith("⏰")]
    assert len(reminders) == 1
