"""A loopback IMAP4rev1 server: LOGIN, SELECT/EXAMINE, UID SEARCH, UID FETCH, UID STORE, NOOP, LOGOUT.

Enough of RFC 3501 for Otklik's ПОС mailbox reader and the real aioimaplib client, with the behaviours a
reader must survive: `UID SEARCH UID n:*` answers the last message even when n is past it (RFC 3501 §6.4.8,
"n:*" always includes the largest UID), UIDVALIDITY can change (the mailbox rebuilt: every UID new), a wrong
password is `NO`, an unknown folder is `NO`. Mails are added through the Python API (`add_mail`); what the
client did (flags, commands) is readable there too. It imports nothing of Otklik's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field

CRLF = b"\r\n"
_TOKEN = re.compile(rb'\s*(?:"((?:[^"\\]|\\.)*)"|(\((?:[^()]|\([^()]*\))*\))|([^\s()"]+))')


@dataclass
class Mail:
    uid: int
    data: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class Mailbox:
    name: str
    uidvalidity: int = 1
    next_uid: int = 1
    mails: list[Mail] = field(default_factory=list)

    def uids(self) -> list[int]:
        return [m.uid for m in self.mails]


def _tokens(line: bytes) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(line):
        m = _TOKEN.match(line, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        if m.group(1) is not None:
            out.append(re.sub(rb"\\(.)", rb"\1", m.group(1)))
        else:
            out.append(m.group(2) or m.group(3))
    return out


def _uid_set(spec: str, uids: list[int]) -> list[int]:
    """The UIDs of `uids` a sequence set names ("5", "1:3", "7:*", "1,4,9"); `*` is the largest UID, and a
    range is unordered ("9:*" with the largest 7 is "7:9")."""
    if not uids:
        return []
    top = max(uids)
    wanted: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition(":")
        a = top if low == "*" else int(low)
        b = a if not high else (top if high == "*" else int(high))
        lo, hi = min(a, b), max(a, b)
        wanted.update(u for u in uids if lo <= u <= hi)
    return sorted(wanted)


class ImapEmulator:
    """One account (`user`, `password`) with folders; `start()` listens on 127.0.0.1 and returns the port."""

    def __init__(self, user: str = "pos@example.ru", password: str = "secret", folders: tuple[str, ...] = ("INBOX",)) -> None:  # fmt: skip
        self.user = user
        self.password = password
        self.folders: dict[str, Mailbox] = {name: Mailbox(name) for name in folders}
        self.commands: list[str] = []  # every command line received (the password masked)
        self.logins = 0
        self.fail_fetch = False  # UID FETCH answers NO (a server in trouble)
        self.drop_after_fetch = False  # the connection is cut right after a UID FETCH answer
        self.refuse_store = False  # UID STORE answers NO (a read-only folder, a quota)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    # --- Python API ---------------------------------------------------------------------------------------

    def add_mail(self, data: bytes, folder: str = "INBOX", *, seen: bool = False) -> int:
        box = self.folders[folder]
        mail = Mail(box.next_uid, data, {"\\Seen"} if seen else set())
        box.next_uid += 1
        box.mails.append(mail)
        return mail.uid

    def rebuild(self, folder: str = "INBOX") -> None:
        """The server rebuilt the folder: a new UIDVALIDITY, every mail renumbered from 1 and its flags kept."""
        box = self.folders[folder]
        box.uidvalidity += 1
        for n, mail in enumerate(box.mails, start=1):
            mail.uid = n
        box.next_uid = len(box.mails) + 1

    def seen(self, folder: str = "INBOX") -> list[int]:
        return [m.uid for m in self.folders[folder].mails if "\\Seen" in m.flags]

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    # --- the protocol -------------------------------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state: dict[str, object] = {"auth": False, "box": None}
        try:
            writer.write(b"* OK [CAPABILITY IMAP4rev1] Otklik IMAP emulator ready" + CRLF)
            await writer.drain()
            while not reader.at_eof():
                line = await reader.readline()
                if not line:
                    break
                line = line.rstrip(b"\r\n")
                if not line:
                    continue
                keep = await self._command(line, state, writer)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _command(self, line: bytes, state: dict[str, object], writer: asyncio.StreamWriter) -> bool:
        parts = _tokens(line)
        if len(parts) < 2:
            writer.write(b"* BAD malformed command" + CRLF)
            return True
        tag, name, args = parts[0], parts[1].decode().upper(), parts[2:]
        self.commands.append(name if name != "LOGIN" else "LOGIN *")

        def done(status: str, text: str) -> None:
            writer.write(tag + f" {status} {text}".encode() + CRLF)

        if name == "CAPABILITY":
            writer.write(b"* CAPABILITY IMAP4rev1 UIDPLUS" + CRLF)
            done("OK", "CAPABILITY completed")
        elif name == "NOOP":
            done("OK", "NOOP completed")
        elif name == "LOGOUT":
            writer.write(b"* BYE logging out" + CRLF)
            done("OK", "LOGOUT completed")
            return False
        elif name == "LOGIN":
            if len(args) == 2 and args[0].decode() == self.user and args[1].decode() == self.password:
                state["auth"] = True
                self.logins += 1
                done("OK", "[CAPABILITY IMAP4rev1 UIDPLUS] LOGIN completed")
            else:
                done("NO", "[AUTHENTICATIONFAILED] Invalid credentials")
        elif not state["auth"]:
            done("BAD", "not authenticated")
        elif name in ("SELECT", "EXAMINE"):
            box = self.folders.get(args[0].decode()) if args else None
            if box is None:
                state["box"] = None
                done("NO", "[NONEXISTENT] no such mailbox")
            else:
                state["box"] = box.name
                unseen = sum(1 for m in box.mails if "\\Seen" not in m.flags)
                writer.write(f"* {len(box.mails)} EXISTS\r\n* 0 RECENT\r\n".encode())
                writer.write(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)" + CRLF)
                writer.write(f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid\r\n".encode())
                writer.write(f"* OK [UIDNEXT {box.next_uid}] predicted next UID\r\n".encode())
                writer.write(f"* OK [UNSEEN {unseen}] unseen\r\n".encode())
                done("OK", f"[{'READ-ONLY' if name == 'EXAMINE' else 'READ-WRITE'}] {name} completed")
        elif name == "UID" and args:
            box = self.folders.get(str(state["box"])) if state["box"] else None
            if box is None:
                done("BAD", "no mailbox selected")
                return True
            sub, rest = args[0].decode().upper(), [a.decode("utf-8", "replace") for a in args[1:]]
            try:
                return self._uid(sub, rest, box, writer, done)
            except (ValueError, IndexError):
                done("BAD", f"UID {sub} arguments invalid")
        else:
            done("BAD", f"{name} not supported")
        return True

    def _uid(
        self, sub: str, args: list[str], box: Mailbox, writer: asyncio.StreamWriter, done: object
    ) -> bool:
        assert callable(done)
        uids = box.uids()
        if sub == "SEARCH":
            if args and args[0].upper() == "CHARSET":
                args = args[2:]
            found = uids
            i = 0
            while i < len(args):
                key = args[i].upper()
                if key == "UID":
                    found = [u for u in found if u in _uid_set(args[i + 1], uids)]
                    i += 2
                elif key == "UNSEEN":
                    found = [m.uid for m in box.mails if m.uid in found and "\\Seen" not in m.flags]
                    i += 1
                elif key == "ALL":
                    i += 1
                else:
                    raise ValueError(key)
            writer.write(("* SEARCH" + "".join(f" {u}" for u in found)).encode() + CRLF)
            done("OK", "UID SEARCH completed")
        elif sub == "FETCH":
            if self.fail_fetch:
                done("NO", "[UNAVAILABLE] try later")
                return True
            items = args[1].upper()
            for seq, mail in enumerate(box.mails, start=1):
                if mail.uid not in _uid_set(args[0], uids):
                    continue
                fields = [f"UID {mail.uid}"]
                if "FLAGS" in items.replace("RFC822", ""):
                    fields.append(f"FLAGS ({' '.join(sorted(mail.flags))})")
                if "RFC822.SIZE" in items:
                    fields.append(f"RFC822.SIZE {len(mail.data)}")
                body = "BODY.PEEK[]" in items or "BODY[]" in items or re.search(r"RFC822(?![.])", items)
                head = f"* {seq} FETCH (" + " ".join(fields)
                if body:
                    label = "RFC822" if re.search(r"RFC822(?![.])", items) else "BODY[]"
                    writer.write(
                        f"{head} {label} {{{len(mail.data)}}}\r\n".encode() + mail.data + b")" + CRLF
                    )
                    if "BODY.PEEK[]" not in items:
                        mail.flags.add("\\Seen")  # BODY[] and RFC822 set \Seen (RFC 3501 §6.4.5)
                else:
                    writer.write(head.encode() + b")" + CRLF)
            done("OK", "UID FETCH completed")
            if self.drop_after_fetch:
                return False
        elif sub == "STORE":
            if self.refuse_store:
                done("NO", "[READ-ONLY] flags cannot be changed")
                return True
            action, flags = args[1].upper(), set(args[2].strip("()").split())
            for seq, mail in enumerate(box.mails, start=1):
                if mail.uid not in _uid_set(args[0], uids):
                    continue
                if action.startswith("+FLAGS"):
                    mail.flags |= flags
                elif action.startswith("-FLAGS"):
                    mail.flags -= flags
                elif action.startswith("FLAGS"):
                    mail.flags = set(flags)
                else:
                    raise ValueError(action)
                if not action.endswith(".SILENT"):
                    writer.write(
                        f"* {seq} FETCH (UID {mail.uid} FLAGS ({' '.join(sorted(mail.flags))}))\r\n".encode()
                    )
            done("OK", "UID STORE completed")
        else:
            done("BAD", f"UID {sub} not supported")
        return True
