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
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.directory import Directory
from bot.sender import Outgoing, SendFailed, TelegramSender
from views.cards import CardView, load_view, render_card, render_notification
from workflow.ports import Clock, Notification
from workflow.rules import Rules

if TYPE_CHECKING:
    from datetime import datetime

    from storage.repository import SqlRepository
    from workflow.calendar import WorkingCalendar

log = logging.getLogger(__name__)

# A drain's lease on the outbox rows it claims, from the claim: long enough for a batch of sends through flood
# waits and retries. A lease that ran out before its row was sent lets another process send it too.
CLAIM_LEASE = timedelta(minutes=5)
# Rows claimed at a time: a small batch keeps the last row of it well within the lease.
CLAIM_BATCH = 20


class Delivery:
    def __init__(
        self,
        *,
        repo: SqlRepository,
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

    def _card_lock(self, case_id: int) -> asyncio.Lock:
        return self._card_locks.setdefault(case_id, asyncio.Lock())

    async def refresh_cards(self, case_id: int, *, only_missing: Collection[int] | None = None) -> None:
        """Post the case's card where it is missing and edit it where it stands.

        `only_missing`: just post the card in those of these chats that should have it and do not.
        """
        async with self._card_lock(case_id):
            now = self.clock.now()
            async with self.repo.transaction() as tx:
                view = await load_view(tx, case_id)
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

    async def show_card(self, chat_id: int, case_id: int, *, history: bool = False) -> None:
        """A one-off copy of the card (for /case N): not remembered as the chat's working card."""
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            view = await load_view(tx, case_id)
        if view is None:
            return
        roles, units = self.directory.roles_of_chat(chat_id)
        text, keyboard = render_card(
            view, roles, units, calendar=self.calendar, rules=self.rules, units=self.units, now=now
        )
        await self.sender.send(Outgoing(key=f"show:{case_id}:{chat_id}", chat_id=chat_id, text=text,
                                        reply_markup=keyboard))  # fmt: skip
        if history:
            from views.cards import render_history

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
        async with self.repo.transaction() as tx:
            view = await load_view(tx, notification.case_id) if notification.case_id is not None else None
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
                async with self.repo.transaction() as tx:
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
