"""ЦУР hand-overs that merge with what Otklik already took in (issue 12 item 2).

The intake chat parses the hand-over's link into the network item's natural key (channels/links.py). When a
channel already registered that item, the hand-over attaches to its case (workflow/handover.py: one case, one
set of terms, T0 at the ЦУР detection time); otherwise it is registered as a new case exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from workflow.handover import HandOver, attach
from workflow.model import Actor, Case, DomainError, InboundMessage, Network
from workflow.services.cases import CaseUseCases, Outcome, _applied
from workflow.services.channels import SOURCES


@dataclass(frozen=True, slots=True)
class HandOverOutcome:
    """What became of a hand-over: attached to an existing case (`attached`), or `outcome` of a registration."""

    case: Case
    attached: bool
    created: bool  # a new case was registered, or the hand-over was attached now (not a replay)
    moved: bool = False  # attached and T0 moved to the ЦУР detection time


class HandOverUseCases(CaseUseCases):
    async def case_of_item(self, network: Network, key: str) -> int | None:
        """The case a channel registered the network item under, if any."""
        source = SOURCES.get(network)
        if source is None:
            return None
        async with self.repo.reading() as tx:
            return await tx.find_case_by_source(source.value, key)

    async def hand_over(
        self,
        message: InboundMessage,
        actor: Actor,
        handover: HandOver,
        *,
        item: tuple[Network, str] | None,
        origin: str,
    ) -> HandOverOutcome:
        """Attach the hand-over to the case of `item` when there is one, else register `message` as today.

        `origin` names the hand-over's own message (the intake chat message): handling it again changes
        nothing. DomainError when the item's case is finished (code "closed": not reopened silently) or the
        hand-over cannot attach (a detection time after the post, a second hand-over).
        """
        case_id = await self.case_of_item(*item) if item is not None else None
        if case_id is None:
            message = replace(message, cur_number=handover.card_number, cur_curator=handover.curator)
            outcome: Outcome = await self.register(message, actor)
            return HandOverOutcome(case=outcome.case, attached=False, created=outcome.created)
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            case = await tx.get_case(case_id)
            if case is None:  # the lookup and this transaction raced with nothing that deletes: defensive
                raise DomainError("Сообщение не найдено.", code="not_found")
            if await _applied(tx, case_id, origin):
                return HandOverOutcome(case=case, attached=True, created=False, moved=case.detection_stated)
            result = attach(case, handover, actor, now, rules=self.rules, calendar=self.calendar)
            result, notifications = await self._commit(tx, case, result, now, actor, origin, undoable=False)
        await self._wake([result.case.id], notifications)
        return HandOverOutcome(case=result.case, attached=True, created=True, moved=bool(result.retimes))
