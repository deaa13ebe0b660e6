"""The ПОС notification mailbox read over IMAP (aioimaplib), new mails only (issue 12 item 3).

Which mails are new is a UID cursor, «<UIDVALIDITY>:<last UID>», saved with each mail in the inbox (the
caller's one transaction, storage/inbox.py): a mail is fetched, saved, and only then flagged \\Seen, so a
process killed in between fetches it again next time and the inbox key (its Message-ID) makes it the same row.
UIDs mean something only within one UIDVALIDITY: when the server reports another one (the folder was rebuilt),
every mail in the folder is looked at again, and the Message-ID keys keep the ones already taken from
becoming new rows. The first read of a mailbox (no cursor) takes the unseen mails: a district that connects a
mailbox with years of read notifications does not get them all as new cases.

`BODY.PEEK[]` reads a mail without setting \\Seen (RFC 3501 §6.4.5): only the explicit STORE after the save
does. `UID SEARCH UID n:*` always answers the largest UID even when it is below n (RFC 3501 "n:*"), so the UIDs
are filtered against the cursor here. Every failure of the server or the network is a `MailboxError` with a
Russian reason; nothing is flagged or advanced then.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aioimaplib

log = logging.getLogger(__name__)

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY ([0-9]+)\]")
_FETCH_UID = re.compile(rb"UID ([0-9]+)")


class MailboxError(Exception):
    """The mailbox could not be read: the reason, one Russian line."""


class MailboxRefused(MailboxError):
    """The server answered, with NO or BAD: the connection itself is fine."""


@dataclass(frozen=True)
class MailboxConfig:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    folder: str = "INBOX"
    timeout: float = 30.0


@dataclass(frozen=True)
class MailCursor:
    uidvalidity: int
    last_uid: int

    def __str__(self) -> str:
        return f"{self.uidvalidity}:{self.last_uid}"

    @classmethod
    def parse(cls, value: str | None) -> MailCursor | None:
        """The saved cursor; None for none or one that is not ours (read as a first start)."""
        if not value:
            return None
        validity, _, uid = value.partition(":")
        if not (validity.isdigit() and uid.isdigit()):
            return None
        return cls(int(validity), int(uid))


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    data: bytes
    cursor: MailCursor  # the cursor once this mail is saved


class MailSession:
    """One logged-in connection with the folder selected."""

    def __init__(
        self,
        client: aioimaplib.IMAP4,
        config: MailboxConfig,
        lost: asyncio.Future[None],
        uidvalidity: int = 0,
        exists: int = 0,
    ) -> None:
        self.client = client
        self.lost = lost  # done once the server closed the connection
        self.config = config
        self.uidvalidity = uidvalidity
        self.exists = exists

    async def _call(self, what: str, command: Awaitable[aioimaplib.Response]) -> aioimaplib.Response:
        # aioimaplib notices a closed connection only through its callback: a command sent after it would
        # wait out the whole timeout, so the loss is raced against the answer.
        task = asyncio.ensure_future(command)
        done, _ = await asyncio.wait({task, self.lost}, timeout=self.config.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if task not in done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if self.lost.done():
                raise MailboxError(f"соединение с почтовым сервером потеряно ({what})")
            raise MailboxError(f"почтовый сервер не ответил на {what} за {self.config.timeout:g} с")
        try:
            response: aioimaplib.Response = task.result()
        except (aioimaplib.AioImapException, OSError) as exc:
            raise MailboxError(f"ошибка связи с почтовым сервером ({what}): {type(exc).__name__}") from None
        if response.result != "OK":
            raise MailboxRefused(f"почтовый сервер отказал в {what}: {_line(response)}")
        return response

    async def new_uids(self, cursor: MailCursor | None) -> list[int]:
        """The UIDs to read after `cursor`, ascending: above the cursor's UID, or, with no cursor, the unseen
        ones, or, after a UIDVALIDITY change, all of them."""
        if cursor is None:
            criteria: tuple[str, ...] = ("UNSEEN",)
        elif cursor.uidvalidity != self.uidvalidity:
            log.warning("ПОС-почта: UIDVALIDITY папки %s сменилась (%s → %s): письма просматриваются заново",
                        self.config.folder, cursor.uidvalidity, self.uidvalidity)  # fmt: skip
            criteria = ("ALL",)
        else:
            criteria = ("UID", f"{cursor.last_uid + 1}:*")
        response = await self._call("поиске писем", self.client.uid_search(*criteria, charset=None))
        uids: set[int] = set()
        for line in response.lines[:-1]:
            uids.update(int(t) for t in bytes(line).split() if t.isdigit())
        if cursor is not None and cursor.uidvalidity == self.uidvalidity:
            uids = {u for u in uids if u > cursor.last_uid}
        return sorted(uids)

    async def fetch(self, uid: int) -> bytes | None:
        """The whole mail, without setting \\Seen; None when it is gone (expunged meanwhile)."""
        response = await self._call(
            "получении письма", self.client.uid("fetch", str(uid), "(UID BODY.PEEK[])")
        )
        lines = response.lines
        for i, line in enumerate(lines[:-1]):
            if isinstance(line, bytes) and (m := _FETCH_UID.search(line)) and int(m.group(1)) == uid:
                nxt = lines[i + 1] if i + 1 < len(lines) else None
                if isinstance(nxt, bytearray):
                    return bytes(nxt)
        return None

    async def mark_seen(self, uid: int) -> None:
        await self._call("отметке письма", self.client.uid("store", str(uid), "+FLAGS.SILENT", "(\\Seen)"))


def _line(response: aioimaplib.Response) -> str:
    last = response.lines[-1] if response.lines else b""
    text = bytes(last).decode("utf-8", "replace") if isinstance(last, (bytes, bytearray)) else str(last)
    return text.strip()[:200] or response.result


class ImapMailbox:
    def __init__(self, config: MailboxConfig) -> None:
        self.config = config

    @asynccontextmanager
    async def session(self) -> AsyncIterator[MailSession]:
        """Connect, log in and select the folder; log out at the end (a failed logout is no failure)."""
        cfg = self.config
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_lost(exc: Exception | None) -> None:
            if not lost.done():
                lost.set_result(None)

        try:
            if cfg.tls:
                client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                    host=cfg.host,
                    port=cfg.port,
                    timeout=cfg.timeout,
                    ssl_context=ssl.create_default_context(),
                    conn_lost_cb=on_lost,
                )
            else:
                client = aioimaplib.IMAP4(
                    host=cfg.host, port=cfg.port, timeout=cfg.timeout, conn_lost_cb=on_lost
                )
            await client.wait_hello_from_server()
        except TimeoutError:
            raise MailboxError(
                f"почтовый сервер {cfg.host}:{cfg.port} не ответил за {cfg.timeout:g} с"
            ) from None
        except (aioimaplib.AioImapException, OSError) as exc:
            raise MailboxError(
                f"нет соединения с почтовым сервером {cfg.host}:{cfg.port}: {type(exc).__name__}"
            ) from None
        try:
            session = MailSession(client, cfg, lost)
            try:
                await session._call("входе", client.login(cfg.user, cfg.password))
            except MailboxError:
                raise MailboxError(
                    f"почтовый сервер не принял вход пользователя {cfg.user} (пароль?)"
                ) from None
            try:
                selected = await session._call("выборе папки", client.select(cfg.folder))
            except MailboxError:
                raise MailboxError(f"папки «{cfg.folder}» нет в почтовом ящике {cfg.user}") from None
            validity, exists = 0, 0
            for line in selected.lines:
                raw = bytes(line) if isinstance(line, (bytes, bytearray)) else b""
                if m := _UIDVALIDITY.search(raw):
                    validity = int(m.group(1))
                elif raw.endswith(b" EXISTS") and raw.split()[0].isdigit():
                    exists = int(raw.split()[0])
            session.uidvalidity, session.exists = validity, exists
            yield session
        finally:
            try:
                if not lost.done():
                    await asyncio.wait_for(client.logout(), cfg.timeout)
            except Exception as exc:  # the connection may be gone already; the work is done or failed anyway
                log.debug("ПОС-почта: выход не удался: %s", type(exc).__name__)

    async def check(self) -> str:
        """For `otklik check`: log in and select the folder; the line to show. MailboxError when it fails."""
        async with self.session() as s:
            return f"вход выполнен, папка «{self.config.folder}» есть, писем в ней: {s.exists}"
