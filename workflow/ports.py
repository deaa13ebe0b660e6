"""Ports: what the use cases need from the outside world, as Protocols.

`storage/` implements `Repository` (SQLite or PostgreSQL), `bot/` implements `Clock` and the delivery side of
the outbox. Tests use fakes. Every write of one use case happens inside one `Repository.transaction()`, so a
state change, its event, its terms and its notifications are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from workflow.model import Case, Event, InboundMessage, Role, Term, TermStart, TermStop


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


class StaleVersion(Exception):
    """The case changed since the caller read it (an outdated card, a concurrent press)."""


class Transaction(Protocol):
    """One database transaction. Leaving the context without an exception commits; an exception rolls back."""

    async def find_case_by_source(self, source: str, source_id: str) -> int | None: ...

    async def add_case(self, case: Case, message: InboundMessage) -> Case:
        """Insert a case (its `id` is ignored and assigned) with its source message; returns it with the id."""
        ...

    async def get_case(self, case_id: int) -> Case | None: ...

    async def get_message(self, case_id: int) -> InboundMessage | None: ...

    async def save_case(self, case: Case, expected_version: int) -> None:
        """Write `case` if the stored version is `expected_version`; raise StaleVersion otherwise."""
        ...

    async def append_event(self, case_id: int, event: Event) -> None: ...

    async def events(self, case_id: int) -> list[Event]: ...

    async def add_draft(self, case_id: int, version: int, text: str, author_id: int, at: datetime) -> None: ...

    async def latest_draft(self, case_id: int) -> str | None: ...

    async def open_term(self, case_id: int, start: TermStart, next_attention: datetime) -> int:
        """Open a term; `next_attention` is its first reminder point (or its due instant)."""
        ...

    async def close_terms(self, case_id: int, stops: Sequence[TermStop], at: datetime, by: int) -> list[Term]:
        """Close the matching open terms (unit None matches every unit) and return them, closed."""
        ...

    async def terms(self, case_id: int, *, open_only: bool = True) -> list[Term]: ...

    async def terms_needing_attention(self, now: datetime, limit: int = 10_000) -> list[Term]:
        """Open terms whose next reminder point or due instant is at or before `now`.

        Storage keeps each open term's next attention instant indexed, so the cost follows what is due,
        not what is open.
        """
        ...

    async def earliest_attention(self) -> datetime | None:
        """The nearest next-attention instant of any open term (the simulator jumps its clock there)."""
        ...

    async def record_sent(self, term_row_id: int, key: str, next_attention: datetime | None) -> bool:
        """Mark reminder/alert `key` as sent for the term; False if it already was (a concurrent sweep)."""
        ...

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        """Store notifications in the outbox; already-known dedup keys are skipped. Returns how many were new."""
        ...

    async def pending_outbox(self, limit: int = 100) -> list[OutboxItem]: ...

    async def mark_delivered(self, outbox_id: int, at: datetime) -> None: ...

    async def mark_failed(self, outbox_id: int, error: str) -> None: ...

    async def kv_get(self, key: str) -> str | None: ...

    async def kv_set(self, key: str, value: str) -> None: ...

    async def cases(self, *, open_only: bool = True, limit: int = 200) -> list[Case]: ...


class Repository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...


class Notifier(Protocol):
    """Wakes the delivery side after a commit that enqueued notifications (delivery itself reads the outbox)."""

    async def notify(self, notifications: Sequence[Notification]) -> None: ...
