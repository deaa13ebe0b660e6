"""ChannelUseCases.take_in over every repository: a network item becomes one case; its changes are events."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from channels.vk import parse_vk_event
from tests.engine.conftest import at, events, open_terms
from tests.fakes import FakeClock, RecordingNotifier
from views.cards import render_card
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Actor, ChannelItem, ItemKind, Network, Role, Source
from workflow.ports import Repository
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

GID = 777
SEEN = at(2026, 12, 1, 9, 12)
OPERATOR = Actor(user_id=5, roles=frozenset({Role.OPERATOR}), name="Мария")


def comment(kind: ItemKind = ItemKind.NEW, **kw: object) -> ChannelItem:
    base = ChannelItem(
        network=Network.VK, key=f"-{GID}_4", kind=kind, seen_at=SEEN, text="Яма у дома 5", author="id42",
        author_id=42, link=f"https://vk.com/wall-{GID}_3?reply=4", thread=f"wall-{GID}_3",
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


async def test_a_new_comment_is_registered_as_an_open_source_case_with_t0_when_seen(
    services: Services, repo: Repository, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    clock.set(SEEN + timedelta(minutes=3))  # handled a little after it was saved: T0 is still when seen
    outcome = await services.take_in(comment())
    assert outcome is not None and outcome.created
    async with repo.reading() as tx:
        message = await tx.get_message(outcome.case.id)
    assert message is not None
    assert (message.source, message.source_id, message.network) == (Source.VK, f"-{GID}_4", Network.VK)
    assert (message.author, message.author_id, message.link) == (
        "id42",
        42,
        f"https://vk.com/wall-{GID}_3?reply=4",
    )
    assert outcome.case.t0 == SEEN and outcome.case.procedure.value == "open_sources"
    assert [n.kind for n in notifier.woken] == ["registered"]  # the card goes to the intake chat


async def test_the_same_comment_five_times_is_one_case(services: Services, repo: Repository) -> None:
    ids = {(await services.take_in(comment(seen_at=SEEN + timedelta(seconds=n)))).case.id for n in range(5)}  # type: ignore[union-attr]
    assert len(ids) == 1
    assert [e.action for e in await events(repo, ids.pop())] == ["register"]


async def test_edit_delete_restore_are_events_and_the_terms_do_not_restart(
    services: Services, repo: Repository, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    clock.set(SEEN)
    created = await services.take_in(comment())
    assert created is not None
    case_id = created.case.id
    terms_before = await open_terms(repo, case_id)
    clock.set(SEEN + timedelta(minutes=20))
    edit = comment(ItemKind.EDIT, text="Яма у дома 7", revision="ev1")
    await services.take_in(edit)
    await services.take_in(edit)  # the same edit handled again: one event
    await services.take_in(comment(ItemKind.DELETE, text="", author_id=42, revision="ev2"))
    await services.take_in(comment(ItemKind.RESTORE, text="Яма у дома 7", revision="ev3"))
    await services.take_in(comment(ItemKind.DELETE, text="", author_id=1, revision="ev4"))  # a moderator
    got = await events(repo, case_id)
    assert [e.action for e in got] == [
        "register", "source_edited", "source_deleted", "source_restored", "source_deleted",
    ]  # fmt: skip
    assert got[1].text == "Яма у дома 7"
    assert (got[2].data["by_author"], got[4].data["by_author"]) == (True, False)
    assert await open_terms(repo, case_id) == terms_before
    async with repo.reading() as tx:
        case = await tx.get_case(case_id)
    assert case is not None and case.version == created.case.version  # the card's buttons stay valid
    assert notifier.woken[1:] == []  # no notice; the card is refreshed (woken with the case id)


async def test_an_edit_of_an_unknown_comment_registers_it_and_a_deletion_is_nothing(
    services: Services, repo: Repository
) -> None:
    assert await services.take_in(comment(ItemKind.DELETE, key=f"-{GID}_9")) is None
    outcome = await services.take_in(comment(ItemKind.EDIT, key=f"-{GID}_10", text="поздно увидели"))
    assert outcome is not None and outcome.created
    async with repo.reading() as tx:
        assert await tx.find_case_by_source("vk", f"-{GID}_9") is None


async def test_a_citizens_edit_does_not_bar_the_operators_undo(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    clock.set(SEEN)
    created = await services.take_in(comment())
    assert created is not None
    routed = await services.act(
        created.case.id, Action.ROUTE, OPERATOR, payload=ActionPayload(units=("housing",))
    )
    clock.advance(timedelta(minutes=1))
    await services.take_in(comment(ItemKind.EDIT, text="Яма у дома 7", revision="ev1"))
    undone = await services.undo(created.case.id, OPERATOR)
    assert undone.case.status == created.case.status and undone.case.version == routed.case.version + 1


async def test_a_vk_event_through_the_parser_to_a_case(services: Services, repo: Repository) -> None:
    raw = {"type": "wall_reply_new", "group_id": GID, "event_id": "a1",
           "object": {"id": 4, "from_id": 42, "post_id": 3, "owner_id": -GID, "date": 1594972082, "text": "Яма"}}  # fmt: skip
    item = parse_vk_event(raw, GID, seen_at=SEEN)
    assert item is not None
    outcome = await services.take_in(item)
    assert outcome is not None and outcome.created


async def test_the_card_shows_the_change_and_the_text_as_it_is_now(
    services: Services, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    clock.set(SEEN)
    created = await services.take_in(comment())
    assert created is not None

    def card() -> str:
        text, _ = render_card(
            view, {Role.OPERATOR}, set(), calendar=calendar, rules=DEFAULT_RULES, units=DEFAULT_RULES.units,
            now=clock.now(),
        )  # fmt: skip
        return text

    view = await services.card_view(created.case.id)
    assert "Источник: ВКонтакте" in card() and "Яма у дома 5" in card() and "изменил" not in card()
    clock.set(SEEN + timedelta(minutes=5))
    await services.take_in(comment(ItemKind.EDIT, text="Яма у дома 7 <b>", revision="ev1"))
    view = await services.card_view(created.case.id)
    assert "Автор изменил комментарий (01.12.2026 09:17)" in card()
    assert "Яма у дома 7 &lt;b&gt;" in card() and "Яма у дома 5" not in card()
    assert "автор изменил текст в источнике" in card()  # the history line
    clock.set(SEEN + timedelta(minutes=6))
    await services.take_in(comment(ItemKind.DELETE, text="", author_id=42, revision="ev2"))
    view = await services.card_view(created.case.id)
    assert "Комментарий удалён автором (01.12.2026 09:18)" in card()
    await services.take_in(comment(ItemKind.RESTORE, text="Яма у дома 7 <b>", revision="ev3"))
    await services.take_in(comment(ItemKind.DELETE, text="", author_id=1, revision="ev4"))
    view = await services.card_view(created.case.id)
    assert "Комментарий удалён модератором" in card()
