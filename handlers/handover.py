"""The intake chat's «От ЦУР» with a link to an item a channel already took in (issue 12 item 2).

The IM card (or the pasted link) is parsed here into what the merge needs: the item's natural key
(channels/links.py), the card's own number, who handed it over; the use case attaches the hand-over to the
item's case or registers the message as before (workflow/services/handover.py). The replies are the caller's:
`handlers/intake.py` keeps its two paths (a card registered at once, a press on the question).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

from aiogram.types import Message, MessageOriginUser

from channels.links import LinkBook, links_in
from handlers.middlewares import StaffDirectory
from views import texts
from workflow.handover import HandOver
from workflow.model import Actor, InboundMessage, Network, Role
from workflow.services import HandOverOutcome, Services

log = logging.getLogger(__name__)

# «Инцидент № 12345», «Номер инцидента: 12345», «Карточка инцидента № ИМ-12345»: the IM card's own number.
# A marker (№, «:», «#») is required after «инцидент», so «два инцидента 5 дней» names no number.
_CARD_NUMBER = re.compile(
    r"(?:(?:карточка\s+)?инцидента?\s*(?:№|#|:\s*№?)|номер\s+инцидента\s*:?\s*№?)\s*"
    r"((?:[A-Za-zА-Яа-я]{1,4}-)?[0-9]{1,20})(?![0-9])",
    re.IGNORECASE,
)
_CURATOR = re.compile(
    r"^\s*(?:куратор(?:\s+цур)?|передал)\s*:\s*(\S.{0,199}?)\s*$", re.IGNORECASE | re.MULTILINE
)


def card_number_in(text: str) -> str:
    """The IM card's own number, or "" when the text names none."""
    found = _CARD_NUMBER.search(text)
    return found.group(1) if found else ""


def curator_of(message: Message, actor: Actor, directory: StaffDirectory) -> str:
    """Who handed it over: the region curator whose card was forwarded, the one posting, or the card's line."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        sender = directory.actor(origin.sender_user.id)
        if sender is not None and sender.has(Role.REGION_CURATOR):
            return sender.name or origin.sender_user.full_name
    if actor.has(Role.REGION_CURATOR) and actor.name:
        return actor.name
    found = _CURATOR.search(message.text or message.caption or "")
    return found.group(1) if found else ""


@dataclass(frozen=True, slots=True)
class Merged:
    outcome: HandOverOutcome
    not_connected: str  # the line for a link to a network the district did not connect, else ""


async def hand_over(
    services: Services,
    inbound: InboundMessage,
    actor: Actor,
    message: Message,
    searchable: str,
    detected: datetime | None,
    links: LinkBook,
    directory: StaffDirectory,
) -> Merged:
    """Attach to the item's case or register; DomainError as the use case raises it."""
    link = links_in(searchable, links)
    item: tuple[Network, str] | None = None
    note = ""
    if link is not None and not link.connected(links):
        note = texts.INTAKE_NOT_CONNECTED.format(network=texts.NETWORK_NAMES[link.network.value])
        log.info(
            "hand-over links to %s, which is not connected: registered as a new case", link.network.value
        )
    elif link is not None and link.key is not None:
        item = (link.network, link.key)
    handover = HandOver(
        posted_at=message.date,
        detected_at=detected,
        card_number=card_number_in(inbound.text),
        curator=curator_of(message, actor, directory),
    )
    origin = f"intake:{message.chat.id}:{message.message_id}"
    outcome = await services.hand_over(inbound, actor, handover, item=item, origin=origin)
    return Merged(outcome, note)


def merged_line(outcome: HandOverOutcome, tz: tzinfo) -> str:
    """«Присоединено к сообщению № N (срок пересчитан от ЦУР: …)»."""
    case = outcome.case
    if case.detection_stated:
        at = case.t0.astimezone(tz).strftime("%d.%m.%Y %H:%M")
        return texts.INTAKE_MERGED.format(case_id=case.id, at=at)
    return texts.INTAKE_MERGED_KEPT.format(case_id=case.id)
