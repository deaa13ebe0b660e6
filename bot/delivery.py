"""Delivery: case cards kept up to date in every chat that works on a case, and the outbox sent to people.

Cards are edited in place (one card message per chat per case, remembered in storage). Notifications are read
from the outbox, resolved to chats through the Directory, and recorded per recipient chat as they go out, so a
crash in the middle of a notification resends it only to the chats that have not got it. Telegram gives no
idempotency key, so the one window left is between Telegram's answer and our record of it: at most one
duplicate to one chat, never a loss.

A card is recorded as "being posted" before its sendMessage and recorded as posted in the transaction right
after the answer. A crash between the two leaves the "being posted" row: the card is posted once more (it may
have reached Telegram, which gives no way to find it: at most one duplicate per chat per crash). A recorded card
is edited; one deleted in Telegram ("message to edit not found") is posted anew. An edit that would put the text
and keyboard the message is known to show (this process's last accepted edit or post of it) is not sent.

Cards are reposted on the normal path only where a notice goes, so `repair` walks every open case (a page at a
time) and posts the cards missing in the chats that should hold them (Directory.card_chats, the rule the normal
path uses) and edits the stale ones. It runs at start, after a database error and after a send failure that
outlasted the sender's retries, in the worker `wake` runs (a step at a time between the changes it is woken
for), and refreshes each case under the case's card lock: never alongside a post of the same card.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiogram.types import Message
from sqlalchemy.exc import SQLAlchemyError

from bot.channel_files import KEPT_PREFIX
from bot.directory import Directory
from bot.sender import MEDIA_KINDS, Media, Outgoing, SendFailed, SendResult, TelegramSender
from bot.turnstile import Turnstile
from storage.repository import ChannelFile
from views.cards import render_card, render_history, render_notification
from views.digest import render_digest, render_morning
from views.privacy import NO_MASKING, Privacy
from views.texts import WEEKLY_REPORT_UNAVAILABLE
from workflow.digest import DIGEST, MORNING
from workflow.lifecycle import Action, NoticeKind
from workflow.model import Case, Role
from workflow.ports import DELIVERY_FAILED, Clock, Notification, OutboxItem, Reading, StorageUnavailable
from workflow.quiet import in_working_day, silent
from workflow.rules import Rules
from workflow.services.queries import CardView, read_card
from workflow.weekly import WEEKLY_REPORT

if TYPE_CHECKING:
    from datetime import datetime

    from workflow.calendar import WorkingCalendar

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A drain's lease on the outbox rows it claims, from the claim: long enough for a batch of sends through flood
# waits and retries. A lease that ran out before its row was sent lets another process send it too.
CLAIM_LEASE = timedelta(minutes=5)
# Rows claimed at a time: a small batch keeps the last row of it well within the lease.
CLAIM_BATCH = 20
# Cases whose cards are refreshed at once: their reads and records overlap, their posts and edits go in the order
# the refreshes began (`_post_order`), which is the order the cases were registered in; operators read the intake
# chat in that order (tests/e2e/test_rate_limits.py checks it). Whichever case's reads ended first used to post
# first, which is why this was 1 until the posts were ordered.
CARD_REFRESHES = 8
# Open cases a repair reads at a time (two indexed queries a page): memory stays flat however many there are.
REPAIR_PAGE = 200
# Card messages whose last text and keyboard this process knows (Delivery._shown): an LRU, so memory stays
# flat however many cards are open; one pushed out costs one edit Telegram may find not modified.
SHOWN_CARDS = 4096
# What makes a repair worth its walk: the database failed (a card refresh or its record may be lost).
_STORAGE_ERRORS = (StorageUnavailable, SQLAlchemyError, OSError)
# A chat Telegram refuses (not found, bot kicked or blocked) is reported to the office head at most this often.
FAILURE_REPORT_EVERY = timedelta(hours=1)
# Notices that say nothing the card does not: not sent in a chat whose card was posted for the same change
# (the card itself is the notice). A routing with an order of officials says more (the unit's place in it).
_SAID_BY_THE_CARD = frozenset(
    {
        NoticeKind.REGISTERED,
        NoticeKind.ROUTING_PROPOSED,
        NoticeKind.ROUTED,
        NoticeKind.DRAFT_SUBMITTED,
        NoticeKind.APPROVED,
    }
)


# The weekly report's text and files for one of its outbox rows (bot/reports.py WeeklyReportFiles).
WeeklyReport = Callable[[Notification], Awaitable[tuple[str, tuple[Media, ...]]]]


class DeliveryTransaction(Reading, Protocol):
    """What delivery keeps in the database besides the domain's own: outbox claims, cards, deliveries."""

    async def claim_outbox(self, now: datetime, owner: str, lease: timedelta, limit: int) -> list[OutboxItem]:
        """Take up to `limit` undelivered rows, oldest first, whose claim is free or expired at `now`.

        One atomic write: each row taken is claimed by `owner` until `now + lease`, and no other transaction
        takes it before that (concurrent claims get disjoint rows; where the database has row locks, rows
        another claim holds are skipped, not waited for). The rows come back by id.
        """
        ...

    async def release_outbox(self, outbox_id: int, owner: str) -> None:
        """Give up `owner`'s claim on the row (a failed delivery: the next drain retries it at once)."""
        ...

    async def release_foreign_claims(self, owner: str) -> int:
        """Free every claim on an undelivered row not held by `owner`; how many. Start-up only (see `start`)."""
        ...

    async def mark_delivered(self, outbox_id: int, at: datetime) -> None:
        """The row is done (its claim goes with it); it never comes back. The first delivery instant stays."""
        ...

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        """Count a failed attempt; the claim stays (`release_outbox` gives it up once the fan-out is over)."""
        ...

    async def record_delivery(
        self, outbox_id: int, chat_id: int, message_id: int | None, at: datetime
    ) -> bool:
        """Record that the notification reached `chat_id`; False if that chat was already recorded."""
        ...

    async def deliveries(self, outbox_id: int) -> set[int]:
        """Chat ids the notification was already delivered to."""
        ...

    async def begin_card_post(self, case_id: int, chat_id: int, at: datetime) -> None:
        """Record that the case's card is being posted in the chat (before the sendMessage)."""
        ...

    async def set_card(
        self, case_id: int, chat_id: int, message_id: int, shown_version: int | None = None
    ) -> None:
        """Remember the case's card message in a chat (one per chat: a new one replaces the old), showing
        `shown_version` of the case; the chat's "being posted" record goes."""
        ...

    async def end_card_post(self, case_id: int, chat_id: int) -> None:
        """Drop the "being posted" record: Telegram refused the post, nothing was posted."""
        ...

    async def card_shown(self, case_id: int, chat_id: int, message_id: int, version: int) -> None:
        """The card message now shows this version of the case (an edit went through)."""
        ...

    async def card_posts(self, case_id: int) -> set[int]:
        """Chats where the case's card is recorded as being posted."""
        ...

    async def unfinished_card_posts(self, after: tuple[int, int] | None, limit: int) -> list[tuple[int, int]]:
        """(case id, chat id) of the "being posted" records after `after`, by that pair; a page of `limit`."""
        ...

    async def open_cases_after(self, after_id: int, limit: int) -> list[Case]:
        """Open cases (an open term) with an id above `after_id`, by id; a page of `limit`."""
        ...

    async def card_versions(self, case_ids: Sequence[int]) -> dict[int, dict[int, int | None]]:
        """For each case: chat id -> the case version its card shows (None: not known) for cards recorded."""
        ...

    async def cards(self, case_id: int) -> dict[int, int]:
        """The case's card messages: chat id -> message id."""
        ...

    async def posted_versions(self, case_id: int) -> dict[int, int | None]:
        """The case's cards: chat id -> the case version the message was posted at (None: not known)."""
        ...

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        """Store notifications in the outbox, skipping known dedup keys (a failed delivery's report)."""
        ...

    async def case_for_card(self, chat_id: int, message_id: int) -> int | None:
        """The case whose card is this message (a reply to a card names its case)."""
        ...

    async def remember_messages(
        self, case_id: int, chat_id: int, message_ids: Sequence[int], kind: str, at: datetime
    ) -> None:
        """Record that these bot messages in the chat are about the case (a notice, a prompt, a copy of a card)."""
        ...

    async def case_for_message(self, chat_id: int, message_id: int) -> int | None:
        """The case a bot message is about: its card, or any other message recorded by `remember_messages`."""
        ...


