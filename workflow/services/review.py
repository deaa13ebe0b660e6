"""The one-tap answers to what Otklik's checks found (issue 13): the screening's warning on an intake card, the
answer checks' hold of a submitted draft. Each runs the ordinary use case (exclude, submit) or records its own
step; a person always decides."""

from __future__ import annotations

from workflow.draft_review import held_draft, withdraw
from workflow.intake_review import exclusion_reason, screen_note
from workflow.lifecycle import SCREEN_KEPT, SCREEN_PENDING, Action, ActionPayload, transition
from workflow.model import Actor, DomainError, valid_id
from workflow.services.base import NOT_FOUND, STALE_CARD
from workflow.services.cases import CaseUseCases, Outcome

NOTHING_FOUND = "Проверка п.15 ничего не нашла в этом сообщении: исключите его кнопкой с указанием причины."
ALREADY_KEPT = "Уже решено не исключать: исключить можно кнопкой с указанием причины."
NO_HELD_DRAFT = "Задержанного проекта ответа нет: он уже направлен или отозван."


class ReviewUseCases(CaseUseCases):
    async def exclude_screened(self, case_id: int, actor: Actor, version: int) -> Outcome:
        """«Исключить (п.15)»: the ordinary exclusion, its reason written from the findings at intake."""
        if not valid_id(case_id):
            raise DomainError(NOT_FOUND, code="not_found")
        async with self.repo.reading() as tx:
            case = await tx.get_case(case_id)
            events = await tx.events(case_id) if case is not None else []
        if case is None:
            raise DomainError(NOT_FOUND, code="not_found")
        note = screen_note(events)
        if case.screening == SCREEN_KEPT:
            raise DomainError(ALREADY_KEPT, code="already_done")
        if note is None or not note.flagged or case.screening != SCREEN_PENDING:
            raise DomainError(NOTHING_FOUND, code="wrong_status")
        payload = ActionPayload(reason=exclusion_reason(note, case.procedure))
        return await self.act(case_id, Action.EXCLUDE, actor, expected_version=version, payload=payload)

    async def submit_held(self, case_id: int, actor: Actor, version: int) -> Outcome:
        """«Отправить всё равно»: the held draft is submitted as before; its findings go with it to the curator."""
        if not valid_id(case_id):
            raise DomainError(NOT_FOUND, code="not_found")
        async with self.repo.reading() as tx:
            case = await tx.get_case(case_id)
            events = await tx.events(case_id) if case is not None else []
        if case is None:
            raise DomainError(NOT_FOUND, code="not_found")
        held = held_draft(case, events)
        if held is None:
            raise DomainError(NO_HELD_DRAFT, code="already_done")
        payload = ActionPayload(text=held.text, unit=held.unit, attachments=held.attachments, confirm=True)
        # The version is the hold's: anything done to the case since makes the press stale.
        return await self.act(case_id, Action.SUBMIT, actor, expected_version=version, payload=payload)

    async def withdraw_held(self, case_id: int, actor: Actor, version: int) -> Outcome:
        """«Исправить»: the held draft is withdrawn (recorded); a corrected one comes as a new reply."""
        if not valid_id(case_id):
            raise DomainError(NOT_FOUND, code="not_found")
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            case = await tx.get_case(case_id)
            if case is None:
                raise DomainError(NOT_FOUND, code="not_found")
            held = held_draft(case, await tx.events(case_id))
            if held is None:
                raise DomainError(NO_HELD_DRAFT, code="already_done")
            # Who may submit it may withdraw it: the submit's own checks (role, status, unit) say so.
            payload = ActionPayload(text=held.text, unit=held.unit, attachments=held.attachments)
            submit = transition(
                case, Action.SUBMIT, actor, now, rules=self.rules, calendar=self.calendar, payload=payload
            )
            if version != case.version:
                raise DomainError(STALE_CARD, code="stale")
            result = withdraw(case, actor, submit.events[-1].actor_role, now)
            result, notifications = await self._commit(tx, case, result, now, actor, "", undoable=False)
        await self._wake([result.case.id], notifications)
        return Outcome(case=result.case, notifications=notifications)
