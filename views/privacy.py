"""Citizens' personal data kept off a foreign messenger (issue 15 item 4; 149-ФЗ art. 10 part 8).

With `[privacy] mask_personal_data = true` and a foreign staff messenger (Telegram), what Otklik renders for the
staff chats shows no author's identity: the author's name is cut to its first letter («П***»), the network id,
the profile and dialogue links go, and in the citizen's text (and in drafts and notes that quote it) phone
numbers, e-mail addresses, street addresses with flats, network handles, the author's own name and names
introduced as such («меня зовут …», «ФИО: …», «Иванов И. И.») become «***». The database keeps the full record;
MAX, `otklik pd export` and the reports on disk are not masked.

The masking is applied to what is rendered (the card's view, a notification), never to what is stored; it is
pure and deterministic, so the card of a case masks the same way at every refresh.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from workflow.clusters import find_address
from workflow.model import SOURCE_EVENTS, Event, InboundMessage
from workflow.ports import FoundCase, Notification
from workflow.services.pos_mail import POS_MAIL_REPEAT
from workflow.services.queries import CardView

MASK = "***"
# The staff messengers Roskomnadzor lists as foreign (149-ФЗ art. 10 part 8); MAX is Russian.
FOREIGN_MESSENGERS = frozenset({"telegram"})


@dataclass(frozen=True, slots=True)
class Privacy:
    """Whether what is rendered for the staff messenger is masked."""

    mask: bool = False

    @classmethod
    def for_messenger(cls, kind: str, mask_personal_data: bool) -> Privacy:
        """Masked only when asked for and the messenger is a foreign one."""
        return cls(mask=mask_personal_data and kind in FOREIGN_MESSENGERS)

    def view(self, view: CardView) -> CardView:
        return masked_view(view) if self.mask else view

    def view_or_none(self, view: CardView | None) -> CardView | None:
        return masked_view(view) if self.mask and view is not None else view

    def notification(self, n: Notification, view: CardView | None) -> Notification:
        return masked_notification(n, view) if self.mask else n

    def found(self, found: FoundCase) -> FoundCase:
        if not self.mask:
            return found
        words, handles = identity_of(found.author)
        return replace(found, text=mask_text(found.text, words, handles), author=mask_name(found.author))

    def text(self, text: str, message: InboundMessage | None = None) -> str:
        """A citizen's text (an e-mail, a message) as this messenger may show it."""
        if not self.mask:
            return text
        return mask_text(text, *(identity(message) if message is not None else ((), ())))


NO_MASKING = Privacy()

_WORD = re.compile(r"[^\W\d_]{2,}")
_HANDLE = re.compile(r"@\w+|\bid\d+|\bclub\d+|ok\.ru/profile/\d+", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w.])\+?\d[\d\s()\-‐–]{5,}\d(?!\w|\.\d)")
_PHONE_DIGITS = 7
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PROFILE = re.compile(
    r"(?:https?://)?(?:(?:m\.)?vk\.com/id\d+|ok\.ru/profile/\d+|tg://user\?id=\d+)\S*|(?<![\w/])@[A-Za-z]\w{3,}",
    re.IGNORECASE,
)
_BARE_ID = re.compile(r"(?<![\w/])id\d{3,}\b", re.IGNORECASE)
_FLAT = re.compile(r"\b(?:кв\.?|квартир[аеуы]|комн\.?|комнат[аеуы])\s*№?\s*\d+\w?", re.IGNORECASE)
_NAME = r"[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
_INTRODUCED = re.compile(
    r"(?P<lead>(?<!\w)(?i:меня зовут|с уважением|автор(?: сообщения)?|ф\.?\s?и\.?\s?о\.?(?: заявителя)?|заявитель|я)[\s,:—\-]+)"
    rf"(?P<name>{_NAME}(?:[ \t]+{_NAME}){{0,2}})"
)
_INITIALS = re.compile(rf"{_NAME}[ \t]+[А-ЯЁ]\.[ \t]?(?:[А-ЯЁ]\.)?|[А-ЯЁ]\.[ \t]?(?:[А-ЯЁ]\.[ \t]?)?{_NAME}")
# Links that lead to the author himself: a profile, a dialogue with the administration.
_PERSONAL_LINK = re.compile(
    r"vk\.com/id\d+|ok\.ru/profile/|tg://user|[?&]sel=|/messages|/im\b|/gim\d+", re.IGNORECASE
)
_VOWELS = "аеёиоуыэюяйьaeiouy"
# Notices whose "text" is the citizen's own (a repeated ПОС e-mail), not a staff member's.
_CITIZEN_TEXT_KINDS = frozenset({POS_MAIL_REPEAT})
_ADDRESS_PASSES = 20


