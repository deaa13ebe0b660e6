"""Delivery: case cards kept up to date in every chat that works on a case, and the outbox sent to people.

Cards are edited in place (one card message per chat per case, remembered in storage). Notifications are read
from the outbox, resolved to chats through the Directory, and recorded per recipient chat as they go out, so a
crash in the middle of a notification resends it only to the chats that have not got it. Telegram gives no
idempotency key, so the one window left is between Telegram's answer and our record of it: at most one
duplicate to one chat, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from bot.directory import Directory
from bot.sender import Outgoing, SendFailed, TelegramSender
from views.cards import render_card, render_history, render_notification
from workflow.ports import Clock, Notification, OutboxItem, Reading
from workflow.rules import Rules
from workflow.services.queries import CardView, read_card

if TYPE_CHECKING:
    from datetime import datetime

    from workflow.calendar import WorkingCalendar

log = logging.getLogger(__name__)

# A drain's lease on the outbox rows it claims, from the claim: long enough for a batch of sends through flood
# waits and retries. A lease that ran out before its row was sent lets another process send it too.
CLAIM_LEASE = timedelta(minutes=5)
# Rows claimed at a time: a small batch keeps the last row of it well within the lease.
CLAIM_BATCH = 20


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

    async def set_card(self, case_id: int, chat_id: int, message_id: int) -> None:
        """Remember the case's card message in a chat (one per chat: a new one replaces the old)."""
        ...

    async def cards(self, case_id: int) -> dict[int, int]:
        """The case's card messages: chat id -> message id."""
        ...

    async def case_for_card(self, chat_id: int, message_id: int) -> int | None:
        """The case whose card is this message (a reply to a card names its case)."""
        ...