KeptFiles = Callable[[str], Awaitable[Sequence[ChannelFile]]]


class DeliveryRepository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[DeliveryTransaction]: ...

    # One writing transaction run as a whole (SQLite: on the file's writer, group-committed with the others):
    # the hot bookkeeping of a card or a notice, whose body awaits nothing but its transaction. The body is
    # given the repository's own transaction, which is a DeliveryTransaction too (the bodies here say so).
    # `urgent`: a window is held open until it ends (SQLite: it goes before the writes waiting).
    async def write(self, body: Callable[[Any], Awaitable[_T]], *, urgent: bool = False) -> _T: ...

    def reading(self, *, inline: bool = False) -> AbstractAsyncContextManager[DeliveryTransaction]:
        """`inline`: a read of a few rows by key, on the event loop's thread where storage allows (SQLite)."""
        ...


class Delivery:
    """Also the use cases' Notifier: `wake` after a commit refreshes the cards and sends the outbox in the
    background, so the presser's answer never waits for Telegram."""

    def __init__(
        self,
        *,
        repo: DeliveryRepository,
        sender: TelegramSender,
        directory: Directory,
        calendar: WorkingCalendar,
        rules: Rules,
        clock: Clock,
        units: Mapping[str, str],
        privacy: Privacy = NO_MASKING,
    ) -> None:
        self.repo = repo
        # What the staff messenger may show of citizens' personal data (issue 15, views/privacy.py).
        self.privacy = privacy
        self.sender = sender
        self.directory = directory
        self.calendar = calendar
        self.rules = rules
        self.clock = clock
        self.units = units
        # One drain and one card refresh per case at a time in this process: an edit racing another edit of
        # the same card could leave the older text on top.
        self._drain_lock = asyncio.Lock()
        # Who holds the outbox rows this Delivery claims: unique per instance, so per process.
        self._owner = f"delivery-{uuid.uuid4()}"
        self._card_locks: dict[int, asyncio.Lock] = {}
        # The order in which refreshes that asked for it (the worker's, the drain's) put their cards in the chats.
        self._post_order = Turnstile()
        self._changed: dict[int, None] = {}  # cases whose cards wait for a refresh, in order
        self._drain_wanted = False  # woken since the worker's drain began
        self._worker: asyncio.Task[None] | None = None
        # Where a network item's kept files are read (bot/channel_files.py); None: no network connected.
        self.kept_files: KeptFiles | None = None
        # The weekly п.18 report's text and files, read when it is delivered (bot/reports.py); None: none.
        self.weekly_report: WeeklyReport | None = None
        # A repair is due (start, a database error, sends that failed for long and work again).
        self._repair_wanted = False
        # A send failed after all the sender's retries (about a minute of failures) since the last success.
        self._sends_failing = False
        # Chats Telegram refused, and when the office head was last told (FAILURE_REPORT_EVERY).
        self._failure_reported: dict[int, datetime] = {}
        # A failure report was queued during this drain: it goes out in the same drain.
        self._report_queued = False
        # (chat id, card message id) -> the fingerprint of the text and keyboard the message is known to show:
        # an edit that would put the same is not sent (Telegram answers «not modified», but the call still
        # takes a slot of the chat's limits). Kept only after Telegram took the edit or the post; at most
        # SHOWN_CARDS, the least recently used going first. None after a restart: the first refresh edits.
        self._shown: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        sender.on_foreign_edit(self._forget_shown)  # a handler redrawing a card's keyboard

    # --- start-up ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """At start: take over a dead process's outbox claims, send the outbox, then repair every card.

        Releasing every claim not this Delivery's own is safe only because one process works on a database at
        a time: the poller lock (bot/pollerlock.py, issue 8) refuses a second `otklik run` before delivery
        starts. Without that lock this would let two live processes send the same rows.
        """
        async with self.repo.transaction() as tx:
            released = await tx.release_foreign_claims(self._owner)
        if released:
            log.info("taken over %d outbox claims of a previous run", released)
        self._repair_wanted = True
        await self.drain()
        self._kick()

    # --- the one wake-up path after a commit ---------------------------------------------------------------

    async def wake(self, case_ids: Sequence[int], notifications: Sequence[Notification] = ()) -> None:
        """After a commit: refresh these cases' cards, then send the outbox, in the background (no waiting)."""
        self._changed.update(dict.fromkeys(case_ids))
        # A drain under way may have claimed its last rows before this commit: the worker drains once more.
        self._drain_wanted = True
        self._kick()

    def request_repair(self) -> None:
        """Have the worker repair every open case's cards (in the background, after the changed cases)."""
        self._repair_wanted = True
        self._kick()

    def _kick(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        repaired = False  # one repair per run of the worker: one that fails waits for the next wake or drain
        steps: AsyncIterator[int] | None = None  # the repair under way, a step per turn of the loop
        while True:
            woken = bool(self._changed) or self._drain_wanted
            self._drain_wanted = False
            if steps is None and self._repair_wanted and not repaired:
                repaired = True
                self._repair_wanted = False
                steps = self._repair_steps()
            if steps is not None:
                await self._refresh_changed()
                try:
                    await anext(steps)
                except StopAsyncIteration:
                    steps = None
                except Exception:
                    log.exception("repairing the cards failed; the next drain tries again")
                    steps = None
                    self._repair_wanted = True
            if steps is None or woken:  # a wake in the middle of a repair wants its notices now
                # The notices alongside the cards: a burst's cards do not wait behind the drain of its notices,
                # nor the notices behind its cards (a notice whose card is still being posted waits for that
                # post under the card's lock, in `_deliver`).
                await asyncio.gather(self._refresh_changed(), self._drain_logged())
            if (
                not self._changed
                and not self._drain_wanted
                and steps is None
                and not (self._repair_wanted and not repaired)
            ):
                return

    async def _refresh_changed(self) -> None:
        """Refresh the changed cases' cards, up to CARD_REFRESHES at a time, until none is left."""

        async def refresher() -> None:
            while self._changed:
                case_id = next(iter(self._changed))
                del self._changed[case_id]
                try:
                    await self.refresh_cards(case_id, in_order=True)
                except Exception as exc:  # the change is committed; the next refresh or a repair redoes it
                    log.exception("refreshing the cards of case %s failed", case_id)
                    self._repair_wanted |= isinstance(exc, _STORAGE_ERRORS)

        await asyncio.gather(*(refresher() for _ in range(min(CARD_REFRESHES, len(self._changed)))))

    async def _drain_logged(self) -> None:
        try:
            await self.drain()
        except Exception as exc:  # the rows stay pending; the scheduler's drain retries them
            log.exception("draining the outbox failed")
            self._repair_wanted |= isinstance(exc, _STORAGE_ERRORS)

    def busy(self) -> list[asyncio.Task[None]]:
        """The background work `wake` started and that is still running."""
        return [self._worker] if self._worker is not None and not self._worker.done() else []

    async def settle(self) -> None:
        """Wait until everything woken so far is refreshed and sent (tests, a stop)."""
        while running := self.busy():
            await asyncio.wait(running)

    def _card_lock(self, case_id: int) -> asyncio.Lock:
        return self._card_locks.setdefault(case_id, asyncio.Lock())

    async def refresh_cards(
        self, case_id: int, *, only_missing: Collection[int] | None = None, in_order: bool = False
    ) -> None:
        """Post the case's card where it is missing and edit it where it stands.

        `only_missing`: just post the card in those of these chats that should have it and do not.
        `in_order`: its posts and edits wait for those of every refresh that asked for order before it.
        """
        if not in_order:
            await self._refresh_cards(case_id, only_missing, None)
            return
        # The ticket is taken, and the card's lock asked for, with no suspension in between: tickets and lock
        # requests come in the same order, so a refresh waiting for its turn never holds a lock an earlier
        # ticket waits for.
        turn = self._post_order.take()
        try:
            await self._refresh_cards(case_id, only_missing, turn)
        finally:
            self._post_order.done(turn)

    async def _refresh_cards(self, case_id: int, only_missing: Collection[int] | None, turn: int | None) -> None:
        async with self._card_lock(case_id):
            # Everything is read under the lock: a post of this card in flight has recorded its message first.
            now = self.clock.now()
            async with self.repo.reading(inline=True) as tx:
                view = await read_card(tx, case_id)
                existing = await tx.cards(case_id)
                posting = await tx.card_posts(case_id)
            if view is None:
                return
            # A chat still "being posted" is a post a crash (or a failed send) cut short: post it once more,
            # even if the case has moved on from that chat.
            chats = list(dict.fromkeys([*self.directory.card_chats(view.case), *existing, *posting]))
            if only_missing is not None:
                chats = [c for c in chats if c in only_missing and c not in existing]
            # Every post is recorded as being posted before any call, in one transaction for all the chats.
            if posts := [chat_id for chat_id in chats if chat_id not in existing]:

                async def begin_posts(tx: DeliveryTransaction) -> None:
                    for chat_id in posts:
                        await tx.begin_card_post(case_id, chat_id, now)

                await self.repo.write(begin_posts)
            if turn is not None:
                await self._post_order.wait(turn)
            # The chats are independent: a card held back by one chat's flood limit must not hold back the
            # others (one item per chat, so each chat's order stays that of the refreshes: the turn above orders
            # the refreshes that asked for it, the case's lock the refreshes of one case).
            try:
                results = await asyncio.gather(
                    *(self._put_card(view, chat_id, existing.get(chat_id), now) for chat_id in chats),
                    return_exceptions=True,
                )
            finally:
                if turn is not None:
                    self._post_order.done(turn)  # the next refresh posts while this one records what it showed
            # The versions the edited cards show, in one transaction (a lost one only costs a repair an edit).
            edited = [(chat_id, r) for chat_id, r in zip(chats, results, strict=True) if isinstance(r, int)]
            if edited:
                version = view.case.version

                async def shown(tx: DeliveryTransaction) -> None:
                    for chat_id, message_id in edited:
                        await tx.card_shown(case_id, chat_id, message_id, version)

                await self.repo.write(shown)
            for failure in results:
                if isinstance(failure, BaseException):
                    raise failure

    async def _put_card(
        self, view: CardView, chat_id: int, message_id: int | None, now: datetime
    ) -> int | None:
        """Edit the chat's card (the message id, when the edit went through) or post it (recorded here)."""
        case_id = view.case.id
        roles, units = self.directory.roles_of_chat(chat_id)
        text, keyboard = render_card(
            view, roles, units, calendar=self.calendar, rules=self.rules, units=self.units, now=now,
            privacy=self.privacy, text_limit=self.sender.text_limit,
        )
        item = Outgoing(
            key=f"card:{case_id}:{chat_id}",
            chat_id=chat_id,
            text=text,
            reply_markup=keyboard,
            edit_message_id=message_id,
            # A new card rings as a notice does: not outside working hours (edits never ring).
            disable_notification=not in_working_day(now, self.calendar),
        )
        version = view.case.version
        if message_id is not None:
            shown = (chat_id, message_id)
            fingerprint = _fingerprint(item)
            if self._shown.get(shown) == fingerprint:
                self._shown.move_to_end(shown)
                return message_id  # the message shows exactly this already
            # Not known until Telegram answers: an edit that fails may or may not have gone through.
            self._shown.pop(shown, None)
            try:
                result = await self.sender.send(item)
            except SendFailed as exc:
                self._send_failed(exc)
                if not exc.permanent:
                    log.error("card %s in chat %s not refreshed: %s", case_id, chat_id, exc)
                    return None
                # "message to edit not found": the card was deleted in the chat. Post it afresh rather than
                # lose the chat (other refusals of an edit fail the post too, and are logged there).
                log.warning("card %s in chat %s cannot be edited (%s): posting it anew", case_id, chat_id,
                            exc.reason)  # fmt: skip
            else:
                self._send_worked()
                if result.chat_id == chat_id:  # (a group that became a supergroup: its card is posted anew)
                    self._remember_shown(shown, fingerprint)
                return message_id
            # Before the call, as refresh_cards does for the posts it plans.
            async with self.repo.transaction() as tx:
                await tx.begin_card_post(case_id, chat_id, now)
        media = await self._kept_media(view, chat_id)
        await self._post_card(replace(item, edit_message_id=None, media=media), case_id, version)
        return None

    async def _kept_media(self, view: CardView, chat_id: int) -> tuple[Media, ...]:
        """A network item's kept files, sent with its card when it is first posted in the intake chat (the
        operator sees the photo, not a count; its later edits keep the files where they are)."""
        message = view.message
        if self.kept_files is None or message is None or chat_id not in self.directory.chats_for(Role.OPERATOR):
            return ()
        wanted = {a.ref for a in message.attachments if a.ref.startswith(KEPT_PREFIX)}
        if not wanted:
            return ()
        key = next(iter(wanted))[len(KEPT_PREFIX) :].rsplit("#", 1)[0]
        files = await self.kept_files(key)
        return tuple(
            Media(f.kind, f"{KEPT_PREFIX}{f.item_key}#{f.position}", f.name, data=f.data)
            for f in files
            if f.data is not None and f.kind in MEDIA_KINDS
        )[:MEDIA_LIMIT]

    async def _post_card(self, item: Outgoing, case_id: int, version: int) -> None:
        """Post a card already recorded as being posted: a crash from that record until the one below leaves
        it, and the card is posted once more after the restart (Telegram gives no way to find out whether this
        post reached it)."""
        chat_id = item.chat_id

        async def record(message: Message) -> None:
            # Right after Telegram's answer, inside the sender's one-at-a-time window: the message recorded,
            # the "being posted" record gone (under the old id too, when a group became a supergroup).
            async def posted(tx: DeliveryTransaction) -> None:
                await tx.set_card(case_id, message.chat.id, message.message_id, version)
                if message.chat.id != chat_id:
                    await tx.end_card_post(case_id, chat_id)

            await self.repo.write(posted, urgent=True)  # the sender's window waits for it

        try:
            result = await self.sender.send(replace(item, recorded=record))
        except SendFailed as exc:
            self._send_failed(exc)
            log.error("card %s in chat %s not delivered: %s", case_id, chat_id, exc)
            if exc.permanent and not exc.sent_message_ids:
                # Refused: nothing is in the chat, so nothing to reconcile (a repair or refresh tries again).
                async with self.repo.transaction() as tx:
                    await tx.end_card_post(case_id, chat_id)
            if exc.permanent:
                await self._report_failure(chat_id, exc.reason, case_id)
            return
        self._send_worked()
        # The card message is the first one; it shows the text as an edit would put it only if it went whole.
        if result.message_ids and self.sender.fits(item):
            self._remember_shown((result.chat_id, result.message_ids[0]), _fingerprint(item))

    def _remember_shown(self, shown: tuple[int, int], fingerprint: bytes) -> None:
        self._shown[shown] = fingerprint
        self._shown.move_to_end(shown)
        while len(self._shown) > SHOWN_CARDS:
            self._shown.popitem(last=False)

    def _forget_shown(self, chat_id: int, message_id: int) -> None:
        self._shown.pop((chat_id, message_id), None)

    def _send_failed(self, exc: SendFailed) -> None:
        # A refusal (bot blocked, chat not found) says nothing about Telegram being reachable; a failure after
        # all the sender's retries means sends have been failing for about a minute.
        if not exc.permanent:
            self._sends_failing = True

    def _send_worked(self) -> None:
        if self._sends_failing:
            # Sends work again after failing for long: cards refused meanwhile are missing wherever no notice
            # goes, so the next run of the worker repairs them all.
            self._sends_failing = False
            self._repair_wanted = True

    # --- repair ----------------------------------------------------------------------------------------

    async def repair(self) -> int:
        """Post every missing card and edit every stale one, all at once; how many cases were refreshed."""
        return sum([refreshed async for refreshed in self._repair_steps()])

    async def _repair_steps(self) -> AsyncIterator[int]:
        """The repair a step at a time (a page read, a case refreshed), for the worker to interleave with the
        cards `wake` asks for: a repair posting hundreds of cards at 20 a minute per group must not hold back
        a fresh change for as long. Yields the cases refreshed in the step, outside any transaction.

        First the posts a crash cut short (any case, open or closed), then every open case a page at a time.
        Each case is refreshed under its card lock, inside which `refresh_cards` reads the cards: a post of the
        same card in flight (wake's or a drain's) has recorded its message before the repair looks, and one the
        repair makes is recorded before they look. No drain lock is held: notices keep flowing meanwhile.
        """
        refreshed = 0
        after: tuple[int, int] | None = None
        cut_short: dict[int, None] = {}
        while True:
            async with self.repo.reading() as tx:
                posts = await tx.unfinished_card_posts(after, REPAIR_PAGE)
            cut_short.update(dict.fromkeys(case_id for case_id, _ in posts))
            if len(posts) < REPAIR_PAGE:
                break
            after = posts[-1]
        for case_id in cut_short:
            done = await self._repair_case(case_id)
            refreshed += done
            yield done
        after_id = 0
        while True:
            async with self.repo.reading() as tx:
                page = await tx.open_cases_after(after_id, REPAIR_PAGE)
                shown = await tx.card_versions([case.id for case in page])
            yield 0
            for case in page:
                if case.id in cut_short:
                    continue
                have = shown.get(case.id, {})
                missing = [c for c in self.directory.card_chats(case) if c not in have]
                # NULL: a card from before the version was recorded; not known stale, left alone.
                stale = any(v is not None and v < case.version for v in have.values())
                if stale or missing:
                    done = await self._repair_case(case.id, only_missing=None if stale else missing)
                    refreshed += done
                    yield done
            if len(page) < REPAIR_PAGE:
                break
            after_id = page[-1].id
        if refreshed:
            log.info("repaired the cards of %d cases", refreshed)

    async def _repair_case(self, case_id: int, *, only_missing: Collection[int] | None = None) -> int:
        try:
            await self.refresh_cards(case_id, only_missing=only_missing)
        except _STORAGE_ERRORS:
            raise  # the database is down: the rest of the walk would fail too; the repair stays due
        except Exception:  # one case's trouble (a card that cannot be rendered) must not stop the others
            log.exception("repairing the cards of case %s failed", case_id)
            return 0
        return 1

    async def case_for_card(self, chat_id: int, message_id: int) -> int | None:
        async with self.repo.reading(inline=True) as tx:
            return await tx.case_for_card(chat_id, message_id)

    async def case_for_message(self, chat_id: int, message_id: int) -> int | None:
        """The case a bot message in the chat is about (its card, a notice, a reminder, a prompt), or None."""
        async with self.repo.reading(inline=True) as tx:
            return await tx.case_for_message(chat_id, message_id)

    async def remember_message(self, chat_id: int, message_id: int, case_id: int, kind: str) -> None:
        """A message a handler sent about a case (a prompt): a reply to it names the case."""
        async with self.repo.transaction() as tx:
            await tx.remember_messages(case_id, chat_id, [message_id], kind, self.clock.now())

    async def _remember_sent(self, case_id: int, result: SendResult, kind: str) -> None:
        async with self.repo.transaction() as tx:
            await tx.remember_messages(case_id, result.chat_id, result.message_ids, kind, self.clock.now())

    async def show_card(self, chat_id: int, case_id: int, *, history: bool = False) -> None:
        """A one-off copy of the card (for /case N): not remembered as the chat's working card."""
        now = self.clock.now()
        async with self.repo.reading(inline=True) as tx:
            view = await read_card(tx, case_id)
        if view is None:
            return
        roles, units = self.directory.roles_of_chat(chat_id)
        text, keyboard = render_card(
            view, roles, units, calendar=self.calendar, rules=self.rules, units=self.units, now=now,
            privacy=self.privacy, text_limit=self.sender.text_limit,
        )
        shown = await self.sender.send(Outgoing(key=f"show:{case_id}:{chat_id}", chat_id=chat_id, text=text,
                                                reply_markup=keyboard))  # fmt: skip
        await self._remember_sent(case_id, shown, "card")
        if history:
            lines = await self.sender.send(
                Outgoing(
                    key=f"history:{case_id}:{chat_id}",
                    chat_id=chat_id,
                    text=render_history(view, self.calendar, units=self.units, privacy=self.privacy,
                                        text_limit=self.sender.text_limit),
                )
            )
            await self._remember_sent(case_id, lines, "history")

    async def drain(self, limit: int = 200) -> int:
        """Send pending notifications; returns how many were completed. Failures stay pending for the next run.

        The rows are claimed (storage leases them to this Delivery) a batch at a time before they are sent, so
        another process draining at once takes other rows, never these. What this drain claimed and did not
        complete (a failed send, an exception) is released when it ends, so the next drain retries it at once;
        a process that dies holding rows leaves them to its lease's expiry.
        """
        async with self._drain_lock:
            done = 0
            held: dict[int, None] = {}  # claimed by this drain and not completed, in claim order
            try:
                while done + len(held) < limit:
                    batch = min(CLAIM_BATCH, limit - done - len(held))
                    items = await self.repo.write(
                        functools.partial(_claim, now=self.clock.now(), owner=self._owner, limit=batch)
                    )
                    held.update(dict.fromkeys(item.id for item in items))
                    for item in items:
                        if await self._deliver(item.id, item.notification):
                            del held[item.id]
                            done += 1
                    if len(items) < batch and not self._report_queued:
                        break
                    self._report_queued = False  # a failure report queued meanwhile goes out in this drain
            finally:
                if held:
                    await self._release(list(held))
        if self._repair_wanted:
            self._kick()  # the scheduler's drain is what retries a repair that failed
        return done

    async def _release(self, outbox_ids: list[int]) -> None:
        try:
            async with self.repo.transaction() as tx:
                for outbox_id in outbox_ids:
                    await tx.release_outbox(outbox_id, self._owner)
        except Exception:  # the drain's own outcome matters more; the claims expire with their lease anyway
            log.exception("releasing outbox claims %s failed; they expire in %s", outbox_ids, CLAIM_LEASE)

    async def _deliver(self, outbox_id: int, notification: Notification) -> bool:
        now = self.clock.now()
        case_id = notification.case_id
        # The whole card view only where it is used (a text to render, files of the case): a notice the card
        # already says, the commonest in a burst, needs the case alone.
        view: CardView | None = None
        async with self.repo.reading(inline=True) as tx:
            if case_id is not None and notification.kind in MEDIA_FROM_THE_CASE:
                view = await read_card(tx, case_id)
                case = view.case if view is not None else None
            else:
                case = await tx.get_case(case_id) if case_id is not None else None
            already = await tx.deliveries(outbox_id)
            cards = await tx.cards(case_id) if case_id is not None else {}
            posted = await tx.posted_versions(case_id) if case_id is not None else {}
        chats = self.directory.notice_chats(notification.to_role, notification.unit, case=case)
        if notification.kind == DELIVERY_FAILED:
            chats = self._failure_chats(notification)
        if notification.kind == MORNING:  # a person's own digest: his private chat with the bot
            person = notification.payload.get("user_id")
            chats = [person] if isinstance(person, int) else []
        if case is not None:
            # A notice goes under the case's card. The card may not be there yet: the handler that queued the
            # notice is still posting it (the drain woken by the commit runs alongside), or posting it failed
            # before a restart. Post it first (waiting for a post in progress), so the notice never comes
            # before its card or stands apart from it.
            missing = [c for c in chats if c not in cards and c in self.directory.card_chats(case)]
            if missing:
                await self.refresh_cards(case.id, only_missing=missing, in_order=True)
                async with self.repo.reading(inline=True) as tx:
                    cards = await tx.cards(case.id)
                    posted = await tx.posted_versions(case.id)
        if not chats:
            # Nobody to tell: an executor's term on a ПОС case no executor has yet, a role with no chat in config.
            # Kept, it would stay pending for ever, and enough of them at the head of the outbox would hold back
            # every later notification (a drain takes the oldest pending rows). It is done, with a warning.
            log.warning("no chat for %s (%s): notification %s not delivered to anyone", notification.to_role,
                        notification.unit or "-", notification.dedup_key)  # fmt: skip
        media = media_of(notification, view)
        chats = [chat_id for chat_id in chats if chat_id not in already]
        # The card was posted for this very change, just now, with sound: it is the notice. Not when the notice
        # carries files (a unit's photos with the draft): the card does not, so the notice goes.
        said = [] if media else [c for c in chats if _said_by_the_card(notification, posted.get(c))]
        chats = [chat_id for chat_id in chats if chat_id not in said]
        if said or not chats:
            # In one transaction, and with the row's completion when nothing is left to send (a burst's
            # «registered» notices are all this: one write each, not one per chat and one more).
            finished = not chats

            async def said_by_cards(tx: DeliveryTransaction) -> None:
                for chat_id in said:
                    await tx.record_delivery(outbox_id, chat_id, cards.get(chat_id), now)
                if finished:
                    await tx.mark_delivered(outbox_id, now)

            await self.repo.write(said_by_cards)
            if finished:
                return True
        if view is None and case is not None:
            async with self.repo.reading(inline=True) as tx:
                view = await read_card(tx, case.id)
        if notification.kind == DIGEST:  # the office head's daily digest: its payload is its content
            text = render_digest(notification.payload, calendar=self.calendar, rules=self.rules, units=self.units,
                                 now=now, text_limit=self.sender.text_limit)  # fmt: skip
        elif notification.kind == MORNING:
            text = render_morning(notification.payload, calendar=self.calendar, rules=self.rules, units=self.units,
                                  now=now, text_limit=self.sender.text_limit)  # fmt: skip
        elif notification.kind == WEEKLY_REPORT:
            if chats and self.weekly_report is not None:  # (no chat: nothing is read, the row is done above)
                text, media = await self.weekly_report(notification)
            else:
                text = WEEKLY_REPORT_UNAVAILABLE.format(first=notification.payload.get("from", "—"),
                                                        last=notification.payload.get("to", "—"))  # fmt: skip
        else:
            text = render_notification(
                notification, view, calendar=self.calendar, rules=self.rules, units=self.units, now=now,
                privacy=self.privacy, text_limit=self.sender.text_limit,
            )
        quiet = silent(notification.kind, notification.to_role, now, self.calendar)
        complete = True
        for chat_id in chats:
            item = Outgoing(key=notification.dedup_key, chat_id=chat_id, text=text,
                            reply_to_message_id=cards.get(chat_id), media=media,
                            disable_notification=quiet)  # fmt: skip
            try:
                result = await self.sender.send(item)
            except SendFailed as exc:
                if exc.permanent and notification.kind == MORNING:
                    # A person who never opened the bot's chat: his digest is not worth a retry for ever nor a
                    # report to the office head (his working chats get the notices); it is done, with a warning.
                    log.warning("утренняя сводка не доставлена в чат %s: %s", chat_id, exc.reason)
                    async with self.repo.transaction() as tx:
                        await tx.record_delivery(outbox_id, chat_id, 0, now)
                    continue
                complete = False
                self._send_failed(exc)
                async with self.repo.transaction() as tx:
                    await tx.mark_failed(outbox_id, str(exc))
                log.error(
                    "№ %s: не доставлено «%s» (%s) в чат %s: %s", notification.case_id or "-",
                    notification.kind, notification.dedup_key, chat_id, exc,
                )  # fmt: skip
                if exc.permanent and notification.kind != DELIVERY_FAILED:
                    await self._report_failure(chat_id, exc.reason, notification.case_id)
                continue
            self._send_worked()
            for refused in result.media_refused:
                log.error("notification %s to chat %s: a file not delivered: %s", notification.dedup_key,
                          chat_id, refused)  # fmt: skip
            log.info("№ %s: отправлено «%s»%s → %s, чат %s", notification.case_id or "-", notification.kind,
                     f" ({notification.term_id})" if notification.term_id else "", notification.to_role.value,
                     chat_id)  # fmt: skip
            # Right after the answer, before the next send: a crash between the two resends this notice to
            # this one chat (at most one duplicate), and never more than that. Every message it took (the
            # pieces of the text, the files) is recorded as being about the case in the same transaction, so a
            # reply to any of them lands on the case.
            async def delivered(tx: DeliveryTransaction, chat_id: int = chat_id, result: SendResult = result) -> None:
                await tx.record_delivery(
                    outbox_id, chat_id, result.message_ids[0] if result.message_ids else 0, now
                )
                if notification.case_id is not None:
                    await tx.remember_messages(
                        notification.case_id, result.chat_id, result.message_ids, notification.kind, now
                    )

            await self.repo.write(delivered)
        if complete:
            await self.repo.write(lambda tx: tx.mark_delivered(outbox_id, now))
        return complete

    # --- failed deliveries ---------------------------------------------------------------------------------

    async def _report_failure(self, chat_id: int, reason: str, case_id: int | None) -> None:
        """Telegram refused a chat (not found, bot kicked or blocked): tell the office head, at most once an
        hour per chat (the notices stay pending and are retried: they go out once the chat is fixed).

        The report goes through the outbox like any notice, so it survives a restart; its key holds the chat
        and the hour, so another process or a restart within the hour adds nothing.
        """
        now = self.clock.now()
        last = self._failure_reported.get(chat_id)
        if last is not None and now - last < FAILURE_REPORT_EVERY:
            return
        self._failure_reported[chat_id] = now
        roles, units = self.directory.roles_of_chat(chat_id)
        office = self.directory.role_chats.get(Role.OFFICE_HEAD)
        # The office head's own chat is the one refused: the intake chat (the office's staff) hears instead.
        to_role = Role.OPERATOR if office is None or office == chat_id else Role.OFFICE_HEAD
        hour = now.astimezone(self.calendar.tz).strftime("%Y%m%d%H")
        report = Notification(
            dedup_key=f"delivery-failed:{chat_id}:{hour}",
            case_id=None,
            kind=DELIVERY_FAILED,
            to_role=to_role,
            at=now,
            payload={
                "chat_id": chat_id,
                "roles": sorted(r.value for r in roles if r not in (Role.UNIT_OFFICIAL, Role.EXECUTOR)),
                "units": sorted(units),
                "reason": reason,
                "about_case": case_id,
            },
        )
        log.warning("chat %s refused by Telegram (%s): reported to %s", chat_id, reason, to_role.value)
        try:
            async with self.repo.transaction() as tx:
                if await tx.enqueue([report]):
                    self._report_queued = True
        except Exception:  # the failure itself is logged above; the next one within the hour is not retried
            log.exception("queueing the report of chat %s failed", chat_id)
            del self._failure_reported[chat_id]

    def _failure_chats(self, report: Notification) -> list[int]:
        """Where a failure report goes: its recipient's chats, never the refused chat itself."""
        refused = report.payload.get("chat_id")
        return [c for c in self.directory.chats_for(report.to_role) if c != refused]


def _fingerprint(item: Outgoing) -> bytes:
    """What an edit with this item puts in the message: its text, parse mode and keyboard."""
    keyboard = item.reply_markup.model_dump_json(exclude_none=True) if item.reply_markup is not None else ""
    parts = (item.text, item.parse_mode or "", keyboard)
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=16).digest()


