"""Undo, close and reopen through the use cases, on the fake repository, SQLite and PostgreSQL (issue 10, 6).

An undo is a recorded event, not a deletion: the case as it was before the action comes back at a new version,
the term rows the action opened are cancelled, those it closed open again with their sent keys, and the
holders it changed are handed back. A refusal changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.engine.conftest import actor, all_terms, at, events, open_terms, snapshot
from tests.engine.flows import (
    A,
    Do,
    R,
    os_msg,
    os_routed,
    os_submitted,
    pos_msg,
    pos_routed,
    press,
    register,
    run,
)
from tests.fakes import FakeClock
from workflow.lifecycle import UNDO, ActionPayload, Status
from workflow.model import DomainError, Term
from workflow.ports import Repository
from workflow.services import Services


def _open(terms: list[Term]) -> list[tuple[str, str | None, str, str, object, frozenset[str]]]:
    """What an open term owes: comparable before an action and after its undo."""
    return sorted(
        (t.term_id, t.unit, t.owner.value, t.person, t.due, t.sent) for t in terms if t.closed_at is None
    )


async def _undo(services: Services, clock: FakeClock, case_id: int, role: R, after: timedelta) -> None:
    clock.advance(after)
    await services.undo(case_id, actor(role))


@pytest.mark.parametrize(
    ("setup", "step"),
    [
        pytest.param([], Do(at(2026, 12, 1, 10, 5), A.ROUTE, R.OPERATOR, {"units": ("housing",)}), id="route"),
        pytest.param([os_routed()[0]], Do(at(2026, 12, 1, 10, 20), A.APPROVE_ROUTING, R.OFFICE_HEAD),
                     id="approve-routing"),
        pytest.param([], Do(at(2026, 12, 1, 9, 50), A.RETURN, R.OPERATOR), id="return"),
        pytest.param(os_routed(), Do(at(2026, 12, 1, 11, 0), A.INFO, R.UNIT_OFFICIAL, {"text": "Яму заделают"},
                                     ("housing",)), id="info"),
        pytest.param(os_routed(), Do(at(2026, 12, 1, 14, 30), A.SUBMIT, R.OPERATOR, {"text": "Проект"}),
                     id="submit"),
        pytest.param(os_submitted(), Do(at(2026, 12, 1, 14, 50), A.APPROVE, R.REGION_CURATOR), id="approve"),
        pytest.param(os_submitted(), Do(at(2026, 12, 1, 14, 50), A.REWORK, R.REGION_CURATOR,
                                        {"reason": "Уточнить дату"}), id="rework"),
        pytest.param([], Do(at(2026, 12, 1, 9, 50), A.SIGNIFICANT, R.OPERATOR), id="significant"),
        pytest.param([], Do(at(2026, 12, 1, 9, 50), A.EXCLUDE, R.OPERATOR, {"reason": "Оскорбления"}),
                     id="exclude"),
        pytest.param(os_routed(), Do(at(2026, 12, 1, 11, 0), A.CLOSE, R.OFFICE_HEAD, {"reason": "Дубль"}),
                     id="close"),
    ],
)  # fmt: skip
async def test_undo_puts_back_the_case_and_its_open_terms(
    services: Services, clock: FakeClock, repo: Repository, setup: list[Do], step: Do
) -> None:
    case_id = await register(services, clock, os_msg())
    await run(services, clock, case_id, setup)
    clock.set(step.when)
    before_case = await services.case(case_id)
    before_terms = _open(await all_terms(repo, case_id))
    before_card = await services.card_view(case_id)
    await press(services, clock, case_id, step)
    await _undo(services, clock, case_id, step.role, timedelta(minutes=4))

    after = await services.case(case_id)
    assert after.version == before_case.version + 2
    from dataclasses import replace

    assert replace(after, version=before_case.version) == before_case
    assert _open(await all_terms(repo, case_id)) == before_terms
    card = await services.card_view(case_id)
    assert card.draft == before_card.draft  # an undone draft stays stored, but is not the case's
    history = await events(repo, case_id)
    assert [e.action for e in history[-2:]] == [step.action.value, UNDO]
    assert history[-1].data["undone"] == step.action.value
    assert history[-1].data["undone_id"] == history[-2].id


async def test_undo_of_a_handover_gives_os_route_back_to_the_operator(
    services: Services, clock: FakeClock, repo: Repository
) -> None:
    case_id = await register(services, clock, os_msg())
    await press(services, clock, case_id, os_routed()[0])
    held = {t.term_id: t.owner for t in await open_terms(repo, case_id)}
    assert held["os.route"] is R.OFFICE_HEAD  # the routing waits for his approval: he holds it (RULES §6)
    await _undo(services, clock, case_id, R.OPERATOR, timedelta(minutes=1))
    held = {t.term_id: t.owner for t in await open_terms(repo, case_id)}
    assert held["os.route"] is R.OPERATOR


@pytest.mark.parametrize(
    ("who", "after", "message"),
    [
        (R.OFFICE_HEAD, timedelta(minutes=1), "Отменить действие может только тот, кто его выполнил"),
        (R.OPERATOR, timedelta(minutes=5, seconds=1), "Отменить действие можно только в течение 5 мин"),
    ],
)
async def test_undo_refused_changes_nothing(
    services: Services, clock: FakeClock, repo: Repository, who: R, after: timedelta, message: str
) -> None:
    case_id = await register(services, clock, os_msg())
    await press(services, clock, case_id, os_routed()[0])
    before = await snapshot(repo, [case_id])
    clock.advance(after)
    with pytest.raises(DomainError) as caught:
        await services.undo(case_id, actor(who))
    assert caught.value.message.startswith(message)
    assert await snapshot(repo, [case_id]) == before


async def test_undo_refused_once_another_action_followed(
    services: Services, clock: FakeClock, repo: Repository
) -> None:
    case_id = await register(services, clock, os_msg())
    route = os_routed()[0]
    await press(services, clock, case_id, route)
    await press(
        services, clock, case_id, Do(route.when + timedelta(minutes=1), A.APPROVE_ROUTING, R.OFFICE_HEAD)
    )
    before = await snapshot(repo, [case_id])
    with pytest.raises(DomainError) as caught:  # the operator's routing is no longer the last action
        await services.undo(case_id, actor(R.OPERATOR))
    assert caught.value.code == "forbidden"
    await services.undo(case_id, actor(R.OFFICE_HEAD))  # the approval is, for its author
    with pytest.raises(DomainError) as again:  # and an undo is not undone
        await services.undo(case_id, actor(R.OFFICE_HEAD))
    assert again.value.message == "Последнее действие уже отменено"
    assert (await services.case(case_id)).status == Status.ROUTING_PROPOSED.value
    assert len((await snapshot(repo, [case_id])).events[0]) == len(before.events[0]) + 1


async def test_undo_of_a_late_close_keeps_the_miss(
    services: Services, clock: FakeClock, repo: Repository
) -> None:
    """A term already missed when the case was closed is stored missed; the undo opens it again (it is still
    owed) with its alert keys, and it is missed again where it is closed: misses stay missed."""
    case_id = await register(services, clock, pos_msg())
    await run(services, clock, case_id, pos_routed())
    await services.sweep()
    clock.set(at(2026, 11, 23, 10, 0))  # past pos.draft (20.11), before pos.answer (23.11 18:00)
    await services.sweep()
    missed_keys = {t.term_id: t.sent for t in await open_terms(repo, case_id)}
    await services.act(case_id, A.CLOSE, actor(R.OFFICE_HEAD), payload=ActionPayload(reason="Дубль"))
    closed = {t.term_id: t.met for t in await all_terms(repo, case_id) if t.closed_at is not None}
    assert closed["pos.draft"] is False and closed["pos.answer"] is None  # the miss is kept, the rest moot
    await _undo(services, clock, case_id, R.OFFICE_HEAD, timedelta(minutes=2))
    reopened = {t.term_id: t.sent for t in await open_terms(repo, case_id)}
    assert reopened["pos.draft"] == missed_keys["pos.draft"]  # no second alert
    assert await services.sweep() == []


async def test_reopen_opens_the_terms_the_close_cancelled_not_the_missed(
    services: Services, clock: FakeClock, repo: Repository
) -> None:
    case_id = await register(services, clock, pos_msg())
    await run(services, clock, case_id, pos_routed())
    clock.set(at(2026, 11, 23, 10, 0))  # pos.draft (20.11) missed, pos.answer (23.11 18:00) running
    await services.sweep()
    due_before = {t.term_id: t.due for t in await open_terms(repo, case_id)}
    await services.act(case_id, A.CLOSE, actor(R.OFFICE_HEAD), payload=ActionPayload(reason="Дубль"))
    assert await open_terms(repo, case_id) == []
    clock.set(at(2026, 11, 23, 12, 0))  # beyond the undo window
    with pytest.raises(DomainError):
        await services.undo(case_id, actor(R.OFFICE_HEAD))
    with pytest.raises(DomainError) as no_reason:
        await services.act(case_id, A.REOPEN, actor(R.OFFICE_HEAD))
    assert no_reason.value.message == "Укажите причину возобновления"
    with pytest.raises(DomainError):
        await services.act(case_id, A.REOPEN, actor(R.OPERATOR), payload=ActionPayload(reason="x"))
    outcome = await services.act(
        case_id, A.REOPEN, actor(R.OFFICE_HEAD), payload=ActionPayload(reason="Автор уточнил вопрос")
    )
    assert outcome.case.status == Status.IN_WORK.value
    reopened = {t.term_id: t.due for t in await open_terms(repo, case_id)}
    assert "pos.draft" not in reopened  # missed at the close: stays missed, counted once
    assert reopened["pos.answer"] == due_before["pos.answer"]  # its own due, not counted from the reopen
    missed = [t for t in await all_terms(repo, case_id) if t.met is False]
    assert [t.term_id for t in missed] == ["pos.draft"]
    assert {n.kind for n in outcome.notifications} == {"case_reopened"}
    # The reopen itself can be undone by its author at once: the case is closed again, its terms cancelled.
    await _undo(services, clock, case_id, R.OFFICE_HEAD, timedelta(minutes=1))
    assert (await services.case(case_id)).status == Status.CLOSED.value
    assert await open_terms(repo, case_id) == []
