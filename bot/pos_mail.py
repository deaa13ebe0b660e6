"""ПОС notification e-mails: the mailbox read into the inbox on a schedule, each saved mail handled by a worker.

`PosMailReader.poll()` is the scheduler's job (bot/scheduler.py, every `interval_minutes`): it logs in, reads
the mails after the saved UID cursor one at a time, and for each one saves it in the inbox (its key is its
Message-ID: the same mail read again is the same row), then flags it \\Seen, then saves the cursor past it —
so a process killed at any point loses nothing and registers nothing twice: before the save the mail is read
again, after it the row is there. A server that refuses the flag does not hold the cursor back (the mail is
saved); a connection lost before the flag does, so the next poll reads the mail again and flags it. Attachments over the size limit are cut out before the save (the raw JSON
row would otherwise carry 20 MB); what was cut is recorded on the row.

`mail_handler` is the workers' handler of the saved rows: the raw message kept in `channel_files` for audit
(one per mail, under the mail's own key), parsed by the configured label patterns, and handed to the ПОС mail
use case (workflow/services/pos_mail.py) — one line in the log for the administrator either way.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol

from bot.settings import POS_MAIL_PASSWORD_ENV, PosMailSettings
from channels.pos.mail import ImapMailbox, MailboxConfig, MailboxError, MailboxRefused, MailCursor
from channels.pos.mail_parse import Cut, LabelPatterns, MailNotice, mail_key, parse_mail, trim
from channels.pos.notice import parse_due
from storage.inbox import Cursor, Inbox, InboxRow, Incoming
from storage.repository import ChannelFile
from views import texts
from views.cards import UNFETCHED
from workflow.model import Attachment
from workflow.ports import Clock, StorageUnavailable
from workflow.services.pos_mail import POS_MAIL_REPEAT, PosMail, PosMailResult, PosMailUseCases

log = logging.getLogger(__name__)

CHANNEL = "pos_mail"
RAW_KIND = "mail"  # the kept raw message: listed on the card, never sent to a chat as a file


def mailbox_config(mail: PosMailSettings) -> MailboxConfig:
    return MailboxConfig(host=mail.host, port=mail.port, tls=mail.tls, user=mail.user, password=mail.password,
                         folder=mail.folder, timeout=mail.timeout_seconds)  # fmt: skip


def mailbox_problem(mail: PosMailSettings) -> str | None:
    """What is missing in an enabled [channels.pos_mail], one line; None when it can be read."""
    if not mail.host or not mail.user:
        return "channels.pos_mail: не указаны host и user почтового ящика ПОС"
    if not mail.password:
        return f"channels.pos_mail.password: не задан пароль почтового ящика ПОС ({POS_MAIL_PASSWORD_ENV})"
    return None


class Wakeable(Protocol):
    def wake(self) -> None: ...


@dataclass
class PosMailReader:
    mailbox: ImapMailbox
    inbox: Inbox
    max_attachment_bytes: int
    batch: int = 50
    pool: Wakeable | None = None  # the workers, woken when a mail is saved

    async def poll(self) -> int:
        """One read of the mailbox: how many mails were saved (new or again). Never raises for the server."""
        try:
            return await self._poll()
        except MailboxError as exc:
            log.warning("ПОС-почта: ящик не прочитан: %s; повтор при следующем опросе", exc)
        except StorageUnavailable as exc:
            log.warning("ПОС-почта: база данных недоступна (%s); повтор при следующем опросе", exc)
        return 0

    async def _poll(self) -> int:
        cursor = MailCursor.parse(await self.inbox.cursor(CHANNEL))
        saved = 0
        async with self.mailbox.session() as session:
            uids = (await session.new_uids(cursor))[: self.batch]
            last = cursor.last_uid if cursor is not None and cursor.uidvalidity == session.uidvalidity else 0
            for uid in uids:
                data = await session.fetch(uid)
                if data is not None:
                    await self.inbox.save_batch([self.incoming(uid, session.uidvalidity, data)])
                    saved += 1
                    if self.pool is not None:
                        self.pool.wake()
                    try:
                        await session.mark_seen(uid)
                    except MailboxRefused as exc:
                        # Saved, so the cursor moves on anyway: a folder that refuses flags (read-only, a
                        # quota) must not hold every later mail behind this one. A lost connection instead
                        # ends the poll before the cursor moves, so the next poll flags it.
                        log.warning(
                            "ПОС-почта: письмо UID %s сохранено, но не отмечено прочитанным: %s", uid, exc
                        )
                last = max(last, uid)
                mark = Cursor(CHANNEL, str(MailCursor(session.uidvalidity, last)))
                await self.inbox.save_batch([], cursor=mark)
        if saved:
            log.info("ПОС-почта: получено писем: %d", saved)
        return saved

    def incoming(self, uid: int, uidvalidity: int, data: bytes) -> Incoming:
        kept, cuts = trim(data, self.max_attachment_bytes)
        raw = {"uid": uid, "uidvalidity": uidvalidity, "size": len(data),
               "mail": base64.b64encode(kept).decode("ascii"),
               "cuts": [{"name": c.name, "mime": c.mime, "size": c.size} for c in cuts]}  # fmt: skip
        # One lane: the mails are handled in the order they came, so «already registered with another text»
        # always points at the earlier mail.
        return Incoming(CHANNEL, mail_key(data), CHANNEL, raw)


class FilesTransaction(Protocol):
    async def save_channel_files(self, files: list[ChannelFile]) -> int: ...


class FilesRepository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[FilesTransaction]: ...


def _mb(size: float) -> str:
    return f"{size / 1_000_000:.1f}".replace(".", ",")


def as_pos_mail(notice: MailNotice, row: InboxRow, clock: Clock, cuts: list[Cut], limit: int) -> PosMail:
    """The parsed mail as the use case takes it: the author's details joined, the raw message and the cut
    attachments as the case's attachments."""
    author = ", ".join(x for x in (notice.author, notice.phone and f"тел. {notice.phone}",
                                   notice.author_address) if x)  # fmt: skip
    text = notice.text
    if text and notice.location:
        text = f"{text}\n\nМесто проблемы: {notice.location}"
    due = None
    if notice.due:
        try:
            due = parse_due(notice.due)
        except ValueError:
            due = None
    attachments = [
        Attachment(
            RAW_KIND, f"kept:{raw_key(row)}#0", texts.POS_MAIL_RAW_NAME.format(number=notice.number or "?")
        )
    ]
    attachments += [
        Attachment(
            UNFETCHED,
            "",
            texts.POS_MAIL_ATTACHMENT_CUT.format(name=c.name, size=_mb(c.size), limit=_mb(limit)),
        )
        for c in cuts
    ]
    return PosMail(
        key=row.key, number=notice.number, category=notice.category, received=notice.received, text=text,
        author=author, subject=notice.subject, sender=notice.sender, sent_at=notice.sent_at,
        raw_text=notice.body, saved_at=row.received_at or clock.now(), problems=notice.problems,
        attachments=tuple(attachments), due=due,
    )  # fmt: skip