def mask_name(author: str) -> str:
    """«Пётр Иванов (id1)» → «П***»; an author known only by a handle or an id → «***»."""
    name = _name_part(author)
    first = _WORD.search(name)
    return f"{first.group(0)[0].upper()}{MASK}" if first is not None else MASK


def _name_part(author: str) -> str:
    """The person's name in an author line: before the handle in brackets and the ПОС extras after a comma."""
    name = author.split("(", 1)[0].split(",", 1)[0]
    return _HANDLE.sub(" ", name)


def identity(message: InboundMessage) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the author's name words, his handles and ids), to be masked wherever they occur."""
    return identity_of(message.author, message.author_id)


def identity_of(author: str, author_id: int | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    words = tuple(_WORD.findall(_name_part(author)))
    handles = _HANDLE.findall(author)
    handles += [digits for h in handles if (digits := re.sub(r"\D", "", h))]  # «id5» also as the bare 5
    if author_id is not None:
        handles.append(str(abs(author_id)))
    return words, tuple(dict.fromkeys(handles))


def _word_pattern(word: str) -> str:
    """The word and its Russian case forms: «Петров» also matches «Петрова», «Мария» also «Марии»."""
    if len(word) < 4:
        return _yo(word)
    stem = word[:-1] if word[-1].lower() in _VOWELS else word
    return _yo(stem) + r"[^\W\d_]{0,3}"


def _yo(word: str) -> str:
    """The word as a pattern that takes «е» and «ё» for each other."""
    return "".join("[её]" if c in "её" else "[ЕЁ]" if c in "ЕЁ" else re.escape(c) for c in word)


def mask_names(text: str, words: Iterable[str], handles: Iterable[str] = ()) -> str:
    """The author's own name words and handles in a text (a draft, a note) → «***»; nothing else is touched."""
    parts = [_word_pattern(w) for w in words] + [re.escape(h) for h in handles if h]
    if not parts or not text:
        return text
    pattern = re.compile(r"(?<![\w])(?:" + "|".join(sorted(parts, key=len, reverse=True)) + r")(?![\w])",
                         re.IGNORECASE)  # fmt: skip
    return pattern.sub(MASK, text)


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    return MASK if sum(c.isdigit() for c in found) >= _PHONE_DIGITS else found


def mask_addresses(text: str) -> str:
    """Every street + house the text names (workflow.clusters.find_address) and every flat → «***»."""
    for _ in range(_ADDRESS_PASSES):
        found = find_address(text)
        if found is None or not found.shown or found.shown not in text:
            break
        text = text.replace(found.shown, MASK)
    return _FLAT.sub(MASK, text)


def mask_text(text: str, words: Iterable[str] = (), handles: Iterable[str] = ()) -> str:
    """A citizen's text as a foreign messenger may show it: e-mails, profile links and handles, phone numbers,
    street addresses and flats, names introduced as such, and the author's own name → «***»."""
    if not text:
        return text
    text = _EMAIL.sub(MASK, text)
    text = _PROFILE.sub(MASK, text)
    text = _BARE_ID.sub(MASK, text)
    text = _PHONE.sub(_phone, text)
    text = mask_addresses(text)
    text = _INTRODUCED.sub(lambda m: m.group("lead") + MASK, text)
    text = _INITIALS.sub(MASK, text)
    return mask_names(text, words, handles)


def safe_link(link: str, handles: Iterable[str] = ()) -> str:
    """The link to the item when it does not lead to its author; "" otherwise. A VK wall comment link
    (wall-1_2?reply=3) or a t.me post link names the item, not the person, and stays; a profile, a dialogue
    (VK's gim…?sel=<user id>, OK's messages?chat_id=) or a link carrying the author's id goes."""
    if not link or _PERSONAL_LINK.search(link):
        return ""
    for handle in handles:
        if handle and re.search(rf"(?<![\w]){re.escape(handle.lstrip('@'))}(?![\w])", link, re.IGNORECASE):
            return ""
    return link


def masked_message(message: InboundMessage) -> InboundMessage:
    words, handles = identity(message)
    return replace(
        message,
        author=mask_name(message.author) if message.author else "",
        link=safe_link(message.link, handles),
        text=mask_text(message.text, words, handles),
        author_id=None,
    )


def _masked_event(event: Event, words: tuple[str, ...], handles: tuple[str, ...]) -> Event:
    """A source event carries the citizen's text as edited; other events' texts and reasons are the staff's,
    masked for the author's name only (a draft addresses him by it)."""
    data = dict(event.data)
    reason = data.get("reason")
    if isinstance(reason, str):
        data["reason"] = mask_names(reason, words, handles)
    if event.action in SOURCE_EVENTS:
        return replace(event, text=mask_text(event.text, words, handles), data=data)
    return replace(event, text=mask_names(event.text, words, handles), data=data)


def masked_view(view: CardView) -> CardView:
    """The card's view with the author's identity masked (the stored record is not touched)."""
    message = view.message
    if message is None:
        return view
    words, handles = identity(message)
    case = view.case
    rework = mask_names(case.rework_reason, words, handles) if case.rework_reason else case.rework_reason
    return replace(
        view,
        case=replace(case, rework_reason=rework) if rework != case.rework_reason else case,
        message=masked_message(message),
        events=[_masked_event(e, words, handles) for e in view.events],
        draft=mask_names(view.draft, words, handles) if view.draft else view.draft,
    )


def _masked_spike_address(address: str) -> str:
    """A cluster's address is many people's: the street stays, the house and flat numbers go."""
    return re.sub(r"\d+\s*[\w/]*", MASK, _FLAT.sub(MASK, address))


def masked_notification(n: Notification, view: CardView | None) -> Notification:
    """A notice's payload with the citizen's data masked: the author's name in texts and reasons, the citizen's
    texts of a spike report's cases and of a ПОС e-mail, a spike's house numbers, a profile link."""
    message = view.message if view is not None else None
    words, handles = identity(message) if message is not None else ((), ())
    payload: dict[str, object] = {}
    for key, value in n.payload.items():
        if key in ("text", "reason") and isinstance(value, str):
            value = mask_names(value, words, handles)
        payload[key] = value
    if isinstance(payload.get("link"), str):
        payload["link"] = safe_link(str(payload["link"]), handles)
    cases = payload.get("cases")
    if isinstance(cases, list):  # a spike report: each case with the start of its citizen's text
        payload["cases"] = [
            {**item, "text": mask_text(str(item.get("text") or ""))} if isinstance(item, dict) else item
            for item in cases
        ]
    address = payload.get("address")
    if isinstance(address, str) and address:
        payload["address"] = _masked_spike_address(address)
    if isinstance(payload.get("raw"), str):  # a ПОС notification e-mail the parser could not read
        payload["raw"] = mask_text(str(payload["raw"]))
    if n.kind in _CITIZEN_TEXT_KINDS and isinstance(payload.get("text"), str):
        payload["text"] = mask_text(str(payload["text"]), words, handles)
    return replace(n, payload=payload)