async def _claim(tx: DeliveryTransaction, *, now: datetime, owner: str, limit: int) -> list[OutboxItem]:
    return await tx.claim_outbox(now, owner, CLAIM_LEASE, limit)


def _said_by_the_card(notification: Notification, posted_version: int | None) -> bool:
    """Whether the chat's card was posted at (or after) the change the notice is about, and the notice says
    nothing more than the card: then the card is the notice."""
    version = notification.payload.get("version")
    if posted_version is None or not isinstance(version, int) or posted_version < version:
        return False
    if notification.kind not in _SAID_BY_THE_CARD:
        return False
    return "of" not in notification.payload  # a place in the order of officials is not on the card


# Files a notice carries, at most this many (two albums): a case with more names the rest in its history.
MEDIA_LIMIT = 20
# The steps whose files the approver sees with the draft: the units' information and the draft itself.
_EVIDENCE_ACTIONS = frozenset({Action.INFO.value, Action.SUBMIT.value})


# The notices whose files `media_of` takes from the case's card view (its events, the citizen's message).
MEDIA_FROM_THE_CASE = frozenset({NoticeKind.DRAFT_SUBMITTED, NoticeKind.ROUTED, NoticeKind.SIGNIFICANT})


def media_of(notification: Notification, view: CardView | None) -> tuple[Media, ...]:
    """The files that travel with a notice, as media (not a count): the information a unit gave with its files
    (INFO_RECEIVED carries them), every file given with information or a draft for a draft to approve (the
    approver sees the evidence before approving), and the citizen's own files for a unit the case is routed to
    and for the head's report."""
    found: list[object] = []
    kind = notification.kind
    # (The kinds whose files come from the view are MEDIA_FROM_THE_CASE.)
    if kind == NoticeKind.DRAFT_SUBMITTED and view is not None:
        for event in view.events:
            if event.action in _EVIDENCE_ACTIONS:
                given = event.data.get("attachments")
                found += given if isinstance(given, list) else []
    elif (
        kind in (NoticeKind.ROUTED, NoticeKind.SIGNIFICANT) and view is not None and view.message is not None
    ):
        found += [{"kind": a.kind, "ref": a.ref, "name": a.name} for a in view.message.attachments]
    given = notification.payload.get("attachments")
    found += given if isinstance(given, list) else []
    media: dict[str, Media] = {}  # by file id: the same file given twice is sent once
    for raw in found:
        if not isinstance(raw, dict):
            continue
        kind_, ref, name = raw.get("kind"), raw.get("ref"), raw.get("name", "")
        if isinstance(ref, str) and ref.startswith(KEPT_PREFIX):
            continue  # a network item's file Otklik keeps: sent with the intake card, not by a Telegram id
        if kind_ in MEDIA_KINDS and isinstance(ref, str) and ref and ref not in media:
            media[ref] = Media(str(kind_), ref, name if isinstance(name, str) else "")
    return tuple(media.values())[:MEDIA_LIMIT]
