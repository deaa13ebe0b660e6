"""ПОС notification e-mails in (issue 12 item 3): a parsed notification becomes a ПОС case through the same
`register` as the /pos dialogue, keyed by its ПОС number; what a person must look at goes to the ПОС curator.

Three notices, each through the outbox under a key that makes a retry of the same mail add nothing:
- «не удалось разобрать»: no number, no text, an impossible date — the raw text goes along, nothing is dropped;
- a number already registered with another text: not registered twice; a repeat is suggested;
- a category not in the table: the case takes the strictest class (pos_categories.py) and the curator is told.
The notices about a case are queued whenever the mail is handled, not only when the case is created: a crash
between the registration's commit and the notice's would otherwise lose the notice for good.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from workflow.lifecycle import check_message_instant, check_pos_due, clean_text
from workflow.model import SYSTEM_ACTOR, Attachment, DomainError, InboundMessage, Procedure, Role, Source
from workflow.ports import Notification
from workflow.pos_categories import classify, unknown_category_notice
from workflow.services.cases import CaseUseCases, Outcome

# The notification kinds (views/cards.py renders them).
POS_MAIL_UNPARSED = "pos_mail_unparsed"
POS_MAIL_REPEAT = "pos_mail_repeat"
RAW_SHOWN = 2500  # characters of the raw text a notice carries (a Telegram message holds 4096)


@dataclass(frozen=True)
class PosMail:
    """One notification e-mail as the channel read it (channels/pos/mail_parse.py); None: not found."""

    key: str  # the mail's own key (its inbox key): what a retry of it is recognised by
    number: str | None
    category: str | None
    received: datetime | None
    text: str | None
    author: str
    subject: str
    sender: str
    sent_at: datetime | None
    raw_text: str  # the body as text, shown to the curator when it cannot be parsed
    saved_at: datetime  # when Otklik saved the mail: the arrival when the mail states none
    problems: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()  # the kept raw message, and the attachments not kept
    due: date | None = None  # the ПОС due date, already read by the channel


@dataclass(frozen=True)
class PosMailResult:
    outcome: Outcome | None  # None: not registered (the curator was told why)
    notices: tuple[Notification, ...]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PosMailUseCases(CaseUseCases):
    async def take_in_pos_mail(self, mail: PosMail, categories: Mapping[str, str]) -> PosMailResult:
        """Register the notification once; tell the ПОС curator what needs a person."""
        now = self.clock.now()
        problems = list(mail.problems)
        received = mail.received or mail.sent_at or mail.saved_at
        if not problems:
            try:
                check_message_instant(received, now)
            except DomainError as exc:
                problems.append(exc.message)
        if problems or mail.number is None or not mail.text:
            return PosMailResult(
                None, await self._queue(self._unparsed(mail, problems or ["нет данных"], now))
            )
        klass = classify(mail.category, categories, self.rules)
        due = mail.due
        if due is not None:
            try:
                check_pos_due(due, received, self.calendar.tz)
            except DomainError:
                due = None  # the case's own terms stand; the card shows no ПОС date rather than a wrong one
        message = InboundMessage(
            source=Source.POS, source_id=mail.number, procedure=Procedure.POS, text=mail.text,
            received_at=received, author=mail.author, category=klass.class_id, external_number=mail.number,
            attachments=mail.attachments, pos_due=due,
        )  # fmt: skip
        try:
            outcome = await self.register(message, SYSTEM_ACTOR)
        except DomainError as exc:
            return PosMailResult(None, await self._queue(self._unparsed(mail, [exc.message], now)))
        notices: list[Notification] = []
        case = outcome.case
        if not outcome.created:
            async with self.repo.reading() as tx:
                existing = await tx.get_message(case.id)
            if existing is not None and existing.text != clean_text(mail.text):
                notices.append(Notification(
                    dedup_key=f"pos-mail-repeat:{mail.number}:{_digest(clean_text(mail.text))}", case_id=case.id,
                    kind=POS_MAIL_REPEAT, to_role=Role.POS_CURATOR, at=now,
                    payload={"number": mail.number, "text": mail.text[:RAW_SHOWN], "subject": mail.subject},
                ))  # fmt: skip
                return PosMailResult(outcome, await self._queue(notices))
        if not klass.known and case.category == klass.class_id:
            notices.append(unknown_category_notice(case.id, mail.category, klass.class_id, now))
        return PosMailResult(outcome, await self._queue(notices))

    @staticmethod
    def _unparsed(mail: PosMail, problems: list[str], now: datetime) -> list[Notification]:
        return [Notification(
            dedup_key=f"pos-mail-unparsed:{_digest(mail.key)}", case_id=None, kind=POS_MAIL_UNPARSED,
            to_role=Role.POS_CURATOR, at=now,
            payload={"subject": mail.subject[:300], "sender": mail.sender[:300], "problems": problems[:5],
                     "raw": mail.raw_text[:RAW_SHOWN], "cut": len(mail.raw_text) > RAW_SHOWN,
                     "number": mail.number or ""},
        )]  # fmt: skip

    async def _queue(self, notices: list[Notification]) -> tuple[Notification, ...]:
        if not notices:
            return ()
        async with self.repo.transaction() as tx:
            await tx.enqueue(notices)
        await self._wake([n.case_id for n in notices if n.case_id is not None], notices)
        return tuple(notices)