def raw_key(row: InboxRow) -> str:
    """Where a mail's raw message is kept: its own key, so two mails with one ПОС number keep both."""
    return f"{CHANNEL}:{hashlib.sha256(row.key.encode()).hexdigest()[:32]}"


def _repeat(result: PosMailResult) -> bool:
    return any(n.kind == POS_MAIL_REPEAT for n in result.notices)


def mail_handler(
    services: PosMailUseCases,
    repo: FilesRepository,
    clock: Clock,
    *,
    patterns: LabelPatterns,
    categories: Mapping[str, str],
    tz: tzinfo,
    max_attachment_bytes: int,
) -> Callable[[InboxRow], Awaitable[PosMailResult | None]]:
    async def handle(row: InboxRow) -> PosMailResult | None:
        try:
            data = base64.b64decode(str(row.raw.get("mail", "")), validate=True)
        except ValueError:
            log.error("ПОС-почта: строка входящих %s испорчена (не base64); пропущена", row.id)
            return None
        cuts = [Cut(str(c.get("name", "")), str(c.get("mime", "")), int(c.get("size", 0)))
                for c in row.raw.get("cuts", []) if isinstance(c, dict)]  # fmt: skip
        notice = parse_mail(data, patterns, tz)
        now = clock.now()
        async with repo.transaction() as tx:  # kept first: whatever the outcome, the mail is there for audit
            await tx.save_channel_files([ChannelFile(
                raw_key(row), 0, RAW_KIND, texts.POS_MAIL_RAW_NAME.format(number=notice.number or "?"),
                "message/rfc822", len(data), hashlib.sha256(data).hexdigest(), data, None, now,
            )])  # fmt: skip
        result = await services.take_in_pos_mail(as_pos_mail(notice, row, clock, cuts, max_attachment_bytes),
                                                 categories)  # fmt: skip
        if result.outcome is None:
            log.warning("ПОС-почта: письмо «%.60s» не разобрано (%s): отправлено куратору ПОС", notice.subject,
                        "; ".join(notice.problems) or "отказ при регистрации")  # fmt: skip
        elif result.outcome.created:
            log.info(
                "ПОС-почта: сообщение ПОС № %s зарегистрировано: № %s", notice.number, result.outcome.case.id
            )
        else:
            log.info("ПОС-почта: сообщение ПОС № %s уже зарегистрировано (№ %s)%s", notice.number,
                     result.outcome.case.id, ", текст другой: куратору ПОС предложен повтор" if _repeat(result) else "")  # fmt: skip
        return result

    return handle
