"""Ports: what the use cases need from the outside world, as Protocols.

`storage/` implements `Repository` (SQLite or PostgreSQL), `bot/` implements `Clock` and the delivery side of
the outbox. Tests use fakes. Every write of one use case happens inside one `Repository.transaction()`, so a
state change, its event, its terms and its notifications are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from workflow.model import Actor, Case, Event, InboundMessage, Role, Term, TermStart, TermStop


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


@dataclass(frozen=True, slots=True)
class Notification:
    """Something to tell someone, stored in the outbox before it is delivered.

    `dedup_key` is unique across the outbox: recording the same reminder or alert twice (a second sweep, a
    restart) is a no-op, so nothing is sent twice. `to_role` + `unit` name the recipients; the delivery side
    resolves them to chats.
    """

    dedup_key: str
    case_id: int | None
    kind: str  # "reminder" | "missed" | "significant" | "card" | "info" ...
    to_role: Role
    at: datetime
    term_id: str | None = None
    unit: str | None = None
    payload: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    notification: Notification
    attempts: int = 0
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One term's part of `Transaction.record_sent_many`: the keys to add to the sent keys `seen` when read."""

    term_row_id: int
    seen: frozenset[str]
    keys: tuple[str, ...]
    next_attention: datetime | None


class StaleVersion(Exception):
    """The case changed since the caller read it (an outdated card, a concurrent press)."""


class Transaction(Protocol):
    """One database transaction. Leaving the context without an exception commits; an exception rolls back."""

    async def find_case_by_source(self, source: str, source_id: str) -> int | None: ...

    async def add_case(self, case: Case, message: InboundMessage) -> Case:
        """Insert a case (its `id` is ignored) with its source message; returns it with the assigned id."""
        ...

    async def get_case(self, case_id: int) -> Case | None: ...

    async def get_message(self, case_id: int) -> InboundMessage | None: ...

    async def save_case(self, case: Case, expected_version: int) -> None:
        """Write `case` if the stored version is `expected_version`; raise StaleVersion otherwise.

        `case.version` must be greater than `expected_version` (ValueError otherwise): writing the same
        version back would let a second writer holding the same expectation win too.
        """
        ...

    async def append_event(self, case_id: int, event: Event) -> None: ...

    async def append_events(self, case_id: int, events: Sequence[Event]) -> None:
        """Append several events in their order, with one statement."""
        ...

    async def events(self, case_id: int) -> list[Event]: ...

    async def add_draft(
        self, case_id: int, version: int, text: str, author_id: int, at: datetime
    ) -> None: ...

    async def latest_draft(self, case_id: int) -> str | None: ...

    async def open_term(self, case_id: int, start: TermStart, next_attention: datetime) -> int:
        """Open a term; `next_attention` is its first reminder point (or its due instant)."""
        ...

    async def open_terms(self, case_id: int, starts: Sequence[tuple[TermStart, datetime]]) -> list[int]:
        """Open several terms, each with its first attention instant, with one statement; their ids in order."""
        ...

    async def close_terms(self, case_id: int, stops: Sequence[TermStop], at: datetime, by: int) -> list[Term]:
        """Close the matching open terms (unit None matches every unit) and return them, closed.

        `met` is `at <= due`; a `cancelled` stop leaves `met` None. Terms come back in the order they were
        opened.
        """
        ...

    async def terms(self, case_id: int, *, open_only: bool = True) -> list[Term]: ...

    async def terms_needing_attention(self, now: datetime, limit: int = 10_000) -> list[Term]:
        """Open terms whose next reminder point or due instant is at or before `now`.

        Storage keeps each open term's next attention instant indexed, so the cost follows what is due,
        not what is open. Where the database has row locks (PostgreSQL), the terms come back locked for
        this transaction and terms another transaction holds are skipped: an overlapping sweep handles
        those, and no two sweeps wait on each other.
        """
        ...

    async def earliest_attention(self) -> datetime | None:
        """The nearest next-attention instant of any open term (the simulator jumps its clock there)."""
        ...

    async def record_sent(self, term_row_id: int, key: str, next_attention: datetime | None) -> bool:
        """Mark reminder/alert `key` as sent for the term and move its attention point; one atomic write.

        False if the key already was recorded (a concurrent sweep won) or the term is closed meanwhile. An
        empty `key` only moves the attention point. Keys must not contain a comma.
        """
        ...

    async def record_sent_many(self, items: Sequence[SentRecord]) -> set[int]:
        """Add each term's `keys` to its sent keys and move its attention point, with one conditional write.

        A term's write wins only if the term is still open and its stored sent keys are still `record.seen`
        (no other sweep recorded anything for it since it was read); the ids of the winners come back, and
        a loser is left as the winner wrote it. A record with no keys only moves the attention point. Keys
        must not contain a comma; a term appears at most once.
        """
        ...

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        """Store notifications in the outbox, skipping already-known dedup keys; returns how many were new."""
        ...

    async def pending_outbox(self, limit: int = 100) -> list[OutboxItem]:
        """Undelivered rows by id, claimed or not (for inspection; a drain takes its rows with `claim_outbox`)."""
        ...

    async def claim_outbox(self, now: datetime, owner: str, lease: timedelta, limit: int) -> list[OutboxItem]:
        """Take up to `limit` undelivered rows, oldest first, whose claim is free or expired at `now`.

        One atomic write: each row taken is claimed by `owner` until `now + lease`, and no other transaction
        takes it before that (concurrent claims get disjoint rows; where the database has row locks, rows
        another claim holds are skipped, not waited for). The rows come back by id.
        """
        ...

    async def release_outbox(self, outbox_id: int, owner: str) -> None:
        """Give up `owner`'s claim on the row (a failed delivery: the next drain retries it at once).

        A claim that expired and was taken by another owner meanwhile is left alone.
        """
        ...

    async def mark_delivered(self, outbox_id: int, at: datetime) -> None:
        """The row is done (its claim goes with it); it never comes back. The first delivery instant stays."""
        ...

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        """Count a failed attempt; the claim stays (`release_outbox` gives it up once the fan-out is over)."""
        ...

    async def kv_get(self, key: str) -> str | None: ...

    async def kv_set(self, key: str, value: str) -> None: ...

    async def cases(self, *, open_only: bool = True, limit: int = 200) -> list[Case]:
        """Cases by id; `open_only`: those with at least one open term (someone still owes a step)."""
        ...

    # --- delivery side (Telegram) ----------------------------------------------------------------------

    async def record_delivery(
        self, outbox_id: int, chat_id: int, message_id: int | None, at: datetime
    ) -> bool:
        """Record that the notification reached `chat_id`; False if that chat was already recorded.

        The sender records each chat right after sending and skips chats in `deliveries`, so a crash during
        a fan-out repeats at most the one message in flight.
        """
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

    async def upsert_staff(self, actor: Actor) -> None:
        """Insert or replace a staff member by Telegram user id."""
        ...

    async def get_staff(self, user_id: int) -> Actor | None: ...

    async def staff(self, *, role: Role | None = None, unit: str | None = None) -> list[Actor]:
        """Staff by user id; `role`: who holds it; `unit`: who has that unit among their units."""
        ...

    async def remove_staff(self, user_id: int) -> bool: ...


class Repository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...


class Notifier(Protocol):
    """Wakes the delivery side after a commit that enqueued notifications (delivery reads the outbox)."""

    async def notify(self, notifications: Sequence[Notification]) -> None: ...
