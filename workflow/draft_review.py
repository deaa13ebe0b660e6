"""Answer checks at the submit of a draft (issue 13, item 5): pure, the case and the draft in, findings out.

A draft submitted with findings is held: the hold is an event of its own («draft_held», the text, the files and
the findings) and `Case.draft_held`, so it survives a restart. The submitter sees the findings with «Отправить всё
равно» (the held draft is submitted as before, its findings recorded with the submit) and «Исправить» (the held
draft is withdrawn; a corrected one comes as a new reply). The curator's card shows the findings of the draft it
approves, read from the submit event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from workflow.answer_checks import LIMITS, Finding, check
from workflow.lifecycle import Action, Transition
from workflow.model import Actor, Attachment, Case, Event, InboundMessage, Role

DRAFT_HELD = "draft_held"  # Event.action: a submitted draft held by its findings
DRAFT_WITHDRAWN = "draft_withdrawn"  # Event.action: the submitter took the held draft back to correct it
CHECKS = "checks"  # event data key: the findings, [{"code", "text"}]
MEDIA_KINDS = frozenset({"photo", "video"})  # what «фото или видео» promises


@dataclass(frozen=True)
class HeldDraft:
    """A held draft as its event keeps it: what «Отправить всё равно» submits."""

    text: str
    attachments: tuple[Attachment, ...]
    unit: str | None
    findings: tuple[Finding, ...]


def network_of(message: InboundMessage | None) -> str | None:
    """The network whose length limit the answer must fit (answer_checks.LIMITS), when it has one."""
    if message is None or message.network is None:
        return None
    return message.network.value if message.network.value in LIMITS else None


def review(
    case: Case, message: InboundMessage | None, text: str, attachments: Iterable[Attachment]
) -> tuple[Finding, ...]:
    """The answer checks of a draft for this case: its procedure, whether it is a repeat, its network's limit."""
    media = sum(1 for a in attachments if a.kind in MEDIA_KINDS)
    return tuple(
        check(
            text,
            procedure=case.procedure,
            repeat=case.repeat_of is not None,
            media_count=media,
            network=network_of(message),
        )
    )


def checks_data(findings: Iterable[Finding]) -> list[dict[str, str]]:
    return [{"code": f.code, "text": f.text} for f in findings]


def checks_of(event: Event | None) -> tuple[Finding, ...]:
    """The findings an event keeps (a submit, a hold); () for none or data not as written here."""
    raw = event.data.get(CHECKS) if event is not None else None
    if not isinstance(raw, list):
        return ()
    found: list[Finding] = []
    for item in raw:
        if isinstance(item, Mapping) and isinstance(item.get("code"), str) and isinstance(item.get("text"), str):
            found.append(Finding(str(item["code"]), str(item["text"])))
    return tuple(found)


def _attachments(data: object) -> tuple[Attachment, ...]:
    if not isinstance(data, list):
        return ()
    found: list[Attachment] = []
    for item in data:
        if isinstance(item, Mapping) and isinstance(item.get("kind"), str) and isinstance(item.get("ref"), str):
            name = item.get("name")
            found.append(Attachment(str(item["kind"]), str(item["ref"]), name if isinstance(name, str) else ""))
    return tuple(found)


def with_checks(submit: Transition, findings: tuple[Finding, ...], *, anyway: bool) -> Transition:
    """The submit's event records the findings its draft had (and that it was sent although it had them)."""
    if not submit.events:
        return submit
    event = submit.events[-1]
    data: dict[str, object] = {**event.data, CHECKS: checks_data(findings)}
    if anyway and findings:
        data["anyway"] = True
    return replace(submit, events=(*submit.events[:-1], replace(event, data=data)))


def hold(case: Case, submit: Transition, findings: tuple[Finding, ...]) -> Transition:
    """Instead of `submit` (a valid submit of `case`): the draft is held with its findings; nothing else moves."""
    event = submit.events[-1]
    data: dict[str, object] = {"from": case.status, "to": case.status, CHECKS: checks_data(findings)}
    for key in ("by", "unit", "attachments"):
        if key in event.data:
            data[key] = event.data[key]
    held = Event(action=DRAFT_HELD, actor_id=event.actor_id, actor_role=event.actor_role, at=event.at,
                 text=submit.draft_text or "", data=data)  # fmt: skip
    return Transition(case=replace(case, draft_held=True, version=case.version + 1), events=(held,))


def held_draft(case: Case, events: Iterable[Event]) -> HeldDraft | None:
    """The draft the case holds now (the latest hold), or None."""
    if not case.draft_held:
        return None
    event = next((e for e in reversed(list(events)) if e.action == DRAFT_HELD), None)
    if event is None:
        return None
    unit = event.data.get("unit")
    return HeldDraft(
        text=event.text,
        attachments=_attachments(event.data.get("attachments")),
        unit=unit if isinstance(unit, str) else None,
        findings=checks_of(event),
    )


def withdraw(case: Case, actor: Actor, role: Role, at: datetime) -> Transition:
    """«Исправить»: the held draft is taken back; the submitter sends a corrected one as a new reply."""
    data: dict[str, object] = {"from": case.status, "to": case.status}
    if actor.name:
        data["by"] = actor.name
    event = Event(action=DRAFT_WITHDRAWN, actor_id=actor.user_id, actor_role=role, at=at, data=data)
    return Transition(case=replace(case, draft_held=False, version=case.version + 1), events=(event,))


def submitted_checks(events: Iterable[Event]) -> tuple[Finding, ...]:
    """The findings of the draft submitted last (what the curator approves)."""
    submit = next((e for e in reversed(list(events)) if e.action == Action.SUBMIT.value), None)
    return checks_of(submit)
