"""Network items in (issue 11): a citizen's new comment or community message becomes a case by itself, through
the same `register` as the intake chat; what the citizen or a moderator does to it afterwards (an edit, a
deletion, a restore) is recorded on its case as an event — the terms do not restart (CHANNELS.md).
"""

from __future__ import annotations

from datetime import datetime

from workflow.model import (
    SOURCE_DELETED,
    SOURCE_EDITED,
    SOURCE_EVENTS,
    SOURCE_RESTORED,
    SYSTEM_ACTOR,
    ChannelItem,
    Event,
    InboundMessage,
    ItemKind,
    Network,
    Procedure,
    Source,
)
from workflow.services.cases import ORIGIN, CaseUseCases, Outcome, _applied

_ACTIONS = {ItemKind.EDIT: SOURCE_EDITED, ItemKind.DELETE: SOURCE_DELETED, ItemKind.RESTORE: SOURCE_RESTORED}
# Where each connected network's items are registered from.
SOURCES = {Network.VK: Source.VK, Network.OK: Source.OK, Network.TELEGRAM: Source.TELEGRAM, Network.MAX: Source.MAX}


def is_source_event(event: Event) -> bool:
    return event.action in SOURCE_EVENTS


def inbound(item: ChannelItem, source: Source) -> InboundMessage:
    """The item as the open-sources message it becomes: T0 is when Otklik first saw it."""
    return InboundMessage(
        source=source,
        source_id=item.key,
        procedure=Procedure.OPEN_SOURCES,
        text=item.text,
        received_at=item.seen_at,
        author=item.author,
        link=item.link,
        attachments=item.attachments,
        network=item.network,
        author_id=item.author_id or None,
    )


class ChannelUseCases(CaseUseCases):
    async def take_in(self, item: ChannelItem) -> Outcome | None:
        """Handle one network item; the same item (or the same change of it) again changes nothing.

        A new item is registered; an edit or restore of an item with no case (its «new» event was lost in a
        gap) registers it too, as it is now. A change of an item with a case is an event on the case; a
        deletion of an unknown item, nothing (None).
        """
        source = SOURCES.get(item.network)
        if source is None:
            return None
        if item.kind is ItemKind.NEW:
            return await self.register(inbound(item, source), SYSTEM_ACTOR)
        async with self.repo.reading() as tx:
            case_id = await tx.find_case_by_source(source.value, item.key)
        if case_id is None:
            if item.kind is ItemKind.DELETE:
                return None
            return await self.register(inbound(item, source), SYSTEM_ACTOR)
        return await self._record_change(case_id, source, item)

    async def _record_change(self, case_id: int, source: Source, item: ChannelItem) -> Outcome | None:
        now = self.clock.now()
        origin = f"{source.value}:{item.key}:{item.kind.value}:{item.revision}"
        async with self.repo.transaction() as tx:
            case = await tx.get_case(case_id)
            message = await tx.get_message(case_id)
            if case is None or message is None:
                return None
            if await _applied(tx, case_id, origin):
                return Outcome(case=case, created=False, replayed=True)
            event = self._change_event(item, message, await tx.events(case_id), now, origin)
            if event is None:
                return Outcome(case=case, created=False, replayed=True)
            # The case itself does not change (no version: the cards' buttons stay valid); its card shows it.
            await tx.append_events(case_id, [event])
        await self._wake([case_id], ())
        return Outcome(case=case, created=False)

    @staticmethod
    def _change_event(
        item: ChannelItem, message: InboundMessage, events: list[Event], now: datetime, origin: str
    ) -> Event | None:
        data: dict[str, object] = {ORIGIN: origin, "key": item.key, "seen_at": item.seen_at.isoformat()}
        text = ""
        if item.kind is ItemKind.DELETE:
            by_author = message.author_id is not None and item.author_id == message.author_id
            if item.deleted_by_author is not None:  # the channel knows better (Telegram: the reply refused)
                by_author = item.deleted_by_author
            data["by_author"] = by_author
        else:
            last = next(
                (e.text for e in reversed(events) if e.action in (SOURCE_EDITED, SOURCE_RESTORED)), None
            )
            current = message.text if last is None else last
            if item.kind is ItemKind.EDIT and item.text == current:
                return None  # nothing changed (a repeated edit event)
            text = item.text
        return Event(
            action=_ACTIONS[item.kind],
            actor_id=SYSTEM_ACTOR.user_id,
            actor_role=next(iter(SYSTEM_ACTOR.roles)),
            at=now,
            text=text,
            data=data,
        )
