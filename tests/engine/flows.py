"""Steps of both procedures as data, driven through the use cases on a settable clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.engine.conftest import actor, at, os_message, pos_message
from tests.fakes import FakeClock
from workflow.lifecycle import Action, ActionPayload
from workflow.model import InboundMessage, Role
from workflow.services import Outcome, Services

A = Action
R = Role


@dataclass(frozen=True)
class Do:
    """One press: at `when`, `role` (in `units`, or in every unit) does `action` with `payload`."""

    when: datetime
    action: Action
    role: Role
    payload: dict[str, Any] = field(default_factory=dict)
    units: tuple[str, ...] = ()


async def register(
    services: Services, clock: FakeClock, message: InboundMessage, *, role: Role | None = None, **kw: Any
) -> int:
    """Register `message` at its own T0 (the clock jumps there) and return the case id."""
    clock.set(message.received_at)
    who = role or (R.OPERATOR if message.procedure == "open_sources" else R.POS_CURATOR)
    outcome = await services.register(message, actor(who), **kw)
    return outcome.case.id


async def press(services: Services, clock: FakeClock, case_id: int, step: Do, **kw: Any) -> Outcome:
    clock.set(step.when)
    return await services.act(
        case_id, step.action, actor(step.role, *step.units), payload=ActionPayload(**step.payload), **kw
    )


async def run(services: Services, clock: FakeClock, case_id: int, steps: Iterable[Do]) -> Outcome | None:
    outcome = None
    for step in steps:
        outcome = await press(services, clock, case_id, step)
    return outcome


# --- open sources: T0 Tuesday 01.12.2026 09:40 ---------------------------------------------------------------

OS_T0 = at(2026, 12, 1, 9, 40)


def os_msg(source_id: str = "wall-1_100", t0: datetime = OS_T0, **kw: Any) -> InboundMessage:
    return os_message(source_id, t0, **kw)


def os_routed(day: tuple[int, int, int] = (2026, 12, 1), units: tuple[str, ...] = ("housing",)) -> list[Do]:
    y, m, d = day
    return [
        Do(at(y, m, d, 10, 5), A.ROUTE, R.OPERATOR, {"units": units}),
        Do(at(y, m, d, 10, 20), A.APPROVE_ROUTING, R.OFFICE_HEAD),
    ]


DRAFT = "Пётр, здравствуйте! Ямочный ремонт у дома 5 по ул. Ленина выполнят 3 декабря."


_OS_SUBMIT = at(2026, 12, 1, 14, 30)
_OS_APPROVE = at(2026, 12, 1, 14, 50)


def os_submitted(when: datetime = _OS_SUBMIT) -> list[Do]:
    return [*os_routed(), Do(when, A.SUBMIT, R.OPERATOR, {"text": DRAFT})]


def os_approved(when: datetime = _OS_APPROVE) -> list[Do]:
    return [*os_submitted(), Do(when, A.APPROVE, R.REGION_CURATOR)]


# --- ПОС: T0 Monday 02.11.2026 17:30 (03.11 is a short day, 04.11 a holiday) ---------------------------------

POS_T0 = at(2026, 11, 2, 17, 30)
_POS_ROUTE = at(2026, 11, 3, 9, 20)
_POS_SUBMIT = at(2026, 11, 5, 11, 0)
_POS_APPROVE = at(2026, 11, 5, 15, 0)


def pos_msg(
    source_id: str = "pos-2026-000100", t0: datetime = POS_T0, category: str = "other"
) -> InboundMessage:
    return pos_message(source_id, t0, category)


def pos_routed(
    when: datetime = _POS_ROUTE,
    units: tuple[str, ...] = ("housing",),
    responsible: str | None = None,
) -> list[Do]:
    payload: dict[str, Any] = {"units": units}
    if responsible is not None:
        payload["responsible"] = responsible
    return [Do(when, A.ROUTE, R.POS_CURATOR, payload)]


POS_DRAFT = "Анна, здравствуйте! Вывоз мусора во дворе дома 12 по ул. Садовой возобновлён 5 ноября."


def pos_submitted(when: datetime = _POS_SUBMIT) -> list[Do]:
    return [*pos_routed(), Do(when, A.SUBMIT, R.EXECUTOR, {"text": POS_DRAFT}, ("housing",))]


def pos_approved(when: datetime = _POS_APPROVE) -> list[Do]:
    return [*pos_submitted(), Do(when, A.APPROVE, R.POS_CURATOR)]
