"""A network item's photos and documents, fetched when the item is taken in and kept in `channel_files`.

VK signs its file URLs and they expire, so waiting for an operator to open them is too late. The fetch runs in
the worker that takes the saved inbox row in, before the intake use case, and outside every database
transaction: a download may take up to its timeout, and holding a transaction (SQLite's one writer) that long
would stall every other write; running it in the reader instead would hold back the batch's save and its
cursor (and the Callback API's «ok», which VK wants within milliseconds). Each file is capped in size; one
that cannot be fetched is kept as an error row, so the card says so and the case goes on. A retried row finds
the item's files already kept and fetches nothing again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime
from typing import Protocol

import aiohttp

from storage.repository import ChannelFile
from views.cards import UNFETCHED  # a file not fetched: its name is the reason (the card shows it)
from workflow.model import Attachment, ChannelItem, ItemKind
from workflow.ports import Clock

log = logging.getLogger(__name__)

FETCHED_KINDS = frozenset({"photo", "document"})
MAX_FILES = 10  # files fetched an item (VK allows 10 attachments a comment)


class FilesTransaction(Protocol):
    async def save_channel_files(self, files: Sequence[ChannelFile]) -> int: ...

    async def channel_files(self, item_key: str) -> list[ChannelFile]: ...


class FilesRepository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[FilesTransaction]: ...


# A kept file's reference: the item's key and the attachment's position (delivery reads the bytes by it).
KEPT_PREFIX = "kept:"


def item_key(item: ChannelItem) -> str:
    return f"{item.network.value}:{item.key}"


def with_kept(item: ChannelItem, files: Sequence[ChannelFile]) -> ChannelItem:
    """The item with its fetched files referred to where they are kept (not by the URL that expires), and the
    ones that could not be fetched as their reason."""
    by_position = {f.position: f for f in files}
    attachments = []
    for pos, attachment in enumerate(item.attachments):
        kept = by_position.get(pos)
        if kept is None:
            attachments.append(attachment)
        elif kept.data is None:
            attachments.append(Attachment(UNFETCHED, "", kept.error or ""))
        else:
            attachments.append(Attachment(kept.kind, f"{KEPT_PREFIX}{kept.item_key}#{pos}", kept.name))
    return replace(item, attachments=tuple(attachments))


class FileFetcher:
    def __init__(self, repo: FilesRepository, clock: Clock, *, max_bytes: int, timeout: float) -> None:
        self.repo = repo
        self.clock = clock
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def keep(self, item: ChannelItem) -> list[ChannelFile]:
        """Fetch and keep the item's files (once); the item's files as kept."""
        wanted = [(pos, a) for pos, a in enumerate(item.attachments) if a.kind in FETCHED_KINDS and a.ref][
            :MAX_FILES
        ]
        if not wanted or item.kind is ItemKind.DELETE:
            return []
        key = item_key(item)
        async with self.repo.transaction() as tx:
            kept = await tx.channel_files(key)
        have = {f.position for f in kept}
        missing = [(pos, a) for pos, a in wanted if pos not in have]
        if not missing:
            return kept
        fetched: list[ChannelFile] = []
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for pos, attachment in missing:
                name = attachment.name or _name_of(attachment.kind, pos)
                data, mime, error = await self._fetch(http, attachment.ref)
                now: datetime = self.clock.now()
                if error is not None:
                    log.warning("%s: вложение %d не получено: %s", key, pos + 1, error)
                fetched.append(
                    ChannelFile(key, pos, attachment.kind, name[:200], mime, len(data or b""),
                                hashlib.sha256(data).hexdigest() if data is not None else "", data, error, now)
                )  # fmt: skip
        async with self.repo.transaction() as tx:
            await tx.save_channel_files(fetched)
            return await tx.channel_files(key)

    def _too_big(self) -> str:
        return f"файл больше {_mb(self.max_bytes)} МБ"

    async def _fetch(self, http: aiohttp.ClientSession, url: str) -> tuple[bytes | None, str, str | None]:
        """The bytes and the MIME type, or None and a Russian reason."""
        if not url.startswith(("https://", "http://")):
            return None, "", "неверная ссылка"
        try:
            async with http.get(url) as response:
                if response.status != 200:
                    return None, "", f"ВКонтакте ответил {response.status} (ссылка устарела?)"
                declared = response.content_length
                if declared is not None and declared > self.max_bytes:
                    return None, "", self._too_big()
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > self.max_bytes:
                        return None, "", self._too_big()
                mime = response.content_type or "application/octet-stream"
                return bytes(body), mime, None
        except TimeoutError:
            return None, "", f"нет ответа за {self.timeout:g} с"
        except aiohttp.ClientError as exc:
            return None, "", f"ошибка связи: {type(exc).__name__}"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:g}".replace(".", ",")


def _name_of(kind: str, position: int) -> str:
    return f"photo{position + 1}.jpg" if kind == "photo" else f"file{position + 1}"
