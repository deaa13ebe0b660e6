"""A ЦУР hand-over of an item Otklik already took in (issue 12, п.6 and п.10 of the open-sources Порядок).

The region curator forwards the IM card (or the link) of a comment that the VK or Telegram channel already
registered by itself. It is the same message: one case, one set of terms. The hand-over attaches to that case:
the region curator now hears how it ends (RULES.md §6), T0 becomes the ЦУР detection time (§2: «T0 =
detected_at: when the region curator detected the message») and every open T0 term counts from it again. A term
met or missed is history and stays as it was; one the new T0 makes overdue is the sweep's, which sends only the
newest point that passed (no burst of stale reminders).

Pure: the instant comes in as `at`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from workflow.lifecycle import (
    CARD_NUMBER_LIMIT,
    CURATOR_LIMIT,
    ROLE_NAMES,
    Status,
    Transition,
    check_detected,
    clean_text,
    t0_retimes,
)
from workflow.model import HANDED_OVER, Actor, Case, DomainError, Event, Procedure, Role, TermRetime
from workflow.rules import Calendar, Rules

# The roles a hand-over is posted in: the operator puts the curator's card in the intake chat, or he does himself.
_ROLES = (Role.OPERATOR, Role.REGION_CURATOR)


@dataclass(frozen=True, slots=True)
class HandOver:
    """What a ЦУР hand-over says about the item: when ЦУР detected it (None: the card did not say), the IM card's
    own number, who handed it over, and when it was posted here (the detection cannot follow that)."""

    posted_at: datetime
    detected_at: datetime | None = None
    card_number: str = ""
    curator: str = ""


def closed_refusal(case: Case) -> str:
    """What the operator hears when the item's case is already finished: it is not reopened behind anyone's back."""
    return (
        f"Это сообщение уже есть: № {case.id}, работа по нему завершена. Передача ЦУР к нему не присоединена и "
        "новое сообщение не заведено; если нужно вернуть его в работу — это решает начальник управления делами."
    )


def attach(
    case: Case, handover: HandOver, actor: Actor, at: datetime, *, rules: Rules, calendar: Calendar
) -> Transition:
    """The case with the hand-over attached, its T0 terms re-timed; DomainError when it cannot be."""
    if case.procedure is not Procedure.OPEN_SOURCES:
        raise DomainError("Передача ЦУР относится только к сообщениям из открытых источников", code="invalid")
    if Status(case.status).final:
        raise DomainError(closed_refusal(case), code="closed")
    role = next((r for r in _ROLES if actor.has(r)), None)
    if role is None:
        raise DomainError(
            f"Недостаточно прав: передачу ЦУР присоединяет {ROLE_NAMES[Role.OPERATOR]} или "
            f"{ROLE_NAMES[Role.REGION_CURATOR]}",
            code="forbidden",
        )
    if case.handed_over:
        raise DomainError(
            f"Сообщение № {case.id} уже передано куратором ЦУР: ничего не изменено", code="already_done"
        )
    moved = replace(
        case,
        handed_over=True,
        cur_number=clean_text(handover.card_number)[:CARD_NUMBER_LIMIT],
        cur_curator=clean_text(handover.curator)[:CURATOR_LIMIT],
        version=case.version + 1,
    )
    data: dict[str, object] = {"card_number": moved.cur_number, "curator": moved.cur_curator}
    retimes: tuple[TermRetime, ...] = ()
    detected = handover.detected_at
    if detected is not None and not case.detection_stated:
        check_detected(detected, handover.posted_at, at)
        seen = case.received_at or case.t0  # when Otklik itself took the item in
        moved = replace(
            moved, t0=detected, received_at=seen if detected != seen else None, detection_stated=True
        )
        retimes = t0_retimes(case, moved, actor, at, rules=rules, calendar=calendar)
        data |= {"detected_at": detected.isoformat(), "previous_t0": case.t0.isoformat()}
    if actor.name:
        data["by"] = actor.name
    event = Event(action=HANDED_OVER, actor_id=actor.user_id, actor_role=role, at=at, data=data)
    return Transition(case=moved, events=(event,), retimes=retimes)
