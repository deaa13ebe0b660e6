"""A ПОС notification e-mail read into its fields by label patterns (issue 12 item 3).

The notification's subject, sender and full field list are not documented (CHANNELS.md, ПОС): the one proven
shape is labelled fields, «Телефон: …», «Адрес заявителя: …», «Место проблемы: …», in an HTML or plain body. So
each field is found by a label pattern (a regular expression for the label, config can replace any field's),
at the start of a line and followed by a colon; the value is the rest of the line, and for the text, every
line up to the next known label. The body is the text/plain part, or the text/html part as text when the
plain one gives no number (html_text.py); the transfer encodings (quoted-printable, base64) and the charsets
(UTF-8, windows-1251, KOI8-R…) are the email package's, an unknown charset read as UTF-8 with replacements.

Attachments are not needed to register a case; one over the size limit is cut out of the message kept for
audit, and the cut is recorded (`Cut`) so the case can say so.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime

from channels.pos.html_text import html_to_text

FIELDS = ("number", "category", "received", "text", "author", "phone", "author_address", "location", "due")

# The labels known from ПОС notifications and the housing-inspection parser (CHANNELS.md); config replaces a
# field's list as a whole ([channels.pos_mail.labels]).
DEFAULT_LABELS: Mapping[str, tuple[str, ...]] = {
    "number": (r"Номер\s+сообщения", r"Сообщение\s*№", r"№\s*сообщения", r"Номер\s+обращения", r"Номер"),
    "category": (r"Категория(?:\s+сообщения)?", r"Подкатегория"),
    "received": (r"Дата\s+(?:и\s+время\s+)?(?:поступления|создания|регистрации)", r"Поступило"),
    "text": (r"Текст\s+(?:сообщения|обращения)", r"Описание(?:\s+проблемы)?", r"Текст"),
    "author": (r"Заявитель", r"Автор(?:\s+сообщения)?", r"ФИО(?:\s+заявителя)?"),
    "phone": (r"Телефон(?:\s+заявителя)?", r"Тел\."),
    "author_address": (r"Адрес\s+заявителя",),
    "location": (r"Место\s+проблемы", r"Адрес\s+проблемы", r"Местоположение"),
    "due": (r"Срок\s+ответа", r"Крайний\s+срок", r"Ответить\s+до"),
}
NUMBER_VALUE = re.compile(r"(?<![0-9])([0-9]{5,20})(?![0-9])")  # ASCII digits, as in the /pos dialogue
# «01.12.2026 10:15», «01.12.2026 10:15:30», «2026-12-01 10:15», «01.12.2026» (no time: midnight)
_DATES = (
    (re.compile(r"([0-9]{2}\.[0-9]{2}\.[0-9]{4})[ ,в]*([0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?"), "%d.%m.%Y"),
    (re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]*([0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?"), "%Y-%m-%d"),
)
MAX_TEXT = 20_000  # characters of a notification's text kept (ПОС limits a message to far less)


class PatternError(ValueError):
    """A label pattern in config that is no regular expression, or a field that does not exist."""


@dataclass(frozen=True)
class LabelPatterns:
    """Per field, one compiled regex: ^label: value$ (any of the field's labels)."""

    lines: Mapping[str, re.Pattern[str]]
    any_label: re.Pattern[str]  # a line that starts any field (ends the text)

    @classmethod
    def build(cls, overrides: Mapping[str, Sequence[str]] | None = None) -> LabelPatterns:
        labels = dict(DEFAULT_LABELS)
        for name, given in (overrides or {}).items():
            if name not in FIELDS:
                raise PatternError(f"неизвестное поле «{name}» (есть: {', '.join(FIELDS)})")
            if not given:
                raise PatternError(f"{name}: пустой список подписей")
            labels[name] = tuple(given)
        lines: dict[str, re.Pattern[str]] = {}
        for name, alternatives in labels.items():
            try:
                joined = "|".join(f"(?:{a})" for a in alternatives)
                lines[name] = re.compile(rf"^[ \t]*(?:{joined})[ \t]*[:：№]?[ \t]*(.*)$", re.I | re.M)
            except re.error as exc:
                raise PatternError(f"{name}: подпись не является регулярным выражением: {exc}") from None
        every = "|".join(f"(?:{a})" for alts in labels.values() for a in alts)
        return cls(lines, re.compile(rf"^[ \t]*(?:{every})[ \t]*[:：]", re.I))


@dataclass(frozen=True)
class Cut:
    """An attachment not kept: over the size limit."""

    name: str
    mime: str
    size: int


@dataclass(frozen=True)
class MailNotice:
    """What one notification e-mail says; None where it does not say (or the value is not readable)."""

    number: str | None
    category: str | None
    received: datetime | None
    text: str | None
    author: str | None
    phone: str | None
    author_address: str | None
    location: str | None
    due: str | None  # as written; the caller checks it like a typed one
    subject: str
    sender: str
    sent_at: datetime | None  # the Date header
    body: str  # the body as text: what the curator is shown when it cannot be parsed
    problems: tuple[str, ...] = field(default=())  # Russian reasons: why a field is missing or wrong


def message_of(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _decoded(part: Message) -> str:
    """A text part's content: transfer encoding and charset undone; an unknown charset read as UTF-8."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or (
        part.get_filename() is not None and part.get_content_maintype() != "multipart"
    )


def bodies(message: Message) -> tuple[str, str]:
    """(the text/plain body, the text/html body as text), each "" when absent; attachments excluded."""
    plain: list[str] = []
    html: list[str] = []
    for part in message.walk():
        if part.is_multipart() or _is_attachment(part):
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            plain.append(_decoded(part))
        elif kind == "text/html":
            html.append(html_to_text(_decoded(part)))
    return "\n".join(plain).strip(), "\n".join(html).strip()


def _header(message: Message, name: str) -> str:
    try:
        return str(message.get(name, "") or "").strip()
    except (ValueError, TypeError, IndexError):  # a broken encoded-word: the header is just not readable
        return ""


def _fields(body: str, patterns: LabelPatterns) -> dict[str, str]:
    found: dict[str, str] = {}
    lines = body.replace("\r\n", "\n").split("\n")
    for name, regex in patterns.lines.items():
        for i, line in enumerate(lines):
            m = regex.match(line)
            if m is None:
                continue
            value = m.group(1).strip()
            if name == "text":  # the text runs on to the next labelled line
                more = []
                for nxt in lines[i + 1 :]:
                    if patterns.any_label.match(nxt):
                        break
                    more.append(nxt)
                value = "\n".join([value, *more]).strip()
            if value:
                found[name] = value
                break
    return found


def parse_when(value: str, tz: tzinfo) -> datetime | None:
    """A local date and time as ПОС writes it (three formats, the time optional); None when none is there."""
    for regex, day_format in _DATES:
        m = regex.search(value)
        if m is None:
            continue
        clock = m.group(2) or "00:00"
        clock_format = "%H:%M:%S" if clock.count(":") == 2 else "%H:%M"
        try:
            return datetime.strptime(f"{m.group(1)} {clock}", f"{day_format} {clock_format}").replace(
                tzinfo=tz
            )
        except ValueError:
            return None
    return None


def parse_mail(raw: bytes, patterns: LabelPatterns, tz: tzinfo) -> MailNotice:
    """The notification's fields; never raises for what the mail contains."""
    message = message_of(raw)
    subject, sender = _header(message, "Subject"), _header(message, "From")
    try:
        sent_at: datetime | None = parsedate_to_datetime(_header(message, "Date"))
        if sent_at is not None and sent_at.tzinfo is None:
            sent_at = None
    except (ValueError, TypeError, IndexError):
        sent_at = None
    plain, html = bodies(message)
    body = plain
    found = _fields(plain, patterns) if plain else {}
    if "number" not in found and html:
        body, found = html, _fields(html, patterns)
    problems: list[str] = []
    number = None
    if "number" in found:
        m = NUMBER_VALUE.search(found["number"])
        number = m.group(1) if m else None
    if number is None and (
        m := patterns.lines["number"].search(subject)
    ):  # «Сообщение № 123456 …» in the subject
        n = NUMBER_VALUE.search(m.group(1))
        number = n.group(1) if n else None
    if number is None:
        problems.append("не найден номер сообщения ПОС")
    received = None
    if "received" in found:
        received = parse_when(found["received"], tz)
        if received is None:
            problems.append(f"дата поступления не распознана: «{found['received'][:40]}»")
    text = found.get("text")
    if not text:
        problems.append("не найден текст сообщения")
    return MailNotice(
        number=number,
        category=found.get("category"),
        received=received,
        text=text[:MAX_TEXT] if text else None,
        author=found.get("author"),
        phone=found.get("phone"),
        author_address=found.get("author_address"),
        location=found.get("location"),
        due=found.get("due"),
        subject=subject,
        sender=sender,
        sent_at=sent_at,
        body=body or plain or html,
        problems=tuple(problems),
    )


def trim(raw: bytes, max_bytes: int) -> tuple[bytes, tuple[Cut, ...]]:
    """The message with every attachment over `max_bytes` cut out (a note in its place), and what was cut.

    A message with nothing to cut is returned byte for byte, as it came."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    cuts: list[Cut] = []
    for part in message.walk():
        if part.is_multipart() or not _is_attachment(part):
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        if size <= max_bytes:
            continue
        name = str(part.get_filename() or "вложение")
        cuts.append(Cut(name[:200], part.get_content_type(), size))
        del part["Content-Transfer-Encoding"]
        part.set_payload(
            f"[Отклик: вложение «{name}» ({size} байт) не сохранено: больше {max_bytes} байт]\n", "utf-8"
        )
        if part.get("Content-Type"):
            part.replace_header("Content-Type", 'text/plain; charset="utf-8"')
        part["X-Otklik-Cut"] = f"{size}"
    if not cuts:
        return raw, ()
    return message.as_bytes(), tuple(cuts)


def mail_key(raw: bytes) -> str:
    """The mail's inbox key: its Message-ID (the same mail read again after a UIDVALIDITY change is one row),
    or the hash of its bytes when it has none."""
    message = email.message_from_bytes(
        raw[:200_000], policy=email.policy.compat32
    )  # the headers are at the start
    msgid = str(message.get("Message-ID", "") or "").strip()
    if msgid and len(msgid) <= 500:
        return f"id:{msgid}"
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"