class DeliveryRepository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[DeliveryTransaction]: ...

    def reading(self) -> AbstractAsyncContextManager[DeliveryTransaction]: ...


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
    ) -> None:
        self.repo = repo
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
        self._changed: dict[int, None] = {}  # cases whose cards wait for a refresh, in order
        self._worker: asyncio.Task[None] | None = None

    # --- the one wake-up path after a commit ---------------------------------------------------------------

    async def wake(self, case_ids: Sequence[int], notifications: Sequence[Notification] = ()) -> None:
        """After a commit: refresh these cases' cards, then send the outbox, in the background (no waiting)."""
        self._changed.update(dict.fromkeys(case_ids))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while True:
            while self._changed:
                case_id = next(iter(self._changed))
                del self._changed[case_id]
                try:
                    await self.refresh_cards(case_id)
                except Exception:  # the change is committed; the next refresh or drain repairs the card
                    log.exception("refreshing the cards of case %s failed", case_id)
            try:
                await self.drain()
            except Exception:  # the rows stay pending; the scheduler's drain retries them
                log.exception("draining the outbox failed")
            if not self._changed:
                return

    def busy(self) -> list[asyncio.Task[None]]:
        """The background work `wake` started and that is still running."""
        return [self._worker] if self._worker is not None and not self._worker.done() else []

    async def settle(self) -> None:
        """Wait until everything woken so far is refreshed and sent (tests, a stop)."""
        while running := self.busy():
            await asyncio.wait(running)

    def _card_lock(self, case_id: int) -> asyncio.Lock:
        return self._card_locks.setdefault(case_id, asyncio.Lock())

    async def refresh_cards(self, case_id: int, *, only_missing: Collection[int] | None = None) -> None:
        """Post the case's card where it is missing and edit it where it stands.

        `only_missing`: just post the card in those of these chats that should have it and do not.
        """
        async with self._card_lock(case_id):
            now = self.clock.now()
            async with self.repo.reading() as tx:
                view = await read_card(tx, case_id)
                existing = await tx.cards(case_id)
            if view is None:
                return
            chats = list(dict.fromkeys([*self.directory.card_chats(view.case), *existing]))
            if only_missing is not None:
                chats = [c for c in chats if c in only_missing and c not in existing]
            # The chats are independent: a card held back by one chat's flood limit must not hold back the
            # others (one item per chat, so each chat's order stays that of the refreshes, which the lock orders).
            results = await asyncio.gather(
                *(self._put_card(view, chat_id, existing.get(chat_id), now) for chat_id in chats),
                return_exceptions=True,
            )
            for failure in results:
                if isinstance(failure, BaseException):
                    raise failure

    async def _put_card(self, view: CardView, chat_id: int, message_id: int | None, now: datetime) -> None:
        case_id = view.case.id
        roles, units = self.directory.roles_of_chat(chat_id)
        text, keyboard = render_card(
            view, roles, units, calendar=self.calendar, rules=self.rules, units=self.units, now=now
        )
        item = Outgoing(
            key=f"card:{case_id}:{chat_id}",
            chat_id=chat_id,
            text=text,
            reply_markup=keyboard,
            edit_message_id=message_id,
        )
        try:
            result = await self.sender.send(item)
        except SendFailed as exc:
            if not (exc.permanent and item.edit_message_id is not None):
                log.error("card %s in chat %s not delivered: %s", case_id, chat_id, exc)
                return
            # The card was deleted in the chat: post it afresh rather than lose the chat.
            item = replace(item, edit_message_id=None)
            try:
                result = await self.sender.send(item)
            except SendFailed as again:
                log.error("card %s in chat %s not delivered: %s", case_id, chat_id, again)
                return
        if item.edit_message_id is None and result.message_ids:
            async with self.repo.transaction() as tx:
                await tx.set_card(case_id, result.chat_id, result.message_ids[0])

    async def case_for_card(self, chat_id: int, message_id: int) -> int | None:
        async with self.repo.reading() as tx:
            return await tx.case_for_card(chat_id, message_id)

    async def show_card(self, chat_id: int, case_id: int, *, history: bool = False) -> None:
        """A one-off copy of the card (for /case N): not remembered as the chat's working card."""
        now = self.clock.now()
        async with self.repo.reading() as tx:
            view = await read_card(tx, case_id)
        if view is None:
            return
        roles, units = self.directory.roles_of_chat(chat_id)
        text, keyboard = render_card(
            view, roles, units, calendar=self.calendar, rules=self.rules, units=self.units, now=now
        )
        await self.sender.send(Outgoing(key=f"show:{case_id}:{chat_id}", chat_id=chat_id, text=text,
                                        reply_markup=keyboard))  # fmt: skip
        if history:
            await self.sender.send(
                Outgoing(
                    key=f"history:{case_id}:{chat_id}",
                    chat_id=chat_id,
                    text=render_history(view, self.calendar),
                )
            )

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
                    async with self.repo.transaction() as tx:
                        items = await tx.claim_outbox(self.clock.now(), self._owner, CLAIM_LEASE, batch)
                    held.update(dict.fromkeys(item.id for item in items))
                    for item in items:
                        if await self._deliver(item.id, item.notification):
                            del held[item.id]
                            done += 1
                    if len(items) < batch:
                        break
            finally:
                if held:
                    await self._release(list(held))
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
        async with self.repo.reading() as tx:
            view = await read_card(tx, notification.case_id) if notification.case_id is not None else None
            already = await tx.deliveries(outbox_id)
            cards = await tx.cards(notification.case_id) if notification.case_id is not None else {}
        case = view.case if view is not None else None
        chats = self.directory.chats_for(notification.to_role, notification.unit, case=case)
        if case is not None:
            # A notice goes under the case's card. The card may not be there yet: the handler that queued the
            # notice is still posting it (the drain woken by the commit runs alongside), or posting it failed
            # before a restart. Post it first (waiting for a post in progress), so the notice never comes
            # before its card or stands apart from it.
            missing = [c for c in chats if c not in cards and c in self.directory.card_chats(case)]
            if missing:
                await self.refresh_cards(case.id, only_missing=missing)
                async with self.repo.reading() as tx:
                    cards = await tx.cards(case.id)
        if not chats:
            # Nobody to tell: an executor's term on a ПОС case no executor has yet, a role with no chat in config.
            # Kept, it would stay pending for ever, and enough of them at the head of the outbox would hold back
            # every later notification (a drain takes the oldest pending rows). It is done, with a warning.
            log.warning("no chat for %s (%s): notification %s not delivered to anyone", notification.to_role,
                        notification.unit or "-", notification.dedup_key)  # fmt: skip
        text = render_notification(
            notification, view, calendar=self.calendar, rules=self.rules, units=self.units, now=now
        )
        complete = True
        for chat_id in chats:
            if chat_id in already:
                continue
            item = Outgoing(key=notification.dedup_key, chat_id=chat_id, text=text,
                            reply_to_message_id=cards.get(chat_id))  # fmt: skip
            try:
                result = await self.sender.send(item)
            except SendFailed as exc:
                complete = False
                async with self.repo.transaction() as tx:
                    await tx.mark_failed(outbox_id, str(exc))
                log.error(
                    "notification %s to chat %s not delivered: %s", notification.dedup_key, chat_id, exc
                )
                continue
            async with self.repo.transaction() as tx:
                await tx.record_delivery(
                    outbox_id, chat_id, result.message_ids[0] if result.message_ids else 0, now
                )
        if complete:
            async with self.repo.transaction() as tx:
                await tx.mark_delivered(outbox_id, now)
        return complete
